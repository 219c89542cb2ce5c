import numpy as np
import pytest

from sklearn_corenet.algorithm._draw_sequence import multinomial_counts
from sklearn_corenet.algorithm._sample_size import (
    TheoryConstants,
    auto_calibration_size,
    epsilon_for_allocation,
    expected_kept,
    layer_conditions,
    layer_epsilons,
    solve_allocation,
    theory_constants,
    theory_sample_sizes,
)
from sklearn_corenet.algorithm._sampling import SamplingPlan


def _two_row_plan():
    """One neuron: a positive row q = (½, ½, 0) with α = 1 and a negative row
    q = (0.2, 0.3, 0.5) with α = 2."""
    probabilities = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]])
    return SamplingPlan(probabilities, np.array([1.0, 2.0]), "neuron", (3, 1))


# -- the theory's constants ------------------------------------------------------------


def test_theory_constants_by_hand():
    # hidden widths 30, 20 and 10 outputs: η = 60, η* = 30, ηη* = 1800
    constants = theory_constants([30, 20, 10], delta=0.1)
    assert constants.K == pytest.approx(np.log(1800), rel=1e-12)  # default K = log(ηη*)
    assert constants.log_term == pytest.approx(np.log(8 * 60 / 0.1), rel=1e-12)
    root = np.sqrt(np.log(1800))  # √(2λ*), λ* = log(ηη*)/2
    assert constants.kappa == pytest.approx(root * (1 + root * np.log(8 * 1800 / 0.1)), rel=1e-12)
    assert constants.kappa == pytest.approx(91.77, abs=0.01)
    assert theory_constants([30, 20, 10], delta=0.1, K=2.5).K == 2.5


def test_theory_constants_without_hidden_layers():
    # η* is the output layer's width when there is no hidden layer
    constants = theory_constants([10], delta=0.2)
    assert constants.K == pytest.approx(np.log(100), rel=1e-12)
    assert constants.log_term == pytest.approx(np.log(8 * 10 / 0.2), rel=1e-12)
    # a one-neuron network: ηη* is floored at 2 so that log(ηη*) > 0
    assert theory_constants([1], delta=0.1).K == pytest.approx(np.log(2), rel=1e-12)


def test_auto_calibration_size_by_hand():
    # ⌈log(8 · 1800 / 0.1) · log(1800)⌉ = ⌈11.8776 · 7.4955⌉ = ⌈89.03⌉
    assert auto_calibration_size([30, 20, 10], delta=0.1) == 90
    # more confidence needs more points
    sizes = [auto_calibration_size([30, 20, 10], delta) for delta in (0.5, 0.1, 0.01, 1e-4)]
    assert sizes == sorted(sizes) and len(set(sizes)) == 4


def test_layer_conditions_by_hand():
    relative_conditions = [np.array([1.0, 2.0]), np.array([1.5]), np.array([1.0, 1.2, 1.1])]
    delta_hat, downstream = layer_conditions(relative_conditions, kappa=0.5)
    # Δ^ℓ = max_i mean Δ_i + κ; Δ^{ℓ→} = Π_{k ≥ ℓ} Δ^k
    np.testing.assert_allclose(delta_hat, [2.5, 2.0, 1.7], rtol=1e-12)
    np.testing.assert_allclose(downstream, [2.5 * 2.0 * 1.7, 2.0 * 1.7, 1.7], rtol=1e-12)


def test_layer_epsilons_by_hand():
    # ε_ℓ = ε / (2 (L − 1) Δ^{ℓ→}) with L − 1 = 3 weight layers
    np.testing.assert_allclose(layer_epsilons(0.6, np.array([6.0, 3.0, 1.5])), [1 / 60, 1 / 30, 1 / 15], rtol=1e-12)


def test_theory_sample_sizes_by_hand():
    # m = ⌈8 S K log(8η/δ) / ε_ℓ²⌉ = ⌈8 · S · 2 · 1.5 / 0.25⌉ = ⌈96 S⌉
    constants = TheoryConstants(kappa=0.0, K=2.0, log_term=1.5)
    row_sums = np.array([[1.0, 0.25, 0.0], [2.5 / 96, 10.0, 1e300]])
    sizes = theory_sample_sizes(row_sums, 0.5, constants)
    assert sizes.dtype == np.int64 and sizes.shape == (2, 3)
    np.testing.assert_array_equal(sizes, [[96, 24, 0], [3, 960, 2**62]])


def test_theory_sample_sizes_grow_as_one_over_epsilon_squared():
    constants = theory_constants([30, 20, 10], delta=0.1)
    row_sums = np.array([[1.0, 3.0, 17.0], [2.0, 5.5, 40.0]])
    coarse = theory_sample_sizes(row_sums, 0.2, constants)
    fine = theory_sample_sizes(row_sums, 0.1, constants)
    np.testing.assert_allclose(fine / coarse, 4.0, rtol=1e-3)
    # and linearly with the sensitivity
    np.testing.assert_allclose(coarse[0, 2] / coarse[0, 0], 17.0, rtol=1e-3)


@pytest.mark.parametrize("c", [3.0, 250.0, 1e5])
def test_epsilon_for_allocation_inverts_the_sample_sizes(c):
    constants = theory_constants([30, 20, 10], delta=0.1)
    downstream = np.array([50.0, 10.0, 2.0])
    row_sums = np.random.default_rng(0).uniform(1, 5, size=(3, 2, 7))
    for scale in (np.ones(3), np.array([1.0, 0.3, 0.05])):
        epsilon, eps_layer = epsilon_for_allocation(c, scale, downstream, constants)
        for layer in range(3):
            # ε_ℓ gives back the budget's sample sizes m = c · scale_ℓ · S
            sizes = theory_sample_sizes(row_sums[layer], eps_layer[layer], constants)
            target = c * scale[layer] * row_sums[layer]
            assert np.all(np.abs(sizes - target) <= 1)
        # ε is the smallest network ε whose layer ε_ℓ (Alg. 1, line 9) are all
        # at least the budget's: the budget draws at least what theory mode at
        # ε asks for, and as many at the binding layer
        theory = layer_epsilons(epsilon, downstream)
        assert np.all(theory >= eps_layer * (1 - 1e-12))
        assert np.min(theory / eps_layer) == pytest.approx(1.0, rel=1e-12)
        for layer in range(3):
            asked = theory_sample_sizes(row_sums[layer], theory[layer], constants)
            assert np.all(asked <= c * scale[layer] * row_sums[layer] + 1)


def test_theory_allocation_reports_the_epsilon_of_theory_mode():
    # allocation="theory" shares draws as (Δ^{ℓ→})², so theory mode at the
    # reported ε gives every layer the budget's sample sizes
    constants = theory_constants([30, 20, 10], delta=0.1)
    downstream = np.array([50.0, 10.0, 2.0])
    scale = (downstream / downstream[0]) ** 2
    epsilon, eps_layer = epsilon_for_allocation(40.0, scale, downstream, constants)
    np.testing.assert_allclose(layer_epsilons(epsilon, downstream), eps_layer, rtol=1e-12)


# -- the expected kept count ------------------------------------------------------------


def test_expected_kept_by_hand():
    plan = _two_row_plan()
    # c = 1: m = (1, 2); kept = [2 − (½ + ½)] + [3 − (0.8² + 0.7² + 0.5²)] = 1 + 1.62
    assert expected_kept([plan], 1.0) == pytest.approx(2.62, rel=1e-12)
    # c = 1.5: m = (⌈1.5⌉, 3) = (2, 3); row 0 is whole at 2 draws (2 · ½² ≤ ½
    # edge expected missed) and keeps both edges: kept = 2 + [3 − (0.512 + 0.343 + 0.125)]
    assert plan.complete_rows(plan.draws_for(1.5)).tolist() == [True, False]
    assert expected_kept([plan], 1.5) == pytest.approx(4.02, rel=1e-12)
    assert expected_kept([plan], 1.5, fixed=5) == pytest.approx(9.02, rel=1e-12)
    # its slope in c: −Σ (1 − q)^m log(1 − q) α
    value, slope = expected_kept([plan], 1.0, slope=True)
    expected_slope = -(2 * 0.5 * np.log(0.5)) - 2 * (0.64 * np.log(0.8) + 0.49 * np.log(0.7) + 0.25 * np.log(0.5))
    assert value == pytest.approx(2.62, rel=1e-12)
    assert slope == pytest.approx(expected_slope, rel=1e-12)


def test_expected_kept_is_the_mean_number_of_distinct_edges(layer):
    plan, _, _ = layer
    rng = np.random.default_rng(1)
    c = 0.6
    m = plan.draws_for(c)
    assert not plan.complete_rows(m).any()  # no row kept whole: plain multinomial draws
    kept = [np.count_nonzero(multinomial_counts(plan, m, rng)[0]) for _ in range(2000)]
    error = np.std(kept) / np.sqrt(len(kept))
    assert abs(np.mean(kept) - expected_kept([plan], c)) <= 5 * error
    assert error > 0.01  # the draws do vary


# -- the allocation solve ------------------------------------------------------------------


@pytest.mark.parametrize("fraction", [0.2, 0.3, 0.6, 0.9])
def test_allocation_solve_hits_the_expected_budget(layer, fraction):
    # the expected count is within half an edge of the budget, or the budget
    # sits on a step of the count (m = ceil(c α)) that c straddles
    plan, _, _ = layer
    budget = fraction * plan.capacity
    c = solve_allocation([plan], budget)
    value = expected_kept([plan], c)
    below = expected_kept([plan], c * (1 - 2e-6))
    assert abs(value - budget) <= 0.5 or below <= budget <= value


def test_allocation_solve_beyond_capacity_is_infinite(layer):
    plan, _, _ = layer
    assert solve_allocation([plan], plan.capacity) == np.inf


def test_allocation_solve_counts_fixed_parameters(layer):
    plan, _, _ = layer
    budget = 0.5 * plan.capacity
    c = solve_allocation([plan], budget + 40, fixed=40)
    value = expected_kept([plan], c, fixed=40)
    below = expected_kept([plan], c * (1 - 2e-6), fixed=40)
    assert abs(value - budget - 40) <= 0.5 or below <= budget + 40 <= value


def test_allocation_constant_grows_with_the_budget(layer):
    plan, _, _ = layer
    constants = [solve_allocation([plan], fraction * plan.capacity) for fraction in (0.2, 0.4, 0.6, 0.8, 0.95)]
    assert np.all(np.diff(constants) > 0)
