"""The paper's evaluation on a user's model: compression curves, summaries, plots."""

import copy
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_corenet import (
    CoreNetCompressor,
    compression_curve,
    plot_compression_curve,
    summarize_curve,
)


@pytest.fixture(scope="module")
def mlp(digits):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MLPClassifier(hidden_layer_sizes=(32, 32), max_iter=80, random_state=0).fit(X[:1000], y[:1000])


# -- compression_curve ----------------------------------------------------------


def test_compression_curve_records(mlp, digits):
    X, y = digits
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


def test_compression_curve_is_reproducible(mlp, digits):
    X, y = digits
    kwargs = dict(methods=["corenet++"], keep_ratios=[0.3], n_trials=2, random_state=3, as_frame=False)
    first = compression_curve(mlp, X[:400], X[1000:], y[1000:], **kwargs)
    second = compression_curve(mlp, X[:400], X[1000:], y[1000:], **kwargs)
    assert [r["relative_error"] for r in first] == [r["relative_error"] for r in second]
    # different trials draw different networks
    assert first[0]["relative_error"] != first[1]["relative_error"]


def test_compression_curve_accepts_templates_and_callables(mlp, digits):
    X, y = digits

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


def test_compression_curve_dataframe(mlp, digits):
    pd = pytest.importorskip("pandas")
    X, y = digits
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


def test_compression_curve_unknown_method(mlp, digits):
    X, y = digits
    with pytest.raises(InvalidParameterError, match="method") as error:
        compression_curve(mlp, X[:100], X[1000:], y[1000:], methods=["pruning"])
    assert "'corenet++'" in str(error.value) and "'magnitude'" in str(error.value)


def test_compressor_unknown_method_lists_valid_ones(mlp, digits):
    X, _ = digits
    with pytest.raises(InvalidParameterError, match="magnitude"):
        CoreNetCompressor(method="pruning", keep_ratio=0.5).fit(mlp, X[:100])


def test_compression_curve_rejects_bad_keep_ratio(mlp, digits):
    X, y = digits
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


def test_a_fitted_pipeline_is_evaluated_through_its_steps():
    from sklearn.datasets import load_digits
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = make_pipeline(StandardScaler(), MLPClassifier((32,), max_iter=100, random_state=0)).fit(X[:1000], y[:1000])
    kwargs = dict(methods=["magnitude"], keep_ratios=[0.3], n_trials=1, random_state=0, as_frame=False)
    through = compression_curve(pipe, X[:500], X[1000:], y[1000:], **kwargs)
    scaled = compression_curve(pipe[-1], pipe[0].transform(X[:500]), pipe[0].transform(X[1000:]), y[1000:], **kwargs)
    for a, b in zip(through, scaled, strict=True):
        assert a["accuracy_drop"] == pytest.approx(b["accuracy_drop"]) and a["kept_fraction"] == b["kept_fraction"]
    assert through[0]["accuracy_drop"] < 0.1
