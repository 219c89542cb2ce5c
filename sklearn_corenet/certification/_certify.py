"""Certify a compressed model against the original on held-out points (:func:`certify`)."""

from numbers import Real

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_array, check_consistent_length
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import _check_feature_names

from ..adapters._pipeline import split_pipeline
from ..adapters._registry import network_of
from ..adapters._sklearn import is_sklearn_mlp
from ..core._head import predictions, probabilities, score_name
from ..core._held_out import row_keys, seen_rows
from ..core._network import NetworkModel
from ._bounds import DEFAULT_OUTPUT_FLOOR, ERROR_TARGETS, ERRORS, check_enough_points
from ._certificate import make_certificate


def check_unseen(X, seen_keys, what):
    """ValueError when rows of ``X`` are among the rows of ``seen_keys``."""
    seen = seen_rows(row_keys(X), seen_keys)
    if seen.any():
        raise ValueError(
            f"{int(seen.sum())} of the {seen.size} rows of X are {what} (for example "
            f"row {int(np.flatnonzero(seen)[0])}): a certificate needs points that played no "
            "part in the compression. Certify on held-out data."
        )


@validate_params(
    {
        "original": "no_validation",
        "compressed": "no_validation",
        "X": ["array-like", "sparse matrix"],
        "y": ["array-like", None],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "delta": [Interval(Real, 0, 1, closed="neither")],
        "confidence": [Interval(Real, 0, 1, closed="neither")],
        "error": [StrOptions(set(ERRORS))],
        "output_floor": [Interval(Real, 0, 1, closed="both")],
        "error_on": [StrOptions(set(ERROR_TARGETS))],
        "calibration": ["array-like", "sparse matrix", None],
    },
    prefer_skip_nested_validation=True,
)
def certify(
    original,
    compressed,
    X,
    y=None,
    *,
    epsilon=0.1,
    delta=0.1,
    confidence=0.95,
    error="l1",
    output_floor=DEFAULT_OUTPUT_FLOOR,
    calibration=None,
    error_on="outputs",
):
    """Certify how close a compressed network stays to the original on held-out points.

    For every point x of ``X`` the error of the compressed output f̂(x)
    against the original f(x) (the last layer's values before the output
    activation: logits for classifiers) is computed; the certificate reports
    the fraction of points with error ≤ ε, a one-sided Clopper–Pearson lower
    confidence bound on that probability for a new point, whether it reaches
    1 − δ (the statement of Theorem 4), the smallest ε certified at δ (an
    order statistic of the errors), and for classifiers the agreement of the
    predicted labels with its lower bound.

    The bounds hold for points drawn independently from the distribution of
    ``X``, which must play no part in the compression: not the calibration
    data given to :class:`CoreNetCompressor`, and not data used to choose
    among compressed models.

    Parameters
    ----------
    original : estimator
        The original network: an MLPClassifier / MLPRegressor, skorch net or
        torch module, or a compressed estimator; or a fitted Pipeline ending
        in one.
    compressed : estimator
        The compressed network (a ``SparseMLPClassifier`` /
        ``SparseMLPRegressor``, or any model the library reads), or the
        Pipeline ``CoreNetCompressor`` returned for a Pipeline.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Held-out points, as the models take them (for Pipelines: raw rows,
        which go through their fitted steps).
    y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
        True targets: the certificate then reports the drop of the score
        (accuracy, R²) from the original to the compressed network.
    epsilon : float, default=0.1
        The ε of the event "error ≤ ε", > 0.
    delta : float, default=0.1
        The δ of the statement "with probability ≥ 1 − δ, error ≤ ε", in (0, 1).
    confidence : float, default=0.95
        Confidence level of the bounds, in (0, 1).
    error : {"l1", "entrywise"}, default="l1"
        "l1": ``‖f̂(x) − f(x)‖₁ / ‖f(x)‖₁``, the relative error of the paper's
        experiments; one number per point, robust to single outputs near zero.
        "entrywise": the largest relative error of an output entry, so that
        error ≤ ε is Theorem 4's event ``f̂(x) ∈ (1 ± ε) f(x)``; entries
        smaller than ``output_floor`` times the point's largest output are
        compared to that floor instead of their own size.
    output_floor : float, default=0.01
        Relative floor of the "entrywise" error, in [0, 1]; 0 is Theorem 4's
        event exactly (an output entry near zero then fails for the smallest
        change).
    calibration : {array-like, sparse matrix}, default=None
        The calibration data of the compression, when at hand: a row of
        ``X`` equal to one of its rows is refused.
    error_on : {"outputs", "probabilities"}, default="outputs"
        What the error compares: the last layer's values (logits for
        classifiers), or, for classifiers, the predicted probabilities
        (``predict_proba``; with ``error="l1"`` the ℓ1 distance of the
        probability vectors, between 0 and 2). The certificate reports the
        smallest ε certified on both either way.

    Returns
    -------
    Certificate
        ``print`` shows it.

    Raises
    ------
    ValueError
        When ``X`` has fewer points than certifying 1 − δ can take
        (``log(1 − confidence) / log(1 − delta)``), when rows of ``X`` are
        rows of ``calibration``, when the models' outputs differ in shape or
        kind (a regressor and a classifier, other classes), when
        ``original`` is a compressed model with fewer non-zero parameters
        than ``compressed`` (the arguments swapped), or when the feature
        names of ``X`` are not those the models were fitted with (checked
        as their ``predict`` checks them).

    See Also
    --------
    CoreNetCompressor.certify : The same for a fitted compressor's model,
        refusing its calibration rows.
    relative_error : The mean of the "l1" errors.

    Notes
    -----
    With k of n points meeting the event, the lower bound is the
    ``1 − confidence`` quantile of Beta(k, n − k + 1) (Clopper and Pearson,
    1934). The smallest certified ε is the k*-th smallest error, k* the
    fewest successes whose bound reaches 1 − δ: fewer than k* of n errors
    fall below the (1 − δ)-quantile of the errors with probability at least
    ``confidence``, whatever their distribution. Both hold for one model and
    one ε fixed before looking at ``X``.

    References
    ----------
    C. Baykal, L. Liebenwein, I. Gilitschenski, D. Feldman, D. Rus.
    "Data-dependent coresets for compressing neural networks with
    applications to generalization bounds", ICLR 2019 (Theorem 4,
    Appendix B.2).

    C. J. Clopper, E. S. Pearson. "The use of confidence or fiducial limits
    illustrated in the case of the binomial", Biometrika 26(4), 1934.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.neural_network import MLPClassifier
    >>> from sklearn_corenet import CoreNetCompressor, certify
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> mlp = MLPClassifier((32,), max_iter=80, random_state=0).fit(X[:1000], y[:1000])
    >>> sparse = CoreNetCompressor(keep_ratio=0.3, random_state=0).fit_transform(mlp, X[:1000])
    >>> certificate = certify(mlp, sparse, X[1000:], y[1000:], epsilon=0.2, delta=0.05)
    >>> certificate.n_points
    797
    >>> bool(certificate.coverage_lower <= certificate.coverage)
    True
    >>> print(certificate)  # doctest: +SKIP
    Certificate on 797 held-out points, l1 error ‖f̂(x) − f(x)‖₁ / ‖f(x)‖₁, confidence 95%
      error ≤ ε = 0.2: ...
    """
    for model in (original, compressed):
        _check_feature_names_of(model, X)
    original, compressed, X, through = _through_pipelines(original, compressed, X)
    reference_network = network_of(original, X)
    estimate_network = network_of(compressed, X)
    _check_order(original, compressed, reference_network, estimate_network)
    seen_keys = None
    if calibration is not None:
        calibration = through(calibration)
        calibration = check_array(calibration, accept_sparse=["csr", "csc"], input_name="calibration")
        if calibration.shape[1] != reference_network.n_features_in:
            raise ValueError(
                f"calibration has {calibration.shape[1]} features, but the model expects "
                f"{reference_network.n_features_in}"
            )
        # compared in the network's dtype, as the compressor saw the rows
        seen_keys = row_keys(calibration.astype(reference_network.dtype))
    return certify_networks(
        reference_network,
        estimate_network,
        X,
        y,
        epsilon=epsilon,
        delta=delta,
        confidence=confidence,
        error=error,
        output_floor=output_floor,
        seen_keys=seen_keys,
        seen_what="rows of calibration",
        error_on=error_on,
    )


def certify_networks(
    reference_network,
    estimate_network,
    X,
    y,
    *,
    epsilon,
    delta,
    confidence,
    error,
    output_floor,
    seen_keys=None,
    seen_what="calibration rows given to CoreNetCompressor.fit",
    error_on="outputs",
):
    """:func:`certify` for two :class:`Network` objects (parameters validated).

    ``seen_keys``: :func:`~._held_out.row_keys` of the rows that ``X`` must
    not contain.
    """
    X = check_array(X, accept_sparse=["csr", "csc"], dtype=[np.float64, np.float32], input_name="X")
    if X.shape[1] != reference_network.n_features_in:
        raise ValueError(
            f"X has {X.shape[1]} features, but the model expects {reference_network.n_features_in}"
        )
    _check_same_kind(reference_network, estimate_network)
    check_enough_points(X.shape[0], delta, confidence)
    if seen_keys is not None:
        check_unseen(X.astype(reference_network.dtype), seen_keys, seen_what)
    reference = _decision(reference_network, X)
    estimate = _decision(estimate_network, X)
    if reference.shape != estimate.shape:
        raise ValueError(
            f"the models' outputs differ in shape: {reference.shape} (original) "
            f"and {estimate.shape} (compressed)"
        )
    if y is not None:
        check_consistent_length(X, y)
    return make_certificate(
        reference,
        estimate,
        epsilon=epsilon,
        delta=delta,
        confidence=confidence,
        error=error,
        output_floor=output_floor,
        predicted=(predictions(reference_network, reference), predictions(estimate_network, estimate)),
        y=y,
        score_name=score_name(reference_network),
        error_on=error_on,
        probabilities=_probabilities(reference_network, reference, estimate_network, estimate),
    )


def _probabilities(reference_network, reference, estimate_network, estimate):
    """Both classifiers' predicted probabilities (None for regressors)."""
    if reference_network.head.kind == "regression":
        return None
    return probabilities(reference_network, reference), probabilities(estimate_network, estimate)


def _n_nonzero(network):
    return sum(
        int(np.count_nonzero(W)) + int(np.count_nonzero(b))
        for W, b in zip(network.coefs, network.intercepts, strict=True)
    )


def _check_order(original, compressed, reference_network, estimate_network):
    """ValueError when a compressed ``original`` is sparser than ``compressed``: swapped arguments."""
    if not isinstance(original, NetworkModel):
        return
    kept, other = _n_nonzero(reference_network), _n_nonzero(estimate_network)
    if kept < other:
        raise ValueError(
            f"original is a compressed {type(original).__name__} with {kept} non-zero "
            f"weights and biases, fewer than the {other} of compressed "
            f"({type(compressed).__name__}): the arguments look swapped. Pass the network "
            "that was compressed first and its compression second: "
            "certify(original, compressed, X)"
        )


def _through_pipelines(original, compressed, X):
    """The two networks and the rows they see, when either comes in a fitted Pipeline.

    Returns ``(original network, compressed network, X as they see it, the
    function that takes raw rows there)``. A Pipeline's network sees the rows
    its fitted transformers hand it; a bare compressed network beside a
    Pipeline is fed as the original's network is. Two Pipelines must hand
    their networks the same rows (the compressor's copies of the original's
    steps do).
    """
    original_parts = split_pipeline(original, what="certify")
    compressed_parts = split_pipeline(compressed, what="certify")
    if original_parts is None and compressed_parts is None:
        return original, compressed, X, lambda rows: rows
    parts = original_parts if original_parts is not None else compressed_parts
    rows = parts.transform(X)
    if original_parts is not None and compressed_parts is not None:
        other = compressed_parts.transform(X)
        same = sp.issparse(rows) == sp.issparse(other) and rows.shape == other.shape
        if same:
            difference = (rows - other) if sp.issparse(rows) else np.asarray(rows) - np.asarray(other)
            same = not (abs(difference) > 0).sum()
        if not same:
            raise ValueError(
                "the two Pipelines hand their networks different rows: a certificate compares "
                "a network with its compression behind the same fitted steps (the "
                "compressor's output keeps copies of the original's steps)"
            )
    original = original if original_parts is None else original_parts.network
    compressed = compressed if compressed_parts is None else compressed_parts.network
    return original, compressed, rows, parts.transform


def _check_feature_names_of(model, X):
    """The feature names of ``X`` checked as ``model.predict`` checks them.

    scikit-learn's rules, for the models that apply them (scikit-learn MLPs,
    compressed estimators, any model fitted with ``feature_names_in_``):
    other or reordered names raise a ValueError, names on one side only
    warn. A torch module or skorch net reads columns by position.
    """
    if hasattr(model, "feature_names_in_") or is_sklearn_mlp(model) or isinstance(model, NetworkModel):
        _check_feature_names(model, X, reset=False)


def _check_same_kind(reference_network, estimate_network):
    """ValueError when two networks predict different things (a regressor and a classifier, other classes)."""
    reference, estimate = reference_network.head, estimate_network.head
    if reference.kind != estimate.kind:
        raise ValueError(
            f"the original network is a {reference.kind} model and the compressed one a "
            f"{estimate.kind} model: a certificate compares a network with its own "
            "compression, which predicts the same kind of target"
        )
    if reference.classes is not None and estimate.classes is not None and not np.array_equal(
        reference.classes, estimate.classes
    ):
        raise ValueError(
            f"the original network predicts the classes {reference.classes} and the "
            f"compressed one {estimate.classes}: a certificate compares a network with "
            "its own compression"
        )
    reference_names, estimate_names = reference_network.feature_names_in, estimate_network.feature_names_in
    if reference_names is not None and estimate_names is not None and not np.array_equal(
        reference_names, estimate_names
    ):
        raise ValueError(
            "the original and the compressed network were fitted with different feature "
            f"names ({list(reference_names)} and {list(estimate_names)})"
        )


def _decision(network, X):
    """The network's last-layer values on ``X`` (in its dtype), as a dense array."""
    output = network.decision(X.astype(network.dtype, copy=False))
    return output.toarray() if sp.issparse(output) else np.asarray(output)
