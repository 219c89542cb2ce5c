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
For classifiers either can compare the predicted probabilities instead of
the last layer's values (``error_on="probabilities"``): with "l1", the ℓ1
distance of the probability vectors, a figure on a fixed scale (0 to 2)
that users read directly; the certificate reports the smallest ε certified
on both.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils.validation import _num_samples

from ._bounds import (
    DEFAULT_OUTPUT_FLOOR,
    _same_labels,
    certified_epsilon,
    coverage_lower_bound,
    points_needed,
    pointwise_errors,
)

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
    error_on : {"outputs", "probabilities"}
        What ``errors`` compare: the last layer's values (logits for
        classifiers) or the predicted probabilities (classifiers).
    output_epsilon_certified : float or None
        Smallest ε certified at δ for the error on the outputs (whatever
        ``error_on``).
    probability_epsilon_certified : float or None
        Classifiers: smallest ε certified at δ for the error on the
        predicted probabilities (whatever ``error_on``; None for regressors).
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
    error_on: str = "outputs"
    output_epsilon_certified: float | None = None
    probability_epsilon_certified: float | None = None

    def coverage_at(self, epsilon):
        """(coverage, its lower confidence bound) for another ε, same points."""
        successes = int(np.count_nonzero(self.errors <= epsilon))
        return successes / self.n_points, coverage_lower_bound(successes, self.n_points, self.confidence)

    def __str__(self):
        f, f_hat = ("p", "p̂") if self.error_on == "probabilities" else ("f", "f̂")
        description = {
            "l1": f"‖{f_hat}(x) − {f}(x)‖₁ / ‖{f}(x)‖₁",
            "entrywise": f"max_k |{f_hat}_k(x) − {f}_k(x)| / max(|{f}_k(x)|, {self.output_floor:g}·max|{f}(x)|)",
        }[self.error]
        on = " of the probabilities" if self.error_on == "probabilities" else ""
        verdict = "holds" if self.holds else "does not hold"
        lines = [
            f"Certificate on {self.n_points} held-out points, {self.error} error{on} "
            f"{description}, confidence {100 * self.confidence:g}%",
            f"  error ≤ ε = {self.epsilon:.4g}: {100 * self.coverage:.1f}% of the points, "
            f"≥ {100 * self.coverage_lower:.1f}% certified; 1 − δ = {100 * (1 - self.delta):.4g}%: {verdict}",
            f"  smallest ε certified at δ = {self.delta:.4g}: {self.epsilon_certified:.4g}"
            + ("" if self.n_points >= self.points_needed else f" (needs {self.points_needed} points)"),
            f"  error: mean {self.mean_error:.4g}, max {self.max_error:.4g}",
        ]
        # the other error of a classifier, read as the same statement
        other = (
            ("outputs", self.output_epsilon_certified)
            if self.error_on == "probabilities"
            else ("probabilities", self.probability_epsilon_certified)
        )
        if other[1] is not None:
            lines.append(f"  smallest ε certified at δ = {self.delta:.4g} on the {other[0]}: {other[1]:.4g}")
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
    error_on="outputs",
    probabilities=None,
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
        Targets, for the score drop (needs ``predicted``): of every point,
        or of the first ``len(y)`` when only those are labelled.
    score_name : {"accuracy", "r2"}, default=None
        The models' score: with "accuracy", ``predicted`` are labels and
        their agreement is reported.
    reference_score : float, default=None
        The original's score on ``y``, when already known.
    required : int, default=None
        :func:`required_successes` for these points, when already known
        (the certificates of one search share their points).
    error_on : {"outputs", "probabilities"}, default="outputs"
        Whether the errors compare ``reference`` and ``estimate`` or
        ``probabilities``.
    probabilities : tuple of two ndarray of shape (n_points, n_classes), default=None
        Classifiers: the predicted probabilities of the original and the
        compressed network (see :func:`~sklearn_corenet.core._head.probabilities`).
    """
    if error_on == "probabilities" and probabilities is None:
        raise ValueError(
            "error_on='probabilities' compares predicted probabilities: a classifier's; "
            "a regressor is certified on its outputs (error_on='outputs')"
        )
    output_errors = pointwise_errors(reference, estimate, error, output_floor)
    probability_errors = None if probabilities is None else pointwise_errors(*probabilities, error, output_floor)
    errors = probability_errors if error_on == "probabilities" else output_errors
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
        labelled = _num_samples(y)
        if reference_score is None:
            reference_score = score(y, predicted[0][:labelled])
        fields["score_drop"] = float(reference_score - score(y, predicted[1][:labelled]))
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
        error_on=error_on,
        output_epsilon_certified=certified_epsilon(output_errors, delta, confidence, required),
        probability_epsilon_certified=(
            None if probability_errors is None else certified_epsilon(probability_errors, delta, confidence, required)
        ),
        points_needed=points_needed(delta, confidence),
        mean_error=float(errors.mean()),
        max_error=float(errors.max()),
        **fields,
    )
