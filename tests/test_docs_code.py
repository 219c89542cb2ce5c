"""Every ```python block of the README and of the user guide pages runs.

A page's blocks run in order in one fresh namespace, as a reader would paste
them into one session: a block may use what the page's earlier blocks
defined, nothing else. The pages run in a separate process (this file run as
a script; one process for all pages, so that scikit-learn, torch and the
rest are imported once), each page in a temporary working directory of its
own so that what a block writes (``model.skops``, a cache folder) lands
there, with one BLAS thread and warnings shown, not raised. Blocks that need
an optional extra (torch, skorch, dask, onnx, skops) run too: ``make test``
installs them all.

Signatures, printed output and shell commands are fenced as ``text`` or
``bash`` and are not run.
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# a fence opens with ``` or ~~~ (indented inside a list item) and closes with
# the same run of characters at the same indentation
_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)\n"
    r"(?P<body>.*?)"
    r"^(?P=indent)(?P=fence)[ \t]*$",
    flags=re.MULTILINE | re.DOTALL,
)
TIMEOUT = 600  # seconds for all pages: a hung block fails instead of blocking the suite


def python_blocks(text):
    """The ```python blocks of a markdown text: (first line number, code)."""
    blocks = []
    for match in _FENCE.finditer(text):
        if match.group("info").strip().split(" ")[0] not in ("python", "py"):
            continue
        indent = match.group("indent")
        lines = match.group("body").splitlines()
        code = "\n".join(line.removeprefix(indent) for line in lines)
        first_line = text.count("\n", 0, match.start("body")) + 1
        blocks.append((first_line, code))
    return blocks


def run_page(path):
    """Run a page's blocks in order in one namespace, up to the first that fails.

    Returns ``{"seconds": ...}``, with ``block``, ``line`` and ``error`` (the
    traceback) when a block failed.
    """
    import traceback

    namespace = {"__name__": "__main__"}
    began = time.perf_counter()
    for number, (line, code) in enumerate(python_blocks(Path(path).read_text("utf-8")), 1):
        try:
            exec(compile(code, f"{path} (block {number})", "exec"), namespace)
        except BaseException:
            error = traceback.format_exc()
            return {"block": number, "line": line, "error": error, "seconds": time.perf_counter() - began}
    return {"seconds": time.perf_counter() - began}


def run_pages(output, paths):
    """Run every page in a directory of its own; the results go to ``output`` (JSON)."""
    import warnings

    from threadpoolctl import threadpool_limits

    warnings.simplefilter("default")
    results = {}
    home = Path.cwd()
    with threadpool_limits(limits=1, user_api="blas"):
        for index, path in enumerate(paths):
            directory = home / f"page{index}"
            directory.mkdir()
            os.chdir(directory)
            try:
                results[path] = run_page(path)
            finally:
                os.chdir(home)
                if "matplotlib.pyplot" in sys.modules:
                    sys.modules["matplotlib.pyplot"].close("all")
            # written after every page: a crash keeps the pages before it
            Path(output).write_text(json.dumps(results), encoding="utf-8")
            print(f"{path}: {results[path]['seconds']:.1f} s", flush=True)


@pytest.fixture(scope="module")
def page_results(tmp_path_factory):
    """Run all pages with code once; the results by page, and the run's output."""
    directory = tmp_path_factory.mktemp("docs_code")
    output = directory / "results.json"
    pages = [str(page) for page in PAGES if python_blocks(page.read_text("utf-8"))]
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
    }
    env.pop("PYTHONWARNINGS", None)
    try:
        run = subprocess.run(
            [sys.executable, __file__, str(output), *pages],
            cwd=directory,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        log = run.stdout + run.stderr
    except subprocess.TimeoutExpired as expired:
        log = f"timed out after {TIMEOUT} s\n{expired.stdout or ''}{expired.stderr or ''}"
    results = json.loads(output.read_text("utf-8")) if output.exists() else {}
    return results, log


def test_blocks_are_found():
    text = "a\n\n```python\nx = 1\n```\n\n```text\nf(a, *, b)\n```\n\n1. item\n\n   ```python\n   y = x\n   ```\n"
    assert python_blocks(text) == [(4, "x = 1"), (14, "y = x")]


@pytest.mark.parametrize(
    "page",
    [page for page in PAGES if python_blocks(page.read_text("utf-8"))],
    ids=lambda path: path.relative_to(ROOT).as_posix(),
)
def test_page_code_runs(page, page_results):
    results, log = page_results
    name = page.relative_to(ROOT).as_posix()
    result = results.get(str(page))
    if result is None:
        pytest.fail(f"{name}: the run stopped before this page\n{log[-4000:]}", pytrace=False)
    if "error" in result:
        pytest.fail(
            f"{name}, block {result['block']} (line {result['line']}):\n{result['error'][-4000:]}",
            pytrace=False,
        )


if __name__ == "__main__":
    run_pages(sys.argv[1], sys.argv[2:])
