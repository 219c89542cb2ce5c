"""benchmarks.paper: the paper's evaluation, its data reader and its baselines.

The benchmarks are a package of the repository, imported from its root (the
working directory of ``python -m pytest``, as ``make test`` runs it).
"""

import gzip
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from benchmarks import _common as common
from benchmarks import _paper_methods as paper_methods

ROOT = Path(__file__).resolve().parent.parent


def _run_paper(*arguments):
    """``python -m benchmarks.paper`` from the repository root."""
    return subprocess.run(
        [sys.executable, "-m", "benchmarks.paper", *arguments],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )


@pytest.fixture(scope="module")
def mlp():
    X, y = load_digits(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MLPClassifier(hidden_layer_sizes=(40, 30), max_iter=100, random_state=0).fit(X / 16, y)


# -- the idx reader -------------------------------------------------------------


def _write_idx(path, array, magic):
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_idx_round_trip(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 28, 28))
    labels = rng.integers(0, 10, size=5)
    for prefix in ("train", "t10k"):
        _write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images, 2051)
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels, 2049)
    X_train, y_train, X_test, y_test = common.load_dataset(tmp_path, "mnist")
    assert X_train.shape == (5, 784) and X_train.dtype == np.float32
    np.testing.assert_allclose(X_test * 255, images.reshape(5, -1), atol=1e-4)
    np.testing.assert_array_equal(y_train, labels)
    assert 0 <= X_train.min() and X_train.max() <= 1


def test_missing_files_are_named(tmp_path):
    (tmp_path / "mnist").mkdir()
    _write_idx(tmp_path / "mnist" / "train-labels-idx1-ubyte.gz", np.zeros(3), 2049)
    with pytest.raises(common.MissingDataError) as error:
        common.load_dataset(tmp_path, "mnist")
    message = str(error.value)
    assert "train-images-idx3-ubyte.gz" in message and "t10k-labels-idx1-ubyte.gz" in message
    assert "train-labels-idx1-ubyte.gz, " not in message.split("missing")[1].split(".")[0]
    assert "--data-dir" in message


def test_command_line_names_missing_data(tmp_path):
    result = _run_paper("--quick", "--data-dir", str(tmp_path), "--out", str(tmp_path / "out"),
                        "--cache", str(tmp_path / "cache"))
    assert result.returncode == 2
    assert "train-images-idx3-ubyte.gz" in result.stderr
    assert "--data-dir" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_method_lists_valid_ones():
    with pytest.raises(SystemExit, match="valid: .*corenet\\+\\+.*svd.*torch-l1"):
        paper_methods.parse_method("pruning")
    assert paper_methods.parse_method("corenet++:allocation='theory',n_trials=7") == (
        "corenet++:allocation='theory',n_trials=7", "corenet++", {"allocation": "theory", "n_trials": 7}
    )
    assert paper_methods.method_group("corenet++:n_trials=7") == "Beyond the paper"
    assert paper_methods.method_group("l1+l2") == "Baselines (paper)"


# -- the benchmark's baselines --------------------------------------------------


def test_mlp_from_weights_predicts_like_the_original(mlp):
    X = load_digits().data / 16
    copy = common.mlp_from_weights(mlp.coefs_, mlp.intercepts_)
    np.testing.assert_array_equal(copy.predict(X), mlp.predict(X))


@pytest.mark.parametrize("keep_ratio", [0.03, 0.2, 0.5])
def test_svd_meets_the_budget_as_the_paper_counts(mlp, keep_ratio):
    compressed = paper_methods.svd_truncation(mlp, None, keep_ratio)
    assert compressed.keep_ratio_ == pytest.approx(keep_ratio, rel=0.01)
    for W, W_hat in zip(mlp.coefs_, compressed.coefs_, strict=True):
        assert np.linalg.matrix_rank(W_hat) <= min(W.shape)
        assert np.linalg.norm(W_hat - W) < np.linalg.norm(W)


def test_svd_full_budget_is_exact(mlp):
    compressed = paper_methods.svd_truncation(mlp, None, 1.0)
    for W, W_hat in zip(mlp.coefs_, compressed.coefs_, strict=True):
        np.testing.assert_allclose(W_hat, W, atol=1e-8)


def test_torch_prune_agrees_with_magnitude(mlp):
    pytest.importorskip("torch")
    rows = paper_methods.magnitude_agreement(mlp, [0.05, 0.3])
    assert [row["different_entries"] for row in rows] == [0, 0]
    pruned = paper_methods.torch_global_l1(mlp, None, 0.3)
    assert pruned.keep_ratio_ == pytest.approx(0.3, rel=0.01)


# -- the quick run ----------------------------------------------------------------


def test_quick_run(tmp_path):
    """``--quick`` trains, compresses with every method and writes the report."""
    pytest.importorskip("torch")
    pytest.importorskip("pandas")
    pytest.importorskip("matplotlib")
    data_dir = common.DEFAULT_DATA_DIR
    try:
        for name in common.DATASETS:
            common.dataset_files(data_dir, name)
    except common.MissingDataError as error:
        pytest.skip(f"benchmark data not available: {error}")
    import pandas as pd

    out = tmp_path / "out"
    result = _run_paper("--quick", "--out", str(out), "--cache", str(tmp_path / "cache"))
    assert result.returncode == 0, result.stderr[-3000:]
    results = pd.read_csv(out / "paper_quick.csv")
    assert set(results["method"]) == set(paper_methods.DEFAULT_METHODS)
    assert set(results["dataset"]) == {"mnist", "fashion-mnist"}
    # the budget is met by every method
    deviation = (results["kept_fraction"] - results["keep_ratio"]).abs() / results["keep_ratio"]
    assert deviation.max() <= 0.01
    assert results["accuracy_drop"].between(-1, 1).all()
    assert (results["relative_error"] > 0).all()
    # torch's global L1 pruning is the same selection as "magnitude"
    by_method = results.set_index(["dataset", "method", "keep_ratio"])["accuracy_drop"]
    np.testing.assert_allclose(by_method.xs("torch-l1", level="method"), by_method.xs("magnitude", level="method"))
    table = (out / "paper_quick_table.md").read_text()
    for heading in ("CoreNet (paper)", "Baselines (paper)", "Outside reference", "Budget met"):
        assert heading in table
    for figure in ("paper_quick_accuracy_drop.png", "paper_quick_relative_error.png"):
        assert (out / figure).stat().st_size > 10_000
