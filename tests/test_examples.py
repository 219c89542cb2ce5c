"""The gallery examples run as scripts and write nothing inside the repository.

``make docs`` runs them again in the documentation build; here each runs in
its own process, as a user would run it from the project root. They run from
a copy of the repository, so that what they write there is theirs alone
(other work may change the repository itself meanwhile).
"""

import ast
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
# examples that need an optional extra, by the modules they import
NEEDS = {"skorch_tabular.py": ("torch", "skorch")}
# not copied: the version control, the environment, caches and build output
NOT_COPIED = (".git", ".venv", "__pycache__", "*cache*", "*.egg-info", "_build",
              "auto_examples", "generated", "benchmark_results")


@pytest.fixture(scope="module")
def repository_copy(tmp_path_factory):
    copy = tmp_path_factory.mktemp("examples") / ROOT.name
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(*NOT_COPIED))
    return copy


def _snapshot(root):
    """Every file under ``root`` with its size and modification time."""
    files = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = Path(directory, name)
            status = path.stat()
            files[path.relative_to(root).as_posix()] = (status.st_size, status.st_mtime_ns)
    return files


def _changes(before, after):
    changed = [path for path in after if before.get(path) != after[path]]
    removed = [path for path in before if path not in after]
    return sorted(changed), sorted(removed)


def test_examples_found():
    assert {path.name for path in EXAMPLES} >= {
        "compress_digits.py",
        "grid_search_budget.py",
        "skorch_tabular.py",
    }


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_example_is_a_gallery_script(example):
    source = example.read_text(encoding="utf-8")
    docstring = ast.get_docstring(ast.parse(source), clean=True)
    assert docstring, f"{example.name} has no docstring"
    title, underline, *_ = docstring.splitlines()
    # sphinx-gallery takes the first line, underlined, as the page title
    assert set(underline) == {"="} and len(underline) >= len(title), (
        f"{example.name}: the docstring must start with a title underlined with '='"
    )
    assert "Run time: about" in docstring, f"{example.name} does not state its run time"
    assert "\n# %%\n" in source, f"{example.name} has no '# %%' cells"
    # the examples teach the public API
    assert "sklearn_corenet._" not in source, f"{example.name} uses a private module"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_example_runs_and_writes_nothing_in_the_repository(example, repository_copy):
    for module in NEEDS.get(example.name, ()):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{example.name} needs {module}")
    environment = {
        **os.environ,
        "MPLBACKEND": "Agg",
        # bytecode caches are Python's, not the example's
        "PYTHONDONTWRITEBYTECODE": "1",
        # small networks: one BLAS thread, as in the rest of the test suite
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    before = _snapshot(repository_copy)
    completed = subprocess.run(
        [sys.executable, str(repository_copy / "examples" / example.name)],
        cwd=repository_copy,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    after = _snapshot(repository_copy)
    assert completed.returncode == 0, (
        f"{example.name} failed:\n{completed.stdout[-3000:]}\n{completed.stderr[-5000:]}"
    )
    assert completed.stdout.strip(), f"{example.name} printed nothing"
    changed, removed = _changes(before, after)
    assert not changed and not removed, (
        f"{example.name} wrote inside the repository: changed or new {changed}, removed {removed}"
    )
