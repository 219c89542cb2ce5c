"""Collection rules for ``pytest tests sklearn_corenet`` (with --doctest-modules).

The torch modules import torch at the top; without the ``torch`` extra their
doctest collection would fail, so they are not collected. Their tests skip
themselves (``pytest.importorskip``).
"""

import importlib.util


def _importable(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # ValueError: sys.modules[name] is None
        return False


# module -> the optional packages it imports at the top
_OPTIONAL_MODULES = {
    "sklearn_corenet/adapters/_torch.py": ("torch",),
    "sklearn_corenet/adapters/_torch_chain.py": ("torch",),
    "sklearn_corenet/core/_torch_common.py": ("torch",),
    "sklearn_corenet/algorithm/_torch_compute.py": ("torch",),
    "sklearn_corenet/export/_torch.py": ("torch",),
    "sklearn_corenet/adapters/_torch_graph.py": ("torch",),
    "sklearn_corenet/adapters/_torch_nodes.py": ("torch",),
}

collect_ignore = [
    path
    for path, packages in _OPTIONAL_MODULES.items()
    if not all(_importable(package) for package in packages)
]
