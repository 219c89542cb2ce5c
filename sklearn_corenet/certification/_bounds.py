"""The statistics of a certificate: per-point errors and the confidence bounds on their coverage.

Theorem 4 of Baykal et al. (2019) bounds, for a random input x, the
probability that the compressed network's output leaves (1 ± ε) of the
original's. On held-out points the points that meet the event are a binomial
count, so the Clopper–Pearson interval gives a lower confidence bound on the
coverage, and an order statistic of the errors an upper confidence bound on
their (1 − δ)-quantile, the smallest ε certified at that δ."""

from decimal import ROUND_CEILING, Decimal, localcontext
from fractions import Fraction

import numpy as np
from scipy.stats import beta, binom

from ..core._errors import DEFAULT_OUTPUT_FLOOR, ERROR_TARGETS, ERRORS, pointwise_errors

__all__ = [
    "DEFAULT_OUTPUT_FLOOR",
    "ERRORS",
    "ERROR_TARGETS",
    "certified_epsilon",
    "check_enough_points",
    "coverage_lower_bound",
    "points_needed",
    "pointwise_errors",
    "required_successes",
]


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


#: Up to this many points, the candidates are checked in exact rational
#: arithmetic. A tie, (1 − δ)^n = 1 − confidence exactly (n points just
#: enough), needs n ≤ 1074 for floating-point δ and confidence: both sides
#: are dyadic fractions, and 1 − confidence has at most 1075 significant
#: bits. Beyond, the quotient of 40 digits decides.
_EXACT_UP_TO = 1100


def _reaches(n_points, delta, confidence):
    """Whether (1 − δ)^n ≤ 1 − confidence, exactly (rational arithmetic)."""
    return (1 - Fraction(delta)) ** n_points <= 1 - Fraction(confidence)


def points_needed(delta, confidence):
    """Fewest held-out points that can certify a coverage of 1 − δ.

    With all n points meeting the event, the lower bound is
    ``(1 − confidence)^(1/n)``, which reaches 1 − δ iff
    ``(1 − δ)^n ≤ 1 − confidence``: the smallest such n is
    ``ceil(log(1 − confidence) / log(1 − δ))``. It is computed in closed
    form, with enough digits to resolve any δ > 0 (a tiny δ takes as long
    as a large one; the answer can be astronomically large), and checked
    exactly where the quotient can be a whole number.

    Parameters
    ----------
    delta : float in (0, 1)
    confidence : float in (0, 1)

    Returns
    -------
    int
    """
    delta, confidence = float(delta), float(confidence)
    if not (0 < delta < 1 and 0 < confidence < 1):
        raise ValueError(
            f"delta and confidence must be in (0, 1); got {delta!r} and {confidence!r}"
        )
    # digits enough that 1 − δ and 1 − confidence keep δ's and confidence's
    # leading 40 digits, however small they are
    smallest = min(Decimal(delta), Decimal(confidence))
    with localcontext() as context:
        context.prec = 40 + max(0, -smallest.adjusted())
        quotient = (1 - Decimal(confidence)).ln() / (1 - Decimal(delta)).ln()
        n_points = max(int(quotient.to_integral_value(rounding=ROUND_CEILING)), 1)
    if n_points <= _EXACT_UP_TO:
        # the quotient is off by far less than 1: one step either way at most
        while n_points > 1 and _reaches(n_points - 1, delta, confidence):
            n_points -= 1
        while not _reaches(n_points, delta, confidence):
            n_points += 1
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


def _same_labels(a, b):
    """Per point, whether two predictions agree (every label, for multilabel)."""
    equal = np.asarray(a) == np.asarray(b)
    return equal.reshape(equal.shape[0], -1).all(axis=1)
