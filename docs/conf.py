"""Sphinx configuration of the sklearn-corenet documentation.

Build with ``make docs`` from the project root (warnings are errors). The API
reference is generated from the docstrings of ``sklearn_corenet.__all__``;
the user guide pages are MyST markdown; the gallery runs ``examples/*.py``.
"""

import re
import sys
from pathlib import Path

from threadpoolctl import threadpool_limits

import sklearn_corenet

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "sphinxext"))

project = "sklearn-corenet"
author = "the sklearn-corenet developers"
copyright = "the sklearn-corenet developers"
release = sklearn_corenet.__version__
version = re.match(r"\d+\.\d+", release).group()

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
    "repository_links",
    "sklearn_docstrings",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_templates", "sphinxext", "auto_examples/*.ipynb"]
templates_path = ["_templates"]

# -- API reference ----------------------------------------------------------

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": True}
autodoc_typehints = "none"
# numpydoc lists the methods in a table at the top of each class page; the
# methods themselves are documented below it by autodoc
numpydoc_show_class_members = True
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# -- user guide (markdown) --------------------------------------------------

myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

# -- example gallery --------------------------------------------------------

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # every example runs during the build: no plot_ prefix needed
    "filename_pattern": r"\.py$",
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("sklearn_corenet",),
    "reference_url": {"sklearn_corenet": None},
    "backreferences_dir": "generated/backreferences",
    "min_reported_time": 1,
    "show_memory": False,
    # the run times are on each example's page
    "write_computation_times": False,
}

# The examples run in this process. Their networks are small: with a second
# BLAS thread, waiting for a core that other work holds costs more than the
# products (as in the test suite, tests/conftest.py).
threadpool_limits(limits=1, user_api="blas")

# -- HTML -------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-corenet {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 8,
}
html_show_sourcelink = False


# -- checks and generated snippets ------------------------------------------


def _check_api_reference(app):
    """Fail the build when a public name is missing from the API page."""
    listed = set()
    for line in (DOCS / "api.rst").read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"\s{3}(\w+)|\.\. data:: (\w+)", line)
        if match:
            listed.add(match.group(1) or match.group(2))
    missing = sorted(set(sklearn_corenet.__all__) - listed)
    if missing:
        raise RuntimeError(
            f"docs/api.rst does not list these names of sklearn_corenet.__all__: {missing}"
        )


def _write_methods_table(app):
    """The registered methods, as a table included by the API page."""
    rows = []
    for name, method in sklearn_corenet.METHODS.items():
        summary = (type(method).__doc__ or "").strip().splitlines()[0].replace("|", r"\|")
        paper = "yes" if method.in_paper else "no"
        rows.append(f"   * - ``{name}``\n     - ``{type(method).__name__}``\n     - {paper}\n     - {summary}")
    table = "\n".join(
        [
            ".. list-table::",
            "   :header-rows: 1",
            "",
            "   * - name\n     - class\n     - in the paper\n     - what it does",
            *rows,
            "",
        ]
    )
    path = DOCS / "generated" / "methods_table.rst"
    path.parent.mkdir(exist_ok=True)
    # rewritten only when it changes, so an unchanged table rebuilds nothing
    if not path.exists() or path.read_text(encoding="utf-8") != table:
        path.write_text(table, encoding="utf-8")




def setup(app):
    app.connect("builder-inited", _check_api_reference)
    app.connect("builder-inited", _write_methods_table)
