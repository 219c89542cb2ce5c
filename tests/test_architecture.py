"""The package's layout holds: layers import downwards, no circles, small modules.

The layers themselves are an import-linter contract in setup.cfg (``make
test`` runs ``lint-imports``); docs/architecture.md draws them. These tests
check what the contract does not say.
"""

import functools
import subprocess
import sys
from pathlib import Path

import pytest

import sklearn_corenet

grimp = pytest.importorskip("grimp")

PACKAGE = Path(sklearn_corenet.__file__).parent
MAX_MODULE_LINES = 450
MAX_LEVELS = 8


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("sklearn_corenet")


def _folder(module):
    """The subpackage (or top-level module) a module belongs to."""
    return ".".join(module.split(".")[:2])


def test_subpackages_form_a_shallow_acyclic_graph(graph):
    edges = {}
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if _folder(module) != _folder(imported) and module != "sklearn_corenet":
                edges.setdefault(_folder(module), set()).add(_folder(imported))

    @functools.cache
    def levels(folder, path=()):
        assert folder not in path, f"import circle: {' > '.join((*path, folder))}"
        return 1 + max((levels(other, (*path, folder)) for other in edges.get(folder, ())), default=0)

    deepest = max(levels(folder) for folder in edges)
    assert deepest <= MAX_LEVELS
    # the bottom layer imports nothing from the package
    assert "sklearn_corenet.core" not in edges


def test_no_module_is_too_long():
    lengths = {
        str(path.relative_to(PACKAGE)): len(path.read_text().splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    too_long = {name: n for name, n in lengths.items() if n > MAX_MODULE_LINES}
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines: {too_long}"


def test_import_contracts_hold():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    if not lint_imports.exists():
        pytest.skip("import-linter is not installed")
    result = subprocess.run(
        [str(lint_imports), "--config", str(PACKAGE.parent / "setup.cfg")],
        capture_output=True,
        text=True,
        cwd=PACKAGE.parent,
    )
    assert result.returncode == 0, result.stdout[-3000:]


def test_public_names_are_the_contract():
    """The layout moved modules, never a public name."""
    assert set(sklearn_corenet.__all__) == {
        "METHODS", "Certificate", "ClassScores", "CompressionInfo", "CompressionSummary",
        "CoreNetClassifier", "CoreNetCompressor", "CoreNetRegressor", "Method", "SamplingMethod",
        "SelectionMethod", "SparseMLPClassifier", "SparseMLPRegressor", "accuracy_drop", "certify",
        "compression_curve", "dump", "kept_fraction_scorer", "load", "make_kept_fraction_scorer",
        "network_output", "plot_compression_curve", "register_method", "register_onnx_converters",
        "relative_error", "sparsest_within", "summarize_curve", "to_onnx", "trusted_types",
        "__version__",
    }
    for name in sklearn_corenet.__all__:
        assert getattr(sklearn_corenet, name) is not None
