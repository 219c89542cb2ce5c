import numpy as np
import pytest

from sklearn_corenet import METHODS
from sklearn_corenet.algorithm import CompressionProblem, compute_layer_statistics
from sklearn_corenet.algorithm._draw_sequence import draw_sequence, multinomial_counts
from sklearn_corenet.algorithm._plan import build_sampling_plans
from sklearn_corenet.algorithm._sample_size import solve_allocation
from sklearn_corenet.algorithm._sampling import neuron_plan
from sklearn_corenet.algorithm._sensitivity import sensitivity_row_sums
from sklearn_corenet.algorithm._sparsify import (
    LayerSampler,
    count_threshold,
    sparsify_theory,
    sparsify_to_budget,
)
from sklearn_corenet.core import Network
from sklearn_corenet.core._network import augment


@pytest.fixture(scope="module")
def network():
    """A 20-16-12-5 ReLU network, sensitivity points S and held-out points T."""
    rng = np.random.default_rng(1)
    sizes = (20, 16, 12, 5)
    coefs = [rng.normal(size=(n_in, n_out)) / np.sqrt(n_in) for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)]
    intercepts = [rng.normal(size=n_out) * 0.3 for n_out in sizes[1:]]
    network = Network(coefs, intercepts)
    return network, rng.normal(size=(60, 20)), rng.normal(size=(80, 20))


def _budget_plans(network, points, method, seed=0):
    weights = network.augmented_weights()
    statistics = compute_layer_statistics(network, points)
    active = METHODS[method].active_neurons(weights, statistics)
    problem = CompressionProblem(network, weights, points, statistics, active, None)
    return build_sampling_plans(METHODS[method], problem, np.ones(len(weights)), seed), weights


def _mean_relative_error(inputs, weights, reference_weights):
    """Per neuron, mean over points of |ẑ − z| / |z| (what amplification minimises)."""
    A = augment(inputs)
    reference = A @ reference_weights
    return np.mean(np.abs(A @ weights - reference) / np.abs(reference), axis=0)


# -- count_threshold -------------------------------------------------------------------


def test_count_threshold_hits_count_exactly():
    thresholds = np.random.default_rng(5).random(1000)
    for count in (1, 10, 500, 999):
        c = count_threshold(thresholds, count, ceiling=2.0)
        assert np.count_nonzero(thresholds < c) == count


def test_count_threshold_out_of_reach():
    thresholds = np.random.default_rng(6).random(50)
    assert count_threshold(thresholds, 50, ceiling=3.0) == 3.0
    assert count_threshold(thresholds, 80, ceiling=3.0) == 3.0
    assert np.count_nonzero(thresholds < count_threshold(thresholds, 0, ceiling=3.0)) == 0


def test_count_threshold_separates_neighbours():
    # two thresholds a float apart: the constant still falls between them
    thresholds = np.array([0.5, np.nextafter(0.5, 1.0), 0.7])
    c = count_threshold(thresholds, 1, ceiling=1.0)
    assert np.count_nonzero(thresholds < c) == 1


# -- exact budgets ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, n_trials",
    [("corenet", 1), ("corenet", 3), ("corenet+", 3), ("uniform", 1), ("uniform", 3), ("l1", 1), ("l2", 1), ("l1+l2", 1)],
)
def test_sparsify_to_budget_keeps_exactly_the_budget(network, method, n_trials):
    net, points, held_out = network
    plans, weights = _budget_plans(net, points, method)
    capacity = sum(plan.capacity for plan in plans)
    # budgets above one edge per row (the floor of the neuron methods)
    floor = sum(int(np.count_nonzero(plan.drawing_rows)) for plan in plans)
    inputs = net.hidden_activations(held_out)
    for fraction in (0.2, 0.5, 0.8, 0.9):
        budget = int(fraction * capacity)
        assert budget > floor
        c_hint = solve_allocation(plans, budget)
        for seed in (0, 1, 2):
            layers, c = sparsify_to_budget(plans, weights, budget, c_hint, np.random.default_rng(seed), n_trials, inputs)
            assert (fraction, seed, sum(int(np.count_nonzero(W)) for W in layers)) == (fraction, seed, budget)
            assert c > 0


def test_amplified_whole_matrix_plans_keep_exactly_the_budget(network):
    # no built-in whole-matrix method amplifies, but a SamplingMethod with
    # matrix plans and amplifies=True reaches this path
    net, points, held_out = network
    plans, weights = _budget_plans(net, points, "l1")
    inputs = net.hidden_activations(held_out)
    budget = int(0.3 * sum(plan.capacity for plan in plans))
    c_hint = solve_allocation(plans, budget)
    for seed in (0, 1, 2):
        layers, _ = sparsify_to_budget(plans, weights, budget, c_hint, np.random.default_rng(seed), 3, inputs)
        assert sum(int(np.count_nonzero(W)) for W in layers) == budget


def test_sparsify_to_budget_does_not_depend_on_the_hint(network):
    # a hint far off only costs more draws: the budget still holds
    net, points, _ = network
    plans, weights = _budget_plans(net, points, "corenet")
    budget = int(0.3 * sum(plan.capacity for plan in plans))
    c_hint = solve_allocation(plans, budget)
    for hint in (c_hint / 1000, c_hint * 100, np.inf):
        layers, _ = sparsify_to_budget(plans, weights, budget, hint, np.random.default_rng(0))
        assert sum(int(np.count_nonzero(W)) for W in layers) == budget


def test_sparsify_to_budget_beyond_capacity_keeps_every_candidate(network):
    net, points, _ = network
    plans, weights = _budget_plans(net, points, "corenet+")
    capacity = sum(plan.capacity for plan in plans)
    layers, _ = sparsify_to_budget(plans, weights, capacity + 100, np.inf, np.random.default_rng(0))
    assert sum(int(np.count_nonzero(W)) for W in layers) == capacity
    for W, original, plan in zip(layers, weights, plans, strict=True):
        candidates = plan.to_layer(plan.probabilities.toarray()) > 0
        # whole rows keep their original weights
        np.testing.assert_array_equal(W[candidates], original[candidates])


def test_sparsify_to_budget_keeps_only_candidate_edges(network):
    net, points, _ = network
    plans, weights = _budget_plans(net, points, "corenet+")
    layers, _ = sparsify_to_budget(plans, weights, 300, solve_allocation(plans, 300), np.random.default_rng(3))
    for W, plan in zip(layers, plans, strict=True):
        candidates = plan.to_layer(plan.probabilities.toarray()) > 0
        assert not W[~candidates].any()


# -- theory mode ----------------------------------------------------------------------------


def test_sparsify_theory_keeps_whole_rows_unchanged(layer):
    plan, W, _ = layer
    layers = sparsify_theory([plan], [W], [plan.whole_sizes], np.random.default_rng(0))
    np.testing.assert_array_equal(layers[0], W)
    # with fewer draws the layer is sampled: fewer edges, other values
    small = np.maximum(plan.whole_sizes // 4, 1)
    sampled = sparsify_theory([plan], [W], [small], np.random.default_rng(0))[0]
    assert np.count_nonzero(sampled) < np.count_nonzero(W)


# -- amplification (CoreNet++) --------------------------------------------------------------


def test_amplification_never_worse_than_one_trial(layer):
    plan, W, inputs = layer
    rng = np.random.default_rng(6)
    m = np.maximum(np.ceil(0.5 * plan.allocation), 1).astype(np.int64)
    trials = [multinomial_counts(plan, m, rng) for _ in range(5)]
    sampler = LayerSampler(plan, W, trials, inputs[:, :-1])
    chosen, choice = sampler.best()
    exact = inputs @ W

    def error(weights):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.mean(np.abs(inputs @ weights - exact) / np.abs(exact), axis=0)

    best_error = error(chosen)
    for t in range(5):
        assert np.all(best_error <= error(sampler.candidate(t)) + 1e-12)
    assert len(set(choice.tolist())) > 1  # neurons do pick different trials


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_amplified_theory_draw_never_worse_than_its_first_trial(network, seed):
    net, points, held_out = network
    weights = net.augmented_weights()
    statistics = compute_layer_statistics(net, points)
    inputs = net.hidden_activations(held_out)
    for index, (W, stats) in enumerate(zip(weights, statistics, strict=True)):
        plan = neuron_plan(stats.sensitivity, np.sign(W), sensitivity_row_sums(stats.sensitivity, W))
        m = [np.maximum(np.ceil(0.3 * plan.allocation), 1).astype(np.int64)]
        # the first of five trials is the draw of one trial from an equal generator
        single = sparsify_theory([plan], [W], m, np.random.default_rng(seed), 1, [inputs[index]])[0]
        amplified = sparsify_theory([plan], [W], m, np.random.default_rng(seed), 5, [inputs[index]])[0]
        first = _mean_relative_error(inputs[index], single, W)
        best = _mean_relative_error(inputs[index], amplified, W)
        assert np.all(best <= first * (1 + 1e-12))
        assert np.any(best < first)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_amplified_budget_candidates_never_worse_than_the_first_trial(network, seed):
    net, points, held_out = network
    plans, weights = _budget_plans(net, points, "corenet++")
    inputs = net.hidden_activations(held_out)
    c = solve_allocation(plans, int(0.2 * sum(plan.capacity for plan in plans)))
    rng = np.random.default_rng(seed)
    for plan, W, A in zip(plans, weights, inputs, strict=True):
        sampler = LayerSampler(plan, W, [draw_sequence(plan, c, rng) for _ in range(5)], A)
        choice = sampler.choose(c)
        candidates = [sampler.candidate(t, c) for t in range(5)]
        combined = sampler.combine(candidates, choice)
        # the best candidate, computed from the choice alone, is the same
        np.testing.assert_array_equal(sampler.best(c)[0], combined)
        # the chosen layer, computed per neuron, is the combination of the candidates
        np.testing.assert_allclose(sampler.chosen(choice, c), combined, rtol=1e-12, atol=0)
        first = _mean_relative_error(A, candidates[0], W)
        best = _mean_relative_error(A, combined, W)
        assert np.all(best <= first * (1 + 1e-12))
        assert np.any(best < first)


def test_amplification_lowers_the_error_at_the_same_budget(network):
    # over several draws the best of five candidates per neuron is closer to
    # the original on T than one candidate, at the same number of kept edges
    net, points, held_out = network
    plans, weights = _budget_plans(net, points, "corenet++")
    inputs = net.hidden_activations(held_out)
    budget = int(0.2 * sum(plan.capacity for plan in plans))
    c_hint = solve_allocation(plans, budget)
    errors = {1: [], 5: []}
    for n_trials in errors:
        for seed in range(5):
            layers, _ = sparsify_to_budget(plans, weights, budget, c_hint, np.random.default_rng(seed), n_trials, inputs)
            errors[n_trials].append(
                np.mean([np.mean(_mean_relative_error(A, L, W)) for A, L, W in zip(inputs, layers, weights, strict=True)])
            )
    assert np.mean(errors[5]) < 0.8 * np.mean(errors[1])
