"""The fewest held-out points that certify 1 − δ: a closed form, prompt for any δ."""

import math
import signal
import time
from contextlib import contextmanager
from fractions import Fraction

import numpy as np
import pytest

from sklearn_corenet import CoreNetCompressor, certify
from sklearn_corenet.certification import coverage_lower_bound, points_needed


@contextmanager
def _at_most(seconds):
    """Fail (instead of hanging) when the block runs longer than ``seconds``."""

    def expire(signum, frame):
        raise TimeoutError(f"took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    start = time.perf_counter()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.perf_counter() - start < seconds


def _stepwise(delta, confidence, up_to):
    """The first n of 1, 2, ... whose bound with every point inside reaches 1 − δ."""
    n = np.arange(1, up_to + 1)
    reached = np.flatnonzero(coverage_lower_bound(n, n, confidence) >= 1 - delta)
    assert reached.size, "the search range is too short"
    return int(n[reached[0]])


@pytest.mark.parametrize("confidence", [0.5, 0.8, 0.9, 0.95, 0.99, 0.999])
def test_closed_form_equals_the_stepwise_answer(confidence):
    for delta in [*np.geomspace(1e-4, 0.5, 13), 0.01, 0.05, 0.1, 0.2, 0.3]:
        closed = points_needed(delta, confidence)
        assert closed == _stepwise(delta, confidence, 2 * closed + 10), (delta, confidence)


def _exact_stepwise(delta, confidence):
    """The first n with (1 − δ)^n ≤ 1 − confidence, in rational arithmetic."""
    n, power = 1, 1 - Fraction(delta)
    while power > 1 - Fraction(confidence):
        n, power = n + 1, power * (1 - Fraction(delta))
    return n


@pytest.mark.parametrize(
    ("delta", "confidence"),
    [
        # (1 − δ)^n = 1 − confidence exactly: n points are enough
        (0.5, 0.75),
        (0.5, 1 - 2.0**-53),
        (0.75, 1 - 2.0**-40),
        (0.5, 0.5),
        # and next to a tie
        (0.5, 0.75 + 2.0**-52),
        (0.5, 0.75 - 2.0**-53),
        (0.1, 0.99),
        (0.3, 0.9),
        (1e-3, 0.95),
        (0.999, 0.001),
    ],
)
def test_edge_cases_are_exact(delta, confidence):
    assert points_needed(delta, confidence) == _exact_stepwise(delta, confidence)


@pytest.mark.parametrize("delta", [1e-7, 1e-9, 1e-12])
def test_tiny_delta_is_prompt_and_right(delta):
    with _at_most(1):
        n = points_needed(delta, 0.95)
    # the smallest n with n · log(1 − δ) ≤ log(0.05): in double precision
    # the two products differ by |log(1 − δ)| ≈ δ, far above their round-off
    step = math.log1p(-delta)
    assert n * step <= math.log(0.05) < (n - 1) * step
    assert n == pytest.approx(-math.log(0.05) / delta, rel=1e-5)


@pytest.mark.parametrize("delta", [1e-15, 1e-100, 5e-324])
def test_delta_below_double_precision_still_has_an_answer(delta):
    with _at_most(1):
        n = points_needed(delta, 0.95)
    # log(1 − δ) = −δ to double precision; the quotient overflows a float
    expected = Fraction(-math.log(0.05)) / Fraction(delta)
    assert abs(n - expected) <= expected / 10**9


def test_certify_with_a_tiny_delta_refuses_promptly(digits, digits_mlp):
    X, _ = digits
    sparse = CoreNetCompressor(keep_ratio=0.3, random_state=0).fit_transform(digits_mlp, X[:1000])
    needed = points_needed(1e-12, 0.95)
    with _at_most(10), pytest.raises(ValueError, match=f"needs at least {needed} points"):
        certify(digits_mlp, sparse, X[1200:], delta=1e-12)


def test_certified_keep_ratio_with_a_tiny_delta_refuses_promptly(digits, digits_mlp):
    X, _ = digits
    compressor = CoreNetCompressor(keep_ratio="certified", delta=1e-12, random_state=0)
    with _at_most(10), pytest.raises(ValueError, match=f"needs at least {points_needed(1e-12, 0.95)} points"):
        compressor.fit(digits_mlp, X[:1200])
