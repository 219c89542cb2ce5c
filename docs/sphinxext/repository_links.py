"""Links from the user guide to files of the repository outside ``docs/``.

The markdown pages link to ``../benchmarks/results/*.md`` and
``../examples/*.py`` so that they read well on a repository browser. In the
site those files are not documents, so the links are pointed elsewhere when
a page is read:

* ``../examples/NAME.py`` -> the gallery page of that example;
* ``../benchmarks/results/PATH`` -> a copy of the results folder made in
  ``docs/benchmark_results/`` (git-ignored) at the start of the build. The
  copied markdown reports become pages of the site (not in the navigation;
  reached from the links), titled with their path when they have no title of
  their own.
"""

import re
import shutil
from pathlib import Path

RESULTS_DOCNAME = "benchmark_results"

_EXAMPLE_LINK = re.compile(r"\]\(\.\./examples/([\w-]+)\.py(#[^)]*)?\)")
_RESULTS_LINK = re.compile(r"\]\(\.\./benchmarks/results/")
_HEADING = re.compile(r"^(#{1,6})(\s)", flags=re.MULTILINE)
_FENCE = re.compile(r"^(```|~~~).*?^\1", flags=re.MULTILINE | re.DOTALL)


def _copy_results(app):
    source = Path(app.confdir).parent / "benchmarks" / "results"
    target = Path(app.srcdir) / RESULTS_DOCNAME
    if target.exists():
        shutil.rmtree(target)
    if source.is_dir():
        shutil.copytree(source, target, ignore=shutil.ignore_patterns("tmp", "cache"))


def _heading_levels(text):
    unfenced = _FENCE.sub("", text)
    return [len(match.group(1)) for match in _HEADING.finditer(unfenced)]


def _as_page(docname, text):
    """A copied report as a page: not in any toctree, with one top title."""
    levels = _heading_levels(text)
    if 1 not in levels:
        if levels:
            # a report made to be pasted under a heading starts at ### : its
            # headings move up so that the first sits under the new title
            shift = min(levels) - 2
            text = _HEADING.sub(lambda m: "#" * (len(m.group(1)) - shift) + m.group(2), text)
        name = docname.removeprefix(RESULTS_DOCNAME + "/")
        text = f"# Benchmark results: `{name}.md`\n\n{text}"
    return f"---\norphan: true\n---\n\n{text}"


def _rewrite_links(app, docname, source):
    text = source[0]
    if docname.startswith(RESULTS_DOCNAME + "/"):
        source[0] = _as_page(docname, text)
        return
    # the user guide pages sit at the top of docs/, where ../ is the repository
    if "/" in docname or app.env.doc2path(docname).suffix != ".md":
        return
    text = _EXAMPLE_LINK.sub(lambda m: f"](auto_examples/{m.group(1)}.rst{m.group(2) or ''})", text)
    source[0] = _RESULTS_LINK.sub(f"]({RESULTS_DOCNAME}/", text)


def setup(app):
    app.connect("builder-inited", _copy_results)
    app.connect("source-read", _rewrite_links)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
