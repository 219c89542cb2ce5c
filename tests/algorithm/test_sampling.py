import numpy as np
import pytest

from sklearn_corenet.algorithm._draw_sequence import (
    draw_sequence,
    multinomial_counts,
    reweighting_factors,
)
from sklearn_corenet.algorithm._sampling import neuron_plan


def _mean_and_std(samples):
    samples = np.asarray(samples)
    return samples.mean(axis=0), samples.std(axis=0) / np.sqrt(len(samples))


@pytest.mark.parametrize("draws_per_unit", [0.5, 2.0])
def test_multinomial_sampling_is_unbiased(layer, draws_per_unit):
    plan, W, inputs = layer
    rng = np.random.default_rng(1)
    m = np.maximum(np.ceil(draws_per_unit * plan.allocation), 1).astype(np.int64)
    preactivations = []
    for _ in range(3000):
        counts, used = multinomial_counts(plan, m, rng)
        preactivations.append(inputs @ (W * reweighting_factors(plan, counts, used)))
    mean, error = _mean_and_std(preactivations)
    exact = inputs @ W
    # every neuron on every point: within 5 standard errors of the original
    assert np.all(np.abs(mean - exact) <= 5 * error + 1e-12)
    # and the estimate is not trivially exact (the test could fail)
    assert error.max() > 1e-3


def test_sequence_prefix_sampling_is_unbiased(layer):
    plan, W, inputs = layer
    rng = np.random.default_rng(2)
    c = 1.5
    preactivations = []
    for _ in range(3000):
        sequence = draw_sequence(plan, c, rng)
        counts, m = sequence.counts(c)
        preactivations.append(inputs @ (W * reweighting_factors(plan, counts, m)))
    mean, error = _mean_and_std(preactivations)
    assert np.all(np.abs(mean - inputs @ W) <= 5 * error + 1e-12)


def test_rows_with_full_sample_size_are_kept_whole(layer):
    plan, W, _ = layer
    rng = np.random.default_rng(3)
    m = plan.whole_sizes
    counts, used = multinomial_counts(plan, m, rng)
    factors = reweighting_factors(plan, counts, used)
    np.testing.assert_array_equal(factors[W != 0], 1.0)
    # one draw fewer: the row is sampled and reweighted again
    counts, used = multinomial_counts(plan, np.maximum(m - 1, 1), rng)
    factors = reweighting_factors(plan, counts, used)
    assert np.any(factors[W != 0] != 1.0)


def test_full_sample_size_definition(layer):
    plan, _, _ = layer
    sizes = plan.whole_sizes
    for row in range(plan.n_rows):
        q = plan.probabilities.toarray()[row]
        q = q[q > 0]
        if q.size == 0:
            continue
        # the smallest m with fewer than half an edge expected to be missed
        assert np.sum((1 - q) ** sizes[row]) <= 0.5
        assert np.sum((1 - q) ** (sizes[row] - 1)) > 0.5
    # and the rule applied to any m agrees with it
    for m in (sizes - 1, sizes, sizes + 3):
        np.testing.assert_array_equal(plan.complete_rows(m), (m >= sizes) & (sizes > 0))


def test_entry_thresholds_count_kept_edges(layer):
    plan, W, _ = layer
    sequence = draw_sequence(plan, 3.0, np.random.default_rng(4))
    _, thresholds = sequence.entry_thresholds()
    for c in (0.2, 0.7, 1.3, 2.9):
        counts, m = sequence.counts(c)
        kept = np.count_nonzero(reweighting_factors(plan, counts, m))
        assert kept == np.count_nonzero(thresholds < c)


def test_draw_cap_keeps_skewed_rows_whole():
    # a row with one edge of q ~ 1e-9 needs ~7e8 draws to be whole under the
    # half-an-edge rule; with a cap of 8 draws per edge it is whole at 8 n
    scores = np.array([[1.0, 1.0], [1.0, 1e-9], [1.0, 1.0], [1e-9, 1.0]])
    plan = neuron_plan(scores, np.ones_like(scores), np.ones((2, 2)))
    exact = plan.whole_sizes
    assert np.all(exact[:2] > 1e8)
    np.testing.assert_array_equal(exact[2:], 0)  # no negative weights: empty rows
    capped = neuron_plan(scores, np.ones_like(scores), np.ones((2, 2))).for_budget(np.ones(4), 8)
    np.testing.assert_array_equal(capped.whole_sizes[:2], 8 * capped.support_sizes[:2])
    np.testing.assert_array_equal(capped.complete_rows(np.array([31, 32, 0, 0])), [False, True, False, False])
    # the draws stop where the row is whole: bounded memory for any constant
    sequence = draw_sequence(capped, 1e12, np.random.default_rng(0))
    assert sequence.rows.size == 2 * (8 * 4 - 1)
    rows, thresholds = sequence.entry_thresholds()
    assert rows.size == 8  # every edge can enter, the rare ones when the row is whole
