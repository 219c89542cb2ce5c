import copy
import dataclasses
import warnings
from functools import partial

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import config_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from sklearn_corenet import METHODS
from sklearn_corenet.adapters._sklearn import network_from_sklearn
from sklearn_corenet.algorithm import (
    CompressionSettings,
    compute_layer_statistics,
    draw_compression,
    plan_compression,
)
from sklearn_corenet.algorithm._draw import remove_neurons
from sklearn_corenet.algorithm._plan import (
    HELD_OUT_FRACTION,
    MAX_AMPLIFICATION_SIZE,
    build_sampling_plans,
    compression_mode,
    layer_scale,
    split_calibration,
)
from sklearn_corenet.algorithm._sample_size import auto_calibration_size, expected_kept
from sklearn_corenet.algorithm._sampling import BUDGET_DRAWS_PER_EDGE
from sklearn_corenet.core import Network

SAMPLING = ["corenet", "corenet+", "corenet++", "uniform", "l1", "l2", "l1+l2"]
SELECTION = ["magnitude", "wanda"]


@pytest.fixture(scope="module")
def model(digits):
    """A small trained 64-30-20-10 network and calibration points."""
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier(hidden_layer_sizes=(30, 20), max_iter=60, random_state=0).fit(X[:800], y[:800])
    return network_from_sklearn(mlp), X[800:1200]


def _settings(**changes):
    settings = CompressionSettings(
        epsilon=0.5,
        delta=0.1,
        keep_ratio=0.3,
        n_trials=3,
        calibration_size="auto",
        allocation="sensitivity",
        K=None,
    )
    return dataclasses.replace(settings, **changes)


def _plan(network, X, method, seed=0, **changes):
    method = METHODS[method] if isinstance(method, str) else method
    return plan_compression(
        network,
        X,
        method,
        _settings(**changes),
        np.random.RandomState(seed),
        statistics=partial(compute_layer_statistics),
        sampling_plans=build_sampling_plans,
    )


def _draw(plan, seed=0, reweight=None):
    reweight = reweight or plan.method.reweights[0]
    return draw_compression(plan, np.random.default_rng(seed), reweight=reweight, ridge=1e-3)


def _nnz(network):
    return sum(int(np.count_nonzero(W)) + int(np.count_nonzero(b)) for W, b in zip(network.coefs, network.intercepts, strict=True))


def _plan_arrays(plan):
    """Every array a plan holds, copied."""
    problem = plan.problem
    arrays = [*problem.weights, problem.X, *problem.active, *problem.network.coefs, *problem.network.intercepts]
    arrays += problem.held_out_inputs or []
    for stats in problem.statistics or []:
        arrays += [stats.sensitivity, stats.relative_condition, stats.alive]
    for sampling_plan in plan.sampling_plans or []:
        arrays += [sampling_plan.probabilities.toarray(), sampling_plan.allocation]
    arrays += list(plan.sample_sizes) + [plan.layer_epsilons]
    return copy.deepcopy(arrays)


def _network_with_dead_neurons():
    """A 6-5-4-3 ReLU network in which neuron 2 of the first hidden layer and
    neuron 0 of the second never fire on non-negative inputs."""
    rng = np.random.default_rng(0)
    coefs = [rng.normal(size=(6, 5)), rng.normal(size=(5, 4)), rng.normal(size=(4, 3))]
    intercepts = [np.full(5, 3.0), np.full(4, 3.0), rng.normal(size=3)]
    coefs[0][:, 2] = -np.abs(coefs[0][:, 2])
    intercepts[0][2] = -1.0
    coefs[1][:, 0] = -np.abs(coefs[1][:, 0])
    intercepts[1][0] = -1.0
    return Network(coefs, intercepts), rng.random((60, 6))


# -- the plan -------------------------------------------------------------------


def test_compression_mode():
    assert compression_mode(None) == "theory"
    assert compression_mode(1.0) == "keep_all"
    assert compression_mode(0.5) == "budget"
    assert compression_mode(1e-6) == "budget"


@pytest.mark.parametrize("method", ["corenet++", "magnitude"])
def test_plan_is_immutable(model, method):
    plan = _plan(*model, method)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.budget = 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.problem.X = None
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.sampling_plans = []


def test_plan_reports_budget_and_sizes(model):
    network, X = model
    plan = _plan(network, X, "corenet", keep_ratio=0.25)
    assert plan.mode == "budget" and plan.budget == round(0.25 * network.n_params)
    assert plan.n_trials == 1  # only amplifying methods take several trials
    assert _plan(network, X, "corenet++", keep_ratio=0.25).n_trials == 3
    # the allocation constant meets the budget in expectation
    expected = expected_kept(plan.sampling_plans, plan.allocation_constant)
    assert abs(expected - plan.budget) <= 0.01 * plan.budget
    assert [m.shape for m in plan.sample_sizes] == [(2, W.shape[1]) for W in network.coefs]
    assert np.isfinite(plan.epsilon) and plan.epsilon > 0
    assert plan.delta_hat.shape == (network.n_layers,) and np.all(plan.delta_hat >= 1)


def test_selection_methods_plan_no_sampling(model):
    network, X = model

    def no_statistics(*args, **kwargs):
        raise AssertionError("magnitude pruning needs no calibration statistics")

    plan = plan_compression(
        network,
        X,
        METHODS["magnitude"],
        _settings(),
        np.random.RandomState(0),
        statistics=no_statistics,
        sampling_plans=build_sampling_plans,
    )
    assert plan.sampling_plans is None and plan.sample_sizes == [] and plan.allocation_constant is None
    assert np.isnan(plan.epsilon) and plan.problem.statistics is None


def test_theory_mode_needs_a_method_with_theory(model):
    with pytest.raises(ValueError, match="keep_ratio"):
        _plan(*model, "magnitude", keep_ratio=None)
    plan = _plan(*model, "corenet", keep_ratio=None)
    assert plan.mode == "theory" and plan.epsilon == 0.5 and plan.budget is None
    assert plan.theoretical_nnz > 0


def test_sparse_calibration_data_plans_like_dense(model):
    network, X = model
    dense = _plan(network, X, "corenet++")
    sparse = _plan(network, sp.csr_matrix(X), "corenet++")
    assert sparse.calibration_size == dense.calibration_size
    assert sparse.allocation_constant == dense.allocation_constant
    for a, b in zip(sparse.sample_sizes, dense.sample_sizes, strict=True):
        np.testing.assert_array_equal(a, b)
    # never densified whole: chunks are, where a step needs dense rows
    assert sp.issparse(sparse.problem.X)


@pytest.mark.parametrize(
    "method, reweight",
    [("corenet++", "unbiased"), ("corenet", "lstsq"), ("wanda", "lstsq"), ("neurons-activation", "none")],
)
def test_sparse_calibration_data_draws_like_dense(model, method, reweight):
    network, X = model
    with config_context(working_memory=1):  # several chunks of rows
        drawn = [
            _draw(_plan(network, data, method, keep_ratio=0.3), 2, reweight)
            for data in (X, sp.csr_array(X), sp.csc_matrix(X))
        ]
    for other in drawn[1:]:
        for a, b in zip(drawn[0].network.coefs, other.network.coefs, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


# -- S and T ---------------------------------------------------------------------


def _indexed_rows(n_points):
    """Calibration rows whose first column is their index."""
    return np.column_stack([np.arange(n_points, dtype=np.float64), np.ones(n_points)])


@pytest.mark.parametrize("n_points", [10, 200, 6000])
@pytest.mark.parametrize("method", ["corenet", "corenet++"])
def test_split_calibration_gives_disjoint_points(n_points, method):
    widths = [30, 20, 10]
    method = METHODS[method]
    points, held_out = split_calibration(
        _indexed_rows(n_points), widths, method, _settings(), np.random.RandomState(0)
    )
    S = points[:, 0].astype(int)
    assert np.unique(S).size == S.size and S.min() >= 0 and S.max() < n_points
    n_held_out = max(1, int(np.ceil(HELD_OUT_FRACTION * n_points))) if method.amplifies else 0
    assert S.size == min(auto_calibration_size(widths, 0.1), n_points - n_held_out)
    if not method.amplifies:
        assert held_out is None
        return
    T = held_out[:, 0].astype(int)
    assert np.unique(T).size == T.size
    assert not set(S.tolist()) & set(T.tolist())
    assert 1 <= T.size <= MAX_AMPLIFICATION_SIZE


@pytest.mark.parametrize("n_points", [10, 200, 1000, 6000])
def test_held_out_points_are_every_row_not_in_s(n_points):
    # split_calibration's docstring: a fifth of the rows (at least one) is
    # reserved for T, so |S| is at most the rest; T is every row not in S, at
    # most MAX_AMPLIFICATION_SIZE
    points, held_out = split_calibration(
        _indexed_rows(n_points), [30, 20, 10], METHODS["corenet++"], _settings(), np.random.RandomState(0)
    )
    reserved = max(1, int(np.ceil(HELD_OUT_FRACTION * n_points)))
    assert points.shape[0] <= n_points - reserved
    assert held_out.shape[0] == min(n_points - points.shape[0], MAX_AMPLIFICATION_SIZE)
    assert held_out.shape[0] >= min(reserved, MAX_AMPLIFICATION_SIZE)
    assert not set(points[:, 0].tolist()) & set(held_out[:, 0].tolist())


def test_split_calibration_given_size():
    X = _indexed_rows(100)
    points, held_out = split_calibration(
        X, [30, 20, 10], METHODS["corenet++"], _settings(calibration_size=80), np.random.RandomState(1)
    )
    assert points.shape[0] == 80 and held_out.shape[0] == 20
    assert not set(points[:, 0].tolist()) & set(held_out[:, 0].tolist())
    # more than the rows left once T is held out
    with pytest.raises(ValueError, match="calibration_size=81"):
        split_calibration(X, [30, 20, 10], METHODS["corenet++"], _settings(calibration_size=81), np.random.RandomState(1))
    # without amplification all rows can be S
    points, held_out = split_calibration(
        X, [30, 20, 10], METHODS["corenet"], _settings(calibration_size=100), np.random.RandomState(1)
    )
    assert points.shape[0] == 100 and held_out is None
    with pytest.raises(ValueError, match="at least 2 calibration rows"):
        split_calibration(X[:1], [30, 20, 10], METHODS["corenet++"], _settings(), np.random.RandomState(1))


def test_split_calibration_is_seeded_and_keeps_sparse_points_sparse():
    X = _indexed_rows(300)
    first = split_calibration(sp.csr_matrix(X), [30, 20, 10], METHODS["corenet++"], _settings(), np.random.RandomState(4))
    again = split_calibration(X, [30, 20, 10], METHODS["corenet++"], _settings(), np.random.RandomState(4))
    other = split_calibration(X, [30, 20, 10], METHODS["corenet++"], _settings(), np.random.RandomState(5))
    # S as the data came (sparse S is densified a chunk at a time); T, at most
    # MAX_AMPLIFICATION_SIZE rows, dense
    assert sp.issparse(first[0]) and isinstance(first[1], np.ndarray)
    for a, b in zip(first, again, strict=True):
        assert isinstance(b, np.ndarray) and b.flags.c_contiguous
        np.testing.assert_array_equal(a.toarray() if sp.issparse(a) else a, b)
    assert not np.array_equal(first[0].toarray(), other[0])


# -- draws -------------------------------------------------------------------------


@pytest.mark.parametrize("method", SAMPLING + SELECTION)
@pytest.mark.parametrize("keep_ratio", [0.1, 0.3])
def test_budget_mode_meets_the_budget_exactly(model, method, keep_ratio):
    network, X = model
    plan = _plan(network, X, method, keep_ratio=keep_ratio)
    for seed in (0, 1):
        drawn = _draw(plan, seed)
        assert _nnz(drawn.network) == plan.budget


@pytest.mark.parametrize("method", ["corenet", "corenet++", "l1", "uniform", "wanda"])
def test_equal_generators_draw_equal_networks(model, method):
    network, X = model
    plan = _plan(network, X, method)
    first, again, other = _draw(plan, 7), _draw(plan, 7), _draw(plan, 8)
    for a, b in zip(first.network.coefs + first.network.intercepts, again.network.coefs + again.network.intercepts, strict=True):
        np.testing.assert_array_equal(a, b)
    assert first.allocation_constant == again.allocation_constant
    if plan.method.samples:  # another generator draws another network
        assert any(not np.array_equal(a, b) for a, b in zip(first.network.coefs, other.network.coefs, strict=True))


@pytest.mark.parametrize(
    "method, keep_ratio, reweight",
    [
        ("corenet++", 0.2, "unbiased"),
        ("corenet++", None, "unbiased"),
        ("corenet+", 0.2, "lstsq"),
        ("l1+l2", 0.2, "unbiased"),
        ("wanda", 0.2, "lstsq"),
        ("magnitude", 0.2, "none"),
        ("corenet", 1.0, "unbiased"),
    ],
)
def test_drawing_never_modifies_the_plan(model, method, keep_ratio, reweight):
    network, X = model
    plan = _plan(network, X, method, keep_ratio=keep_ratio)
    before = _plan_arrays(plan)
    for seed in (0, 1):
        _draw(plan, seed, reweight)
    after = _plan_arrays(plan)
    assert len(before) == len(after)
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(old, new)


@pytest.mark.parametrize("method, keep_ratio", [("corenet", 0.2), ("magnitude", 0.2), ("corenet", None), ("corenet", 1.0)])
def test_drawn_network_shares_no_memory_with_the_plan(model, method, keep_ratio):
    # the plan serves every later draw: editing a drawn network must not change it
    network, X = model
    plan = _plan(network, X, method, keep_ratio=keep_ratio)
    drawn = _draw(plan)
    held = [*plan.problem.weights, *network.coefs, *network.intercepts]
    for array in drawn.network.coefs + drawn.network.intercepts:
        assert not any(np.shares_memory(array, other) for other in held)


def test_keep_all_draws_the_original(model):
    network, X = model
    for method in ("corenet++", "magnitude"):
        drawn = _draw(_plan(network, X, method, keep_ratio=1.0))
        for a, b in zip(drawn.network.coefs + drawn.network.intercepts, network.coefs + network.intercepts, strict=True):
            np.testing.assert_array_equal(a, b)
        assert drawn.start is None


def test_theory_draw_keeps_at_most_the_bound(model):
    network, X = model
    for epsilon in (0.5, 0.9):
        plan = _plan(network, X, "corenet++", keep_ratio=None, epsilon=epsilon)
        assert _nnz(_draw(plan).network) <= plan.theoretical_nnz


@pytest.mark.parametrize("method", ["corenet", "corenet++", "magnitude"])
def test_lstsq_draw_returns_the_chosen_edges_as_start(model, method):
    network, X = model
    plan = _plan(network, X, method, keep_ratio=0.2)
    plain = _draw(plan, 3, "unbiased" if plan.method.samples else "none")
    refit = _draw(plan, 3, "lstsq")
    assert plain.start is None and refit.start is not None
    # the start holds the kept edges only: sparse weight matrices
    assert all(sp.issparse(W) for W in refit.start.coefs)
    start_coefs = [W.toarray() for W in refit.start.coefs]
    for start, fitted, chosen in zip(
        start_coefs + refit.start.intercepts,
        refit.network.coefs + refit.network.intercepts,
        plain.network.coefs + plain.network.intercepts,
        strict=True,
    ):
        # the start is the draw without the re-fit, with its non-zero pattern
        np.testing.assert_array_equal(start, chosen)
        np.testing.assert_array_equal(start != 0, fitted != 0)
    assert any(not np.array_equal(a, b) for a, b in zip(start_coefs, refit.network.coefs, strict=True))


def test_corenet_plus_draw_removes_the_dead_neurons():
    network, X = _network_with_dead_neurons()
    plan = _plan(network, X, "corenet+", keep_ratio=0.6)
    drawn = _draw(plan)
    np.testing.assert_array_equal(drawn.active[0], [True, True, False, True, True])
    np.testing.assert_array_equal(drawn.active[1], [False, True, True, True])
    assert drawn.network.hidden_layer_sizes == (4, 3)
    assert _nnz(drawn.network) == plan.budget
    # plain CoreNet keeps the width
    assert _draw(_plan(network, X, "corenet", keep_ratio=0.6)).network.hidden_layer_sizes == (5, 4)


def test_remove_neurons_takes_the_column_and_the_next_row():
    network, X = _network_with_dead_neurons()
    layers = network.augmented_weights()
    active = [np.array([True, True, False, True, True]), np.array([False, True, True, True]), np.ones(3, dtype=bool)]
    reduced = remove_neurons(network, layers, active)
    assert [W.shape for W in reduced.coefs] == [(6, 4), (4, 3), (3, 3)]
    np.testing.assert_array_equal(reduced.coefs[0], network.coefs[0][:, active[0]])
    np.testing.assert_array_equal(reduced.intercepts[0], network.intercepts[0][active[0]])
    np.testing.assert_array_equal(reduced.coefs[1], network.coefs[1][active[0]][:, active[1]])
    np.testing.assert_array_equal(reduced.intercepts[1], network.intercepts[1][active[1]])
    np.testing.assert_array_equal(reduced.coefs[2], network.coefs[2][active[1]])
    np.testing.assert_array_equal(reduced.intercepts[2], network.intercepts[2])
    assert reduced.activation == network.activation and reduced.head == network.head
    # the removed neurons never fire on X: the function is unchanged
    np.testing.assert_allclose(reduced.decision(X), network.decision(X), rtol=1e-12, atol=1e-12)
    # and the original is left as it was
    assert [W.shape for W in network.coefs] == [(6, 5), (5, 4), (4, 3)]


def test_remove_neurons_keeps_everything_when_all_are_active():
    network, _ = _network_with_dead_neurons()
    layers = network.augmented_weights()
    reduced = remove_neurons(network, layers, [np.ones(W.shape[1], dtype=bool) for W in layers])
    for a, b in zip(reduced.coefs + reduced.intercepts, network.coefs + network.intercepts, strict=True):
        np.testing.assert_array_equal(a, b)


# -- helpers of the budget -----------------------------------------------------------


def test_layer_scale():
    downstream = np.array([8.0, 4.0, 2.0])
    np.testing.assert_allclose(layer_scale("theory", downstream, 3), [1.0, 0.25, 0.0625], rtol=1e-15)
    np.testing.assert_array_equal(layer_scale("sensitivity", downstream, 3), np.ones(3))
    np.testing.assert_array_equal(layer_scale("theory", None, 3), np.ones(3))


def test_build_sampling_plans_for_budgets(model):
    network, X = model
    plan = _plan(network, X, "corenet", keep_ratio=None)
    problem, method = plan.problem, plan.method
    theory = build_sampling_plans(method, problem, np.ones(3))
    budget = build_sampling_plans(method, problem, np.ones(3), seed=4)
    again = build_sampling_plans(method, problem, np.ones(3), seed=4)
    for t, b, a in zip(theory, budget, again, strict=True):
        assert t.max_draws_per_edge == np.inf and b.max_draws_per_edge == BUDGET_DRAWS_PER_EDGE
        np.testing.assert_array_equal(b.allocation, a.allocation)
        # a negligible perturbation of the allocation, only to break ties
        np.testing.assert_allclose(b.allocation, t.allocation, rtol=1e-8)
        np.testing.assert_array_equal(b.probabilities.toarray(), t.probabilities.toarray())
