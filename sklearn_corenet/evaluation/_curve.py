"""The paper's evaluation (Section 6) on a user's model: compression curves.

For every method, budget and trial, :func:`compression_curve` compresses the
model and measures what was lost on unseen points with the paper's measures
(:mod:`sklearn_corenet.evaluation._metrics`); :func:`summarize_curve` averages the records over trials
and :func:`plot_compression_curve` draws them as the paper's Figures 1 and 2,
against the percentage of non-zero parameters kept.
"""

import time
from itertools import product
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.metrics import r2_score
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from ..adapters._pipeline import split_pipeline
from ..adapters._registry import network_from_model
from ..compressor._compressor import CoreNetCompressor
from ..core._network import NetworkModel
from ..methods._registry import METHODS
from ._metrics import accuracy_drop, relative_error

#: Metrics of :func:`compression_curve` that :func:`plot_compression_curve` can draw.
CURVE_METRICS = ("accuracy_drop", "relative_error", "score_drop", "kept_fraction", "time")


@validate_params(
    {
        "model": "no_validation",
        "X": ["array-like", "sparse matrix"],
        "X_test": ["array-like", "sparse matrix"],
        "y_test": ["array-like", None],
        "methods": [list, tuple, dict],
        "keep_ratios": ["array-like"],
        "n_trials": [Interval(Integral, 1, None, closed="left")],
        "compressor_params": [dict, None],
        "random_state": ["random_state"],
        "as_frame": ["boolean", StrOptions({"auto"})],
        "verbose": ["verbose"],
    },
    prefer_skip_nested_validation=True,
)
def compression_curve(
    model,
    X,
    X_test,
    y_test=None,
    *,
    methods=("corenet++", "magnitude"),
    keep_ratios=(0.05, 0.1, 0.2, 0.3, 0.5),
    n_trials=3,
    compressor_params=None,
    random_state=None,
    as_frame="auto",
    verbose=0,
):
    """Compress ``model`` with several methods and budgets and measure the loss.

    The paper's evaluation (Section 6) for any user's model: for every
    method, keep ratio and trial, the model is compressed with ``X`` as
    calibration data and compared with the original on the unseen points
    ``X_test``.

    Parameters
    ----------
    model : MLPClassifier, MLPRegressor, skorch net, torch.nn.Module or Pipeline
        The trained network, or a fitted Pipeline ending in one: its
        network is compressed and compared on the rows the Pipeline's
        fitted transformers hand it (``X`` and ``X_test`` are raw rows).
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Calibration data handed to the compressor (a few hundred to a few
        thousand training points).
    X_test : {array-like, sparse matrix} of shape (n_test, n_features)
        Points on which the models are compared.
    y_test : array-like of shape (n_test,), default=None
        True labels (targets for regressors); without them only the relative
        error is measured.
    methods : list of str or dict, default=("corenet++", "magnitude")
        Names of ``CoreNetCompressor`` methods, or a dict from a label to a
        method name, an (unfitted) ``CoreNetCompressor`` used as a template,
        or a callable ``f(model, X, keep_ratio=..., random_state=...)``
        returning a compressed estimator (its ``keep_ratio_`` attribute, when
        present, is recorded as the kept fraction).
    keep_ratios : array-like of float, default=(0.05, 0.1, 0.2, 0.3, 0.5)
        Budgets: fractions of the parameters kept.
    n_trials : int, default=3
        Repetitions with different random draws (and calibration subsets).
        Deterministic methods ("magnitude") run once.
    compressor_params : dict, default=None
        Further ``CoreNetCompressor`` parameters for methods given by name.
    random_state : int, RandomState instance or None, default=None
        Seeds the trials; trial t uses the same seed for every method and
        budget, so that the methods see the same calibration subset.
    as_frame : bool or "auto", default="auto"
        Return a pandas DataFrame; "auto" does when pandas is installed.
    verbose : int, default=0
        Print one line per compressed model when > 0.

    Returns
    -------
    list of dict or pandas.DataFrame
        One record per method, keep ratio and trial with the keys
        ``method``, ``keep_ratio`` (requested), ``trial``,
        ``kept_fraction`` (realised), ``relative_error``, ``accuracy_drop``
        (classifiers) or ``score_drop`` (R² lost, regressors) when
        ``y_test`` is given, and ``time`` (seconds to fit and draw).

    See Also
    --------
    plot_compression_curve : Draw the records as the paper's figures.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.neural_network import MLPClassifier
    >>> from sklearn_corenet import compression_curve
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> mlp = MLPClassifier(hidden_layer_sizes=(32,), max_iter=80, random_state=0).fit(X[:1000], y[:1000])
    >>> records = compression_curve(mlp, X[:500], X[1000:], y[1000:],
    ...                             methods=["corenet", "uniform"], keep_ratios=[0.2, 0.5],
    ...                             n_trials=2, random_state=0, as_frame=False)
    >>> len(records)
    8
    >>> sorted(records[0])
    ['accuracy_drop', 'keep_ratio', 'kept_fraction', 'method', 'relative_error', 'time', 'trial']
    """
    compressor_params = dict(compressor_params or {})
    specs = _method_specs(methods, compressor_params)
    ratios = _checked_keep_ratios(keep_ratios)
    if as_frame == "auto":
        as_frame = _pandas_installed()
    parts = split_pipeline(model, what="evaluate")
    if parts is not None:  # the network, on the rows its Pipeline hands it
        model, X, X_test = parts.network, parts.transform(X), parts.transform(X_test)
    X_test = check_array(X_test, accept_sparse=["csr", "csc"], dtype=[np.float64, np.float32], input_name="X_test")
    original = _original_outputs(model, X_test, y_test)
    seeds = check_random_state(random_state).randint(np.iinfo(np.int32).max, size=n_trials)

    records = []
    for label, spec in specs.items():
        trials = 1 if _is_deterministic(spec) else n_trials
        for ratio, trial in product(ratios, range(trials)):
            start = time.perf_counter()
            compressed = _compress(spec, model, X, ratio, int(seeds[trial]), compressor_params)
            elapsed = time.perf_counter() - start
            record = {
                "method": label,
                "keep_ratio": ratio,
                "trial": trial,
                **_losses(compressed, X_test, y_test, original),
                "time": elapsed,
            }
            records.append(record)
            if verbose > 0:
                print(
                    f"{label} keep_ratio={ratio:g} trial={trial}: "
                    + ", ".join(f"{k}={v:.4g}" for k, v in record.items() if isinstance(v, float))
                )
    if as_frame:
        import pandas as pd

        return pd.DataFrame.from_records(records)
    return records


def _method_specs(methods, compressor_params):
    """Methods by label; a method name is checked by the compressor's own validation."""
    if isinstance(methods, dict):
        specs = dict(methods)
    else:
        specs = {_method_label(spec): spec for spec in methods}
    for spec in specs.values():
        if isinstance(spec, str):
            # the compressor's own validation lists the valid methods
            CoreNetCompressor(**{**compressor_params, "method": spec})._validate_params()
    return specs


def _method_label(spec):
    if isinstance(spec, str):
        return spec
    if isinstance(spec, CoreNetCompressor):
        return spec.method
    return getattr(spec, "__name__", type(spec).__name__)


def _checked_keep_ratios(keep_ratios):
    ratios = [float(r) for r in np.atleast_1d(np.asarray(keep_ratios, dtype=float))]
    for ratio in ratios:
        if not (isinstance(ratio, Real) and 0 < ratio <= 1):
            raise ValueError(f"keep_ratios must lie in (0, 1]; got {ratio}")
    return ratios


def _pandas_installed():
    try:
        import pandas  # noqa: F401
    except ImportError:
        return False
    return True


def _is_deterministic(spec):
    name = spec if isinstance(spec, str) else getattr(spec, "method", None)
    method = METHODS.get(name) if isinstance(name, str) else None
    return method is not None and not method.samples


def _compress(spec, model, X, keep_ratio, seed, compressor_params):
    if callable(spec) and not isinstance(spec, CoreNetCompressor):
        return spec(model, X, keep_ratio=keep_ratio, random_state=seed)
    if isinstance(spec, CoreNetCompressor):
        compressor = clone(spec).set_params(keep_ratio=keep_ratio, random_state=seed)
    else:
        compressor = CoreNetCompressor(
            **{**compressor_params, "method": spec, "keep_ratio": keep_ratio, "random_state": seed}
        )
    return compressor.fit_transform(model, X)


def _original_outputs(model, X_test, y_test):
    """The original model's logits on ``X_test``, whether it classifies, its predictions."""
    logits, head = _logits_and_head(model, X_test)
    predictions = None if y_test is None else _predictions_from(model, X_test, logits, head)
    return {"logits": logits, "classifier": head.kind != "regression", "predictions": predictions}


def _losses(compressed, X_test, y_test, original):
    """What ``compressed`` lost against the original: one record's measures."""
    logits, head = _logits_and_head(compressed, X_test)
    losses = {
        "kept_fraction": float(getattr(compressed, "keep_ratio_", np.nan)),
        "relative_error": relative_error(original["logits"], logits),
    }
    if y_test is None:
        return losses
    predictions = _predictions_from(compressed, X_test, logits, head)
    if original["classifier"]:
        losses["accuracy_drop"] = accuracy_drop(original["predictions"], predictions, None, y_test)
    else:
        losses["score_drop"] = float(
            r2_score(y_test, original["predictions"]) - r2_score(y_test, predictions)
        )
    return losses


def _logits_and_head(model, X):
    """Network output on validated ``X`` and the model's output head."""
    if isinstance(model, NetworkModel):
        # the estimator's own kernel choice (sparse or dense product)
        logits = model._decision(X)
        return logits.toarray() if sp.issparse(logits) else np.asarray(logits), model.head_
    network = network_from_model(model, X)
    logits = network.decision(X.astype(network.dtype, copy=False))
    return logits.toarray() if sp.issparse(logits) else np.asarray(logits), network.head


def _predictions_from(model, X, logits, head):
    """``model.predict(X)``, read off the logits where that is what predict does."""
    if head.kind == "multiclass":
        return head.classes[np.argmax(logits, axis=1)]
    return model.predict(X)


def _as_records(results):
    if hasattr(results, "to_dict"):
        return results.to_dict("records")
    return list(results)


def summarize_curve(results, metric="accuracy_drop"):
    """Mean and standard deviation of ``metric`` per method and keep ratio.

    Parameters
    ----------
    results : list of dict or pandas.DataFrame
        The records of :func:`compression_curve` (or any with the keys
        ``method``, ``keep_ratio`` and ``metric``).
    metric : str, default="accuracy_drop"
        The recorded value to summarise.

    Returns
    -------
    dict
        ``{method: {"keep_ratio", "kept_fraction", "mean", "std", "n"}}``,
        each an ndarray sorted by keep ratio (methods in order of first
        appearance). The standard deviation is over trials (0 for one
        trial).

    Examples
    --------
    >>> from sklearn_corenet import summarize_curve
    >>> records = [{"method": "a", "keep_ratio": 0.1, "accuracy_drop": d} for d in (0.1, 0.3)]
    >>> summary = summarize_curve(records)
    >>> summary["a"]["mean"], summary["a"]["std"]
    (array([0.2]), array([0.1]))
    """
    records = _as_records(results)
    groups = {}
    for record in records:
        if metric not in record:
            raise ValueError(f"the results hold no {metric!r}; they have {', '.join(sorted(record))}")
        key = (record["method"], float(record["keep_ratio"]))
        kept = record.get("kept_fraction", np.nan)
        kept = record["keep_ratio"] if kept is None or not np.isfinite(kept) else kept
        groups.setdefault(key, []).append((float(record[metric]), float(kept)))
    summary = {}
    for method in dict.fromkeys(key[0] for key in groups):
        ratios = sorted(ratio for name, ratio in groups if name == method)
        values = [np.array(groups[(method, ratio)]) for ratio in ratios]
        summary[method] = {
            "keep_ratio": np.array(ratios),
            "kept_fraction": np.array([v[:, 1].mean() for v in values]),
            "mean": np.array([v[:, 0].mean() for v in values]),
            "std": np.array([v[:, 0].std() for v in values]),
            "n": np.array([len(v) for v in values]),
        }
    return summary


_METRIC_LABELS = {
    "accuracy_drop": "drop in accuracy (percentage points)",
    "relative_error": "relative error of the output (ℓ1)",
    "score_drop": "drop in R² score",
    "kept_fraction": "fraction of parameters kept",
    "time": "time to compress (s)",
}


def plot_compression_curve(
    results,
    metric="accuracy_drop",
    *,
    methods=None,
    ax=None,
    band=True,
    log_y=False,
    title=None,
):
    """Plot a metric against the percentage of parameters kept (Figures 1-2).

    One line per method (the mean over trials) and, with ``band``, a shaded
    band of ±1 standard deviation, as in the paper's figures. Requires
    matplotlib.

    Parameters
    ----------
    results : list of dict or pandas.DataFrame
        The records of :func:`compression_curve`.
    metric : {"accuracy_drop", "relative_error", "score_drop", "time"}, default="accuracy_drop"
        What to plot. Accuracy drops are shown in percentage points.
    methods : list of str, default=None
        Methods to draw, in this order; all recorded ones when None.
    ax : matplotlib Axes, default=None
        Where to draw; a new figure when None.
    band : bool, default=True
        Shade ±1 standard deviation over trials.
    log_y : bool, default=False
        Logarithmic y axis (useful for relative errors).
    title : str, default=None
        Title of the axes.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on: ``ax.lines`` holds one line per method and
        ``ax.collections`` one band per method.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn_corenet import plot_compression_curve
    >>> records = [
    ...     {"method": m, "keep_ratio": r, "trial": t, "kept_fraction": r,
    ...      "accuracy_drop": d / r + 0.01 * t}
    ...     for m, d in (("corenet++", 0.001), ("uniform", 0.01))
    ...     for r in (0.1, 0.2, 0.5) for t in range(3)
    ... ]
    >>> ax = plot_compression_curve(records)
    >>> len(ax.lines), len(ax.collections)
    (2, 2)
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "plot_compression_curve needs matplotlib: pip install matplotlib "
            "(or sklearn-corenet[plot])"
        ) from error
    summary = summarize_curve(results, metric)
    if methods is None:
        methods = list(summary)
    missing = [m for m in methods if m not in summary]
    if missing:
        raise ValueError(f"no results for methods {missing}; recorded: {list(summary)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    scale = 100.0 if metric == "accuracy_drop" else 1.0
    for method in methods:
        curve = summary[method]
        x = 100 * curve["kept_fraction"]
        mean, std = scale * curve["mean"], scale * curve["std"]
        (line,) = ax.plot(x, mean, marker="o", markersize=3, label=method)
        if band:
            low = mean - std
            if log_y:
                low = np.where(low > 0, low, mean)
            ax.fill_between(x, low, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_xlabel("parameters kept (%)")
    ax.set_ylabel(_METRIC_LABELS.get(metric, metric))
    if log_y:
        ax.set_yscale("log")
    if title is not None:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return ax
