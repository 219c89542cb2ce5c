"""The paper's evaluation measures and the compression-curve helpers."""

import copy
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_corenet import CoreNetCompressor
from sklearn_corenet._evaluation import (
    accuracy_drop,
    compression_curve,
    network_output,
    plot_compression_curve,
    relative_error,
    summarize_curve,
)


@pytest.fixture(scope="module")
def data():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


@pytest.fixture(scope="module")
def mlp(data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MLPClassifier(hidden_layer_sizes=(32, 32), max_iter=80, random_state=0).fit(X[:1000], y[:1000])


def _scaled_output(mlp, factor):
    """A copy whose logits are ``factor`` times the original's."""
    scaled = copy.deepcopy(mlp)
    scaled.coefs_[-1] = scaled.coefs_[-1] * factor
    scaled.intercepts_[-1] = scaled.intercepts_[-1] * factor
    return scaled


# -- relative_error -------------------------------------------------------------


def test_relative_error_of_model_with_itself_is_zero(mlp, data):
    X, _ = data
    assert relative_error(mlp, mlp, X[1000:]) == 0.0


@pytest.mark.parametrize("factor", [0.5, 1.25, 3.0])
def test_relative_error_of_scaled_logits_is_the_scale_change(mlp, data, factor):
    # ‖s f − f‖₁ / ‖f‖₁ = |s − 1| at every point
    X, _ = data
    error = relative_error(mlp, _scaled_output(mlp, factor), X[1000:])
    assert error == pytest.approx(abs(factor - 1), rel=1e-6)


def test_relative_error_is_on_logits_not_probabilities(mlp, data):
    X, _ = data
    scaled = _scaled_output(mlp, 2.0)
    on_proba = relative_error(mlp, scaled, X[1000:], output="predict_proba")
    assert on_proba != pytest.approx(1.0)
    assert 0 < on_proba < 2


def test_relative_error_of_uncompressed_sparse_model_is_round_off(mlp, data):
    X, _ = data
    sparse = CoreNetCompressor(keep_ratio=1.0, method="corenet").fit_transform(mlp, X[:300])
    assert relative_error(mlp, sparse, X[1000:]) < 1e-10


def test_relative_error_accepts_outputs():
    reference = np.array([[1.0, -1.0], [2.0, 2.0], [0.0, 0.0]])
    estimate = np.array([[1.0, 0.0], [2.0, 2.0], [0.0, 0.0]])
    # per point: 1/2, 0, 0/0 := 0
    assert relative_error(reference, estimate) == pytest.approx(0.5 / 3)
    estimate[2, 0] = 1.0
    assert relative_error(reference, estimate) == np.inf


def test_relative_error_rejects_different_shapes():
    with pytest.raises(ValueError, match="differ in shape"):
        relative_error(np.ones((3, 2)), np.ones((3, 3)))


def test_network_output_is_the_logits(mlp, data):
    X, _ = data
    logits = network_output(mlp, X[:20])
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probabilities, mlp.predict_proba(X[:20]), rtol=1e-6, atol=1e-9)


# -- accuracy_drop --------------------------------------------------------------


def test_accuracy_drop_sign(mlp, data):
    X, y = data
    X_test, y_test = X[1000:], y[1000:]
    broken = _scaled_output(mlp, 1.0)
    broken.intercepts_[-1] = broken.intercepts_[-1] + np.where(np.arange(10) == 3, 1e3, 0)
    drop = accuracy_drop(mlp, broken, X_test, y_test)
    expected = mlp.score(X_test, y_test) - np.mean(y_test == 3)
    assert drop == pytest.approx(expected)
    assert drop > 0.5
    assert accuracy_drop(broken, mlp, X_test, y_test) == pytest.approx(-drop)
    assert accuracy_drop(mlp, mlp, X_test, y_test) == 0.0


def test_accuracy_drop_accepts_predictions():
    y = np.array([0, 1, 1, 0])
    assert accuracy_drop(y, np.array([0, 1, 0, 0]), None, y) == pytest.approx(0.25)


# -- compression_curve ----------------------------------------------------------


def test_compression_curve_records(mlp, data):
    X, y = data
    records = compression_curve(
        mlp, X[:400], X[1000:], y[1000:],
        methods=["corenet", "magnitude"], keep_ratios=[0.2, 0.5], n_trials=2,
        random_state=0, as_frame=False,
    )
    # the deterministic method runs once per keep ratio
    assert len(records) == 2 * 2 + 2
    assert [r["method"] for r in records].count("magnitude") == 2
    for record in records:
        assert abs(record["kept_fraction"] - record["keep_ratio"]) <= 0.01 * record["keep_ratio"]
        assert record["relative_error"] > 0
        assert record["time"] >= 0
    by_ratio = {r["keep_ratio"]: r["relative_error"] for r in records if r["method"] == "magnitude"}
    assert by_ratio[0.5] < by_ratio[0.2]


def test_compression_curve_is_reproducible(mlp, data):
    X, y = data
    kwargs = dict(methods=["corenet++"], keep_ratios=[0.3], n_trials=2, random_state=3, as_frame=False)
    first = compression_curve(mlp, X[:400], X[1000:], y[1000:], **kwargs)
    second = compression_curve(mlp, X[:400], X[1000:], y[1000:], **kwargs)
    assert [r["relative_error"] for r in first] == [r["relative_error"] for r in second]
    # different trials draw different networks
    assert first[0]["relative_error"] != first[1]["relative_error"]


def test_compression_curve_accepts_templates_and_callables(mlp, data):
    X, y = data

    def keep_everything(model, X, keep_ratio, random_state):
        kept = copy.deepcopy(model)
        kept.keep_ratio_ = 1.0
        return kept

    records = compression_curve(
        mlp, X[:400], X[1000:], y[1000:],
        methods={"theory split": CoreNetCompressor(method="corenet", allocation="theory"),
                 "identity": keep_everything},
        keep_ratios=[0.3], n_trials=1, random_state=0, as_frame=False,
    )
    labels = {r["method"]: r for r in records}
    assert set(labels) == {"theory split", "identity"}
    assert labels["identity"]["relative_error"] == 0.0
    assert labels["identity"]["accuracy_drop"] == 0.0
    assert labels["identity"]["kept_fraction"] == 1.0
    assert labels["theory split"]["kept_fraction"] == pytest.approx(0.3, rel=0.01)


def test_compression_curve_dataframe(mlp, data):
    pd = pytest.importorskip("pandas")
    X, y = data
    frame = compression_curve(
        mlp, X[:400], X[1000:], y[1000:], methods=["uniform"], keep_ratios=[0.5], n_trials=2, random_state=0
    )
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["trial"]) == [0, 1]


def test_compression_curve_regressor_records_score_drop():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 6))
    y = X[:, 0] - 2 * X[:, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPRegressor(hidden_layer_sizes=(32,), max_iter=300, random_state=0).fit(X, y)
    records = compression_curve(
        model, X[:200], X[200:], y[200:], methods=["corenet"], keep_ratios=[0.5],
        n_trials=1, random_state=0, as_frame=False,
    )
    assert "accuracy_drop" not in records[0]
    assert np.isfinite(records[0]["score_drop"])


def test_compression_curve_unknown_method(mlp, data):
    X, y = data
    with pytest.raises(InvalidParameterError, match="method") as error:
        compression_curve(mlp, X[:100], X[1000:], y[1000:], methods=["pruning"])
    assert "'corenet++'" in str(error.value) and "'magnitude'" in str(error.value)


def test_compressor_unknown_method_lists_valid_ones(mlp, data):
    X, _ = data
    with pytest.raises(InvalidParameterError, match="magnitude"):
        CoreNetCompressor(method="pruning", keep_ratio=0.5).fit(mlp, X[:100])


def test_compression_curve_rejects_bad_keep_ratio(mlp, data):
    X, y = data
    with pytest.raises(ValueError, match="keep_ratios"):
        compression_curve(mlp, X[:100], X[1000:], y[1000:], keep_ratios=[0.0])


# -- summaries and plots --------------------------------------------------------


def _records():
    return [
        {"method": method, "keep_ratio": ratio, "trial": trial, "kept_fraction": ratio,
         "accuracy_drop": base / ratio + 0.01 * trial, "relative_error": base * 10 / ratio}
        for method, base in (("corenet++", 0.001), ("uniform", 0.01), ("magnitude", 0.002))
        for ratio in (0.1, 0.2, 0.5)
        for trial in range(3)
    ]


def test_summarize_curve():
    summary = summarize_curve(_records())
    assert list(summary) == ["corenet++", "uniform", "magnitude"]
    np.testing.assert_allclose(summary["uniform"]["mean"], [0.11, 0.06, 0.03])
    np.testing.assert_allclose(summary["uniform"]["std"], np.full(3, np.std([0, 0.01, 0.02])))
    with pytest.raises(ValueError, match="no 'score_drop'"):
        summarize_curve(_records(), "score_drop")


def test_plot_has_one_line_and_one_band_per_method():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = plot_compression_curve(_records())
    assert [line.get_label() for line in ax.lines] == ["corenet++", "uniform", "magnitude"]
    assert len(ax.collections) == 3
    # accuracy drops are drawn in percentage points, at the percentage kept
    np.testing.assert_allclose(ax.lines[1].get_xdata(), [10, 20, 50])
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [11, 6, 3])
    plt.close(ax.figure)

    ax = plot_compression_curve(_records(), "relative_error", methods=["uniform"], band=False, log_y=True)
    assert len(ax.lines) == 1 and len(ax.collections) == 0
    assert ax.get_yscale() == "log"
    plt.close(ax.figure)
    with pytest.raises(ValueError, match="no results for methods"):
        plot_compression_curve(_records(), methods=["svd"])
