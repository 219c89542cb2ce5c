"""Certificates: how close a compressed network stays to the original, checked on held-out points.

Theorem 4 of Baykal et al. (2019) bounds, for a random input x, the
probability that the compressed network's output leaves (1 ± ε) of the
original's: ``P(f̂(x) ∈ (1 ± ε) f(x) entry-wise) ≥ 1 − δ``. Whether a given
compressed model meets such a statement can be checked on points that played
no part in its compression, and the check is a statistical certificate: the
points that meet the event are a binomial count, so the Clopper–Pearson
interval gives a lower confidence bound on the coverage, the probability of
the event for a new point; and an order statistic of the errors gives an
upper confidence bound on their (1 − δ)-quantile, the smallest ε certified at
that δ. Neither assumes anything about the network or the compression: only
that the held-out points are drawn independently from the distribution the
statement is about.

Two errors per point are offered. "entrywise" is the event of Theorem 4;
"l1" is the relative ℓ1 error of the paper's experiments (Appendix B.2).
"""

from dataclasses import dataclass
from numbers import Real

import numpy as np
import scipy.sparse as sp
from scipy.stats import beta, binom
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils import check_array, check_consistent_length
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from ..adapters._registry import network_of
from ..core._head import predictions, score_name
from ..core._held_out import row_keys, seen_rows

#: Names of the errors a certificate can be about.
ERRORS = ("l1", "entrywise")

#: Default of ``output_floor``: entries below 1% of the point's largest output
#: are held to an absolute tolerance (see :func:`pointwise_errors`).
DEFAULT_OUTPUT_FLOOR = 0.01


# -- the errors ----------------------------------------------------------------


def _ratio(numerator, denominator):
    """numerator / denominator with 0/0 := 0 and x/0 := inf."""
    ratio = np.zeros_like(numerator)
    np.divide(numerator, denominator, out=ratio, where=denominator > 0)
    ratio[(denominator <= 0) & (numerator > 0)] = np.inf
    return ratio


def pointwise_errors(reference, estimate, error="l1", output_floor=DEFAULT_OUTPUT_FLOOR):
    """The error of every point, so that a point meets the ε event iff its error ≤ ε.

    Parameters
    ----------
    reference : ndarray of shape (n_points, n_outputs)
        The original network's outputs f(x).
    estimate : ndarray of shape (n_points, n_outputs)
        The compressed network's outputs f̂(x).
    error : {"l1", "entrywise"}, default="l1"
        "l1": ``‖f̂(x) − f(x)‖₁ / ‖f(x)‖₁`` (Appendix B.2 of the paper).
        "entrywise": ``max_k |f̂_k(x) − f_k(x)| / max(|f_k(x)|, floor(x))``
        with ``floor(x) = output_floor · max_k |f_k(x)|``: error ≤ ε is the
        event ``f̂(x) ∈ (1 ± ε) f(x)`` of Theorem 4 for every entry at least
        ``output_floor`` times the point's largest, and an absolute tolerance
        ``ε · floor(x)`` for the smaller ones.
    output_floor : float, default=0.01
        See ``error``; 0 gives Theorem 4's event exactly, under which an
        entry near zero fails for any error at all.

    Returns
    -------
    ndarray of shape (n_points,)
        0 for equal outputs; infinite when the reference is 0 and the
        estimate is not.
    """
    reference = np.asarray(reference, dtype=np.float64)
    difference = np.abs(np.asarray(estimate, dtype=np.float64) - reference)
    magnitude = np.abs(reference)
    if error == "l1":
        return _ratio(difference.sum(axis=1), magnitude.sum(axis=1))
    floor = output_floor * magnitude.max(axis=1, keepdims=True)
    return _ratio(difference, np.maximum(magnitude, floor)).max(axis=1)


# -- the statistics ------------------------------------------------------------


def coverage_lower_bound(successes, n_points, confidence):
    """One-sided Clopper–Pearson lower confidence bound on a binomial proportion.

    With ``successes`` of ``n_points`` independent trials, the returned p
    satisfies ``P(p ≤ true proportion) ≥ confidence``: it is the
    ``1 − confidence`` quantile of Beta(k, n − k + 1) (0 when k = 0).

    Parameters
    ----------
    successes : int or ndarray of int
    n_points : int
    confidence : float in (0, 1)

    Returns
    -------
    float or ndarray
    """
    successes = np.asarray(successes)
    with np.errstate(invalid="ignore"):
        lower = beta.ppf(1 - confidence, successes, n_points - successes + 1)
    lower = np.where(successes > 0, lower, 0.0)
    return float(lower) if lower.ndim == 0 else lower


def required_successes(n_points, delta, confidence):
    """Fewest of ``n_points`` points meeting an event that certify its probability ≥ 1 − δ.

    The smallest k whose Clopper–Pearson lower bound at ``confidence`` is at
    least ``1 − delta``; ``n_points + 1`` when even k = n does not reach it.
    By the duality of the bound with the binomial tail, k − 1 is the
    ``confidence`` quantile of Bin(n, 1 − δ).
    """

    def enough(k):
        return k <= n_points and coverage_lower_bound(k, n_points, confidence) >= 1 - delta

    k = min(int(binom.ppf(confidence, n_points, 1 - delta)) + 1, n_points + 1)
    # the quantile, rounded, against the bound itself
    while k <= n_points and not enough(k):
        k += 1
    while k > 1 and enough(k - 1):
        k -= 1
    return k


def points_needed(delta, confidence):
    """Fewest held-out points that can certify a coverage of 1 − δ.

    With all n points meeting the event, the lower bound is
    ``(1 − confidence)^(1/n)``, so ``n ≥ log(1 − confidence) / log(1 − δ)``.
    """
    n_points = max(int(np.ceil(np.log1p(-confidence) / np.log1p(-delta))), 1)
    # the closed form, rounded, against the bound itself
    while coverage_lower_bound(n_points, n_points, confidence) < 1 - delta:
        n_points += 1
    while n_points > 1 and coverage_lower_bound(n_points - 1, n_points - 1, confidence) >= 1 - delta:
        n_points -= 1
    return n_points


def certified_epsilon(errors, delta, confidence, required=None):
    """Smallest ε whose coverage is certified at least 1 − δ: an order statistic.

    The k-th smallest error, k from :func:`required_successes`, is an upper
    confidence bound on the (1 − δ)-quantile of the error distribution:
    fewer than k of n independent errors fall below that quantile with
    probability ≥ ``confidence`` (whatever the distribution), so the k-th is
    at least the quantile. Infinite when there are too few points.
    ``required``: that k, when already known.
    """
    errors = np.asarray(errors, dtype=np.float64)
    k = required_successes(errors.size, delta, confidence) if required is None else required
    if k > errors.size:
        return float("inf")
    return float(np.partition(errors, k - 1)[k - 1])


# -- the certificate -----------------------------------------------------------


@dataclass(frozen=True)
class Certificate:
    """How close a compressed network stays to the original on held-out points.

    Made by :func:`certify`, :meth:`CoreNetCompressor.certify`, or by
    ``CoreNetCompressor(keep_ratio="certified")`` (its ``certificate_``);
    ``print`` shows it.

    Attributes
    ----------
    error : {"l1", "entrywise"}
        The error of a point (see :func:`certify`).
    output_floor : float
        Entries below this fraction of a point's largest output are compared
        absolutely ("entrywise" error).
    epsilon : float
        The ε of the event "error ≤ ε".
    delta : float
        The failure probability δ the certificate is about.
    confidence : float
        Confidence level of the bounds.
    n_points : int
        Held-out points.
    errors : ndarray of shape (n_points,)
        The error of every point.
    coverage : float
        Fraction of the points whose error is at most ε.
    coverage_lower : float
        One-sided Clopper–Pearson lower bound on the probability that a new
        point's error is at most ε.
    holds : bool
        Whether ``coverage_lower ≥ 1 − delta``: the statement "with
        probability at least 1 − δ, the error is at most ε" is certified.
    epsilon_certified : float
        Smallest ε for which it holds at this δ: an upper confidence bound on
        the (1 − δ)-quantile of the errors (infinite with too few points).
    points_needed : int
        Fewest points that could certify 1 − δ at this confidence.
    mean_error, max_error : float
        Mean and largest error over the points.
    label_agreement, label_agreement_lower : float or None
        Classifiers: fraction of points where both models predict the same
        labels, and its lower confidence bound.
    score_drop : float or None
        With targets: the original's score minus the compressed one's
        (accuracy for classifiers, R² for regressors) on the points.
    score_name : str or None
        "accuracy" or "r2".
    """

    error: str
    output_floor: float
    epsilon: float
    delta: float
    confidence: float
    n_points: int
    errors: np.ndarray
    coverage: float
    coverage_lower: float
    holds: bool
    epsilon_certified: float
    points_needed: int
    mean_error: float
    max_error: float
    label_agreement: float | None = None
    label_agreement_lower: float | None = None
    score_drop: float | None = None
    score_name: str | None = None

    def coverage_at(self, epsilon):
        """(coverage, its lower confidence bound) for another ε, same points."""
        successes = int(np.count_nonzero(self.errors <= epsilon))
        return successes / self.n_points, coverage_lower_bound(successes, self.n_points, self.confidence)

    def __str__(self):
        description = {
            "l1": "‖f̂(x) − f(x)‖₁ / ‖f(x)‖₁",
            "entrywise": f"max_k |f̂_k(x) − f_k(x)| / max(|f_k(x)|, {self.output_floor:g}·max|f(x)|)",
        }[self.error]
        verdict = "holds" if self.holds else "does not hold"
        lines = [
            f"Certificate on {self.n_points} held-out points, {self.error} error "
            f"{description}, confidence {100 * self.confidence:g}%",
            f"  error ≤ ε = {self.epsilon:.4g}: {100 * self.coverage:.1f}% of the points, "
            f"≥ {100 * self.coverage_lower:.1f}% certified; 1 − δ = {100 * (1 - self.delta):.4g}%: {verdict}",
            f"  smallest ε certified at δ = {self.delta:.4g}: {self.epsilon_certified:.4g}"
            + ("" if self.n_points >= self.points_needed else f" (needs {self.points_needed} points)"),
            f"  error: mean {self.mean_error:.4g}, max {self.max_error:.4g}",
        ]
        if self.label_agreement is not None:
            lines.append(
                f"  same labels as the original: {100 * self.label_agreement:.1f}% of the points, "
                f"≥ {100 * self.label_agreement_lower:.1f}% certified"
            )
        if self.score_drop is not None:
            lines.append(f"  {self.score_name} drop: {self.score_drop:.4g}")
        return "\n".join(lines)

    def __repr__(self):
        return (
            f"Certificate(error={self.error!r}, epsilon={self.epsilon!r}, delta={self.delta!r}, "
            f"confidence={self.confidence!r}, n_points={self.n_points}, "
            f"coverage_lower={self.coverage_lower:.4g}, holds={self.holds}, "
            f"epsilon_certified={self.epsilon_certified:.4g})"
        )


def make_certificate(
    reference,
    estimate,
    *,
    epsilon,
    delta,
    confidence,
    error="l1",
    output_floor=DEFAULT_OUTPUT_FLOOR,
    predicted=None,
    y=None,
    score_name=None,
    reference_score=None,
    required=None,
):
    """A :class:`Certificate` from both networks' outputs on the same points.

    Parameters
    ----------
    reference, estimate : ndarray of shape (n_points, n_outputs)
        Outputs of the original and the compressed network.
    epsilon, delta, confidence, error, output_floor
        As in :func:`certify` (not validated here).
    predicted : tuple of two arrays, default=None
        Predictions of the original and the compressed network (see
        :func:`predictions`).
    y : array-like, default=None
        Targets, for the score drop (needs ``predicted``).
    score_name : {"accuracy", "r2"}, default=None
        The models' score: with "accuracy", ``predicted`` are labels and
        their agreement is reported.
    reference_score : float, default=None
        The original's score on ``y``, when already known.
    required : int, default=None
        :func:`required_successes` for these points, when already known
        (the certificates of one search share their points).
    """
    errors = pointwise_errors(reference, estimate, error, output_floor)
    n_points = errors.size
    successes = int(np.count_nonzero(errors <= epsilon))
    lower = coverage_lower_bound(successes, n_points, confidence)
    fields = {}
    if predicted is not None and score_name == "accuracy":
        agree = _same_labels(*predicted)
        fields["label_agreement"] = float(agree.mean())
        fields["label_agreement_lower"] = coverage_lower_bound(int(agree.sum()), n_points, confidence)
    if y is not None and predicted is not None:
        score = accuracy_score if score_name == "accuracy" else r2_score
        if reference_score is None:
            reference_score = score(y, predicted[0])
        fields["score_drop"] = float(reference_score - score(y, predicted[1]))
        fields["score_name"] = score_name
    return Certificate(
        error=error,
        output_floor=float(output_floor),
        epsilon=float(epsilon),
        delta=float(delta),
        confidence=float(confidence),
        n_points=n_points,
        errors=errors,
        coverage=successes / n_points,
        coverage_lower=lower,
        holds=bool(lower >= 1 - delta),
        epsilon_certified=certified_epsilon(errors, delta, confidence, required),
        points_needed=points_needed(delta, confidence),
        mean_error=float(errors.mean()),
        max_error=float(errors.max()),
        **fields,
    )


def _same_labels(a, b):
    """Per point, whether two predictions agree (every label, for multilabel)."""
    equal = np.asarray(a) == np.asarray(b)
    return equal.reshape(equal.shape[0], -1).all(axis=1)


# -- networks and their predictions --------------------------------------------


def check_enough_points(n_points, delta, confidence, what="X has"):
    """ValueError when ``n_points`` cannot certify 1 − δ at ``confidence``."""
    needed = points_needed(delta, confidence)
    if n_points < needed:
        raise ValueError(
            f"{what} {n_points} held-out points, too few to certify a coverage of "
            f"1 - delta = {1 - delta:g} at confidence={confidence:g}: that needs at least "
            f"{needed} points (log(1 - confidence) / log(1 - delta)), and a few times more "
            "to certify anything short of a perfect score"
        )


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
        torch module, or a compressed estimator.
    compressed : estimator
        The compressed network (a ``SparseMLPClassifier`` /
        ``SparseMLPRegressor``, or any model the library reads).
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Held-out points.
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

    Returns
    -------
    Certificate
        ``print`` shows it.

    Raises
    ------
    ValueError
        When ``X`` has fewer points than certifying 1 − δ can take
        (``log(1 − confidence) / log(1 − delta)``), when rows of ``X`` are
        rows of ``calibration``, or when the models' outputs differ in shape.

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
    reference_network = network_of(original, X)
    seen_keys = None
    if calibration is not None:
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
        network_of(compressed, X),
        X,
        y,
        epsilon=epsilon,
        delta=delta,
        confidence=confidence,
        error=error,
        output_floor=output_floor,
        seen_keys=seen_keys,
        seen_what="rows of calibration",
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
    )


def _decision(network, X):
    """The network's last-layer values on ``X`` (in its dtype), as a dense array."""
    output = network.decision(X.astype(network.dtype, copy=False))
    return output.toarray() if sp.issparse(output) else np.asarray(output)
