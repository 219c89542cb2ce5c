import copy

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_corenet import (
    METHODS,
    CoreNetCompressor,
    Method,
    SamplingMethod,
    SelectionMethod,
    register_method,
)
from sklearn_corenet.algorithm import CompressionProblem, compute_layer_statistics
from sklearn_corenet.core import Network
from sklearn_corenet.methods import (
    ActivationMagnitude,
    Magnitude,
    MatrixSampling,
    Uniform,
    get_method,
)
from sklearn_corenet.methods._budget import (
    OUTPUT_EDGES_PER_NEURON,
    output_floor,
    top_edges,
)
from sklearn_corenet.methods._magnitude import global_magnitude_masks


def _pattern(shape):
    """A fixed pattern no built-in method would choose: every third entry."""
    return np.arange(np.prod(shape)).reshape(shape) % 3 == 0


class EveryThirdEdge(SelectionMethod):
    """A user-defined method: keeps every third entry, whatever the budget."""

    name = "every-third-edge"
    in_paper = False

    def __init__(self):
        self.budgets = []

    def select(self, problem, budget):
        self.budgets.append(budget)
        return [np.where(_pattern(W.shape), W, 0) for W in problem.weights]


@pytest.fixture
def registered():
    """Register methods for one test only."""
    names = []

    def register(method):
        names.append(method.name)
        return register_method(method)

    yield register
    for name in names:
        METHODS.pop(name, None)


def _network_with_dead_neurons(seed=0):
    """A 6-5-4-3 ReLU network whose neuron 2 (first hidden layer) and neuron 0
    (second hidden layer) never fire on non-negative inputs."""
    rng = np.random.default_rng(seed)
    coefs = [rng.normal(size=(6, 5)), rng.normal(size=(5, 4)), rng.normal(size=(4, 3))]
    # the other hidden neurons fire at least on some points
    intercepts = [np.full(5, 3.0), np.full(4, 3.0), rng.normal(size=3)]
    coefs[0][:, 2] = -np.abs(coefs[0][:, 2])
    intercepts[0][2] = -1.0
    coefs[1][:, 0] = -np.abs(coefs[1][:, 0])
    intercepts[1][0] = -1.0
    network = Network(coefs, intercepts)
    X = rng.random((40, 6))
    return network, X


def _problem(network, X, statistics=None, active=None):
    weights = network.augmented_weights()
    if active is None:
        active = [np.ones(W.shape[1], dtype=bool) for W in weights]
    return CompressionProblem(network, weights, X, statistics, active, None)


# -- the registry -----------------------------------------------------------------


def test_every_registered_method_is_a_sampling_or_selection_method():
    assert len(METHODS) >= 9
    for name, method in METHODS.items():
        assert isinstance(method, (SamplingMethod, SelectionMethod)), name
        assert method.name == name
        assert method.samples == isinstance(method, SamplingMethod)
        assert method.reweights, name
        # a method that needs no statistics cannot run from epsilon alone
        assert not method.theory_mode or method.needs_statistics
        assert get_method(name) is method
    assert {"corenet", "corenet+", "corenet++", "uniform", "l1", "l2", "l1+l2", "magnitude", "wanda"} <= set(METHODS)
    # n_trials matters for CoreNet++ only
    assert {name for name, method in METHODS.items() if method.amplifies} == {"corenet++"}


def test_a_user_method_object_is_used(digits, digits_mlp):
    X, _ = digits
    method = EveryThirdEdge()
    compressor = CoreNetCompressor(method=method, keep_ratio=0.3).fit(digits_mlp, X[:200])
    assert compressor.method_ is method and compressor.reweight_ == "none"
    sparse = compressor.transform()
    n_params = sum(W.size + b.size for W, b in zip(digits_mlp.coefs_, digits_mlp.intercepts_, strict=True))
    assert method.budgets == [round(0.3 * n_params)]
    for W_sparse, b_sparse, W, b in zip(
        sparse.coefs_, sparse.intercepts_, digits_mlp.coefs_, digits_mlp.intercepts_, strict=True
    ):
        kept = _pattern((W.shape[0] + 1, W.shape[1]))
        np.testing.assert_array_equal(W_sparse.toarray(), np.where(kept[:-1], W, 0))
        np.testing.assert_array_equal(b_sparse, np.where(kept[-1], b, 0))
    assert sparse.compression_info_["method"] == "every-third-edge"


def test_register_method_makes_its_name_valid(digits, digits_mlp, registered):
    X, _ = digits
    method = EveryThirdEdge()
    with pytest.raises(InvalidParameterError):
        CoreNetCompressor(method=method.name, keep_ratio=0.3).fit(digits_mlp, X[:200])
    assert registered(method) is method
    compressor = CoreNetCompressor(method=method.name, keep_ratio=0.3).fit(digits_mlp, X[:200])
    assert compressor.method_ is method
    kept = _pattern((digits_mlp.coefs_[0].shape[0] + 1, digits_mlp.coefs_[0].shape[1]))
    np.testing.assert_array_equal(
        compressor.transform().coefs_[0].toarray() != 0, kept[:-1] & (digits_mlp.coefs_[0] != 0)
    )
    # and it is listed among the valid names
    with pytest.raises(InvalidParameterError, match=method.name):
        CoreNetCompressor(method="nope").fit(digits_mlp, X[:50])


@pytest.mark.parametrize("not_a_method", ["corenet", Method(), object(), Magnitude])
def test_register_method_refuses_other_objects(not_a_method):
    before = dict(METHODS)
    with pytest.raises(TypeError, match="SamplingMethod or SelectionMethod"):
        register_method(not_a_method)
    assert METHODS == before


@pytest.mark.parametrize("name", ["auto", "", None])
def test_register_method_refuses_the_name_auto_and_empty_names(name):
    method = EveryThirdEdge()
    method.name = name
    before = dict(METHODS)
    with pytest.raises(ValueError, match="name other than 'auto'"):
        register_method(method)
    assert METHODS == before


def test_unknown_method_lists_the_valid_names(digits, digits_mlp):
    with pytest.raises(InvalidParameterError) as error:
        CoreNetCompressor(method="nope", keep_ratio=0.5).fit(digits_mlp, digits[0][:50])
    message = str(error.value)
    assert "'nope'" in message
    for name in ["auto", *METHODS]:
        assert repr(name) in message
    with pytest.raises(ValueError, match="unknown method 'nope'; valid methods: .*corenet\\+\\+"):
        get_method("nope")


# -- what the methods keep -------------------------------------------------------------


def test_only_pruning_methods_drop_dead_neurons():
    network, X = _network_with_dead_neurons()
    statistics = compute_layer_statistics(network, X)
    np.testing.assert_array_equal(statistics[0].alive, [True, True, False, True, True])
    np.testing.assert_array_equal(statistics[1].alive, [False, True, True, True])
    weights = network.augmented_weights()
    pruning = set()
    for name, method in METHODS.items():
        active = method.active_neurons(weights, statistics)
        assert [a.shape for a in active] == [(5,), (4,), (3,)]
        assert active[-1].all(), name  # output neurons are never removed
        if method.prunes_dead_neurons:
            pruning.add(name)
            np.testing.assert_array_equal(active[0], statistics[0].alive)
            np.testing.assert_array_equal(active[1], statistics[1].alive)
        else:
            assert all(a.all() for a in active), name
        # without statistics nothing can be known dead
        assert all(a.all() for a in method.active_neurons(weights, None)), name
    assert pruning == {"corenet+", "corenet++"}


def test_corenet_plus_samples_no_edge_into_a_dead_neuron():
    network, X = _network_with_dead_neurons()
    statistics = compute_layer_statistics(network, X)
    for name in ("corenet", "corenet+"):
        method = METHODS[name]
        weights = network.augmented_weights()
        problem = _problem(network, X, statistics, method.active_neurons(weights, statistics))
        plan = method.plans(problem, np.ones(3))[0]
        dead_rows = plan.neuron_of_row() == 2
        if method.prunes_dead_neurons:
            assert plan.support_sizes[dead_rows].sum() == 0 and not plan.drawing_rows[dead_rows].any()
        else:
            assert plan.drawing_rows[dead_rows].any()


@pytest.mark.parametrize("budget", [1, 7, 30, 61, 200])
def test_magnitude_keeps_exactly_the_largest_weights(budget):
    rng = np.random.default_rng(budget)
    network = Network([rng.normal(size=(8, 6)), rng.normal(size=(6, 3))], [rng.normal(size=6), rng.normal(size=3)])
    problem = _problem(network, rng.random((5, 8)))
    layers = Magnitude().select(problem, budget)
    kept = np.concatenate([W.ravel() for W in layers]) != 0
    original = np.concatenate([W.ravel() for W in problem.weights])
    assert kept.sum() == min(budget, original.size)
    if 0 < kept.sum() < original.size:
        assert np.abs(original[kept]).min() > np.abs(original[~kept]).max()
    # kept entries keep their values
    np.testing.assert_array_equal(np.concatenate([W.ravel() for W in layers])[kept], original[kept])


def test_global_magnitude_masks_rank_all_layers_together():
    weights = [np.array([[0.1, -5.0], [2.0, 0.3]]), np.array([[-4.0], [0.2], [3.0]])]
    masks = global_magnitude_masks(weights, 3)
    np.testing.assert_array_equal(masks[0], [[False, True], [False, False]])
    np.testing.assert_array_equal(masks[1], [[True], [False], [True]])
    assert sum(int(m.sum()) for m in global_magnitude_masks(weights, 0)) == 0
    assert all(m.all() for m in global_magnitude_masks(weights, 100))


def test_wanda_keeps_exactly_the_budget(digits, digits_mlp):
    from sklearn_corenet.adapters._sklearn import network_from_sklearn

    X, _ = digits
    network = network_from_sklearn(digits_mlp)
    problem = _problem(network, X[:300])
    for budget in (500, 3000, 12000):
        layers = ActivationMagnitude().select(problem, budget)
        assert sum(int(np.count_nonzero(W)) for W in layers) == budget
        for W, original in zip(layers, problem.weights, strict=True):
            np.testing.assert_array_equal(W[W != 0], original[W != 0])


def test_wanda_never_keeps_an_input_that_is_always_zero(digits, digits_mlp):
    # digits has pixels that are zero on every calibration point: their edges
    # contribute nothing and rank last
    from sklearn_corenet.adapters._sklearn import network_from_sklearn

    X, _ = digits
    X = X[:300]
    silent = np.flatnonzero(~X.any(axis=0))
    assert silent.size > 0
    network = network_from_sklearn(digits_mlp)
    layers = ActivationMagnitude().select(_problem(network, X), 2000)
    assert not layers[0][silent].any()


def test_sampling_scores_and_allocations():
    network, X = _network_with_dead_neurons()
    statistics = compute_layer_statistics(network, X)
    weights = network.augmented_weights()
    corenet = METHODS["corenet"]
    for W, stats in zip(weights, statistics, strict=True):
        # m_i ∝ S_i: the allocation is the sensitivity row sum of each sign
        allocation = corenet.allocation(corenet.scores(W, stats), W, stats)
        np.testing.assert_allclose(allocation[0], np.where(W > 0, stats.sensitivity, 0).sum(axis=0), rtol=1e-12)
        np.testing.assert_allclose(allocation[1], np.where(W < 0, stats.sensitivity, 0).sum(axis=0), rtol=1e-12)
    # uniform: every edge of a row equally likely
    plan = Uniform().plans(_problem(network, X), np.ones(3))[0]
    for row in np.flatnonzero(plan.support_sizes):
        q = plan.probabilities.toarray()[row]
        np.testing.assert_allclose(q[q > 0], 1 / plan.support_sizes[row], rtol=1e-12)
    # the whole-matrix baselines: l1, l2 and their mean, each a distribution
    W = weights[0]
    l1 = MatrixSampling("l1").plans(_problem(network, X), np.ones(3))[0].probabilities.toarray().reshape(W.shape)
    l2 = MatrixSampling("l2").plans(_problem(network, X), np.ones(3))[0].probabilities.toarray().reshape(W.shape)
    mixed = MatrixSampling("l1+l2").plans(_problem(network, X), np.ones(3))[0].probabilities.toarray().reshape(W.shape)
    np.testing.assert_allclose(l1, np.abs(W) / np.abs(W).sum(), rtol=1e-12)
    np.testing.assert_allclose(l2, W**2 / (W**2).sum(), rtol=1e-12)
    np.testing.assert_allclose(mixed, (l1 + l2) / 2, rtol=1e-12)


# -- helpers of the selection methods ------------------------------------------------------


def test_top_edges_keeps_each_neurons_best_first():
    score = np.array([[9.0, 0.1, 0.0], [8.0, 0.2, 0.0], [7.0, 0.3, 0.5]])
    plain = top_edges(score, 3)
    np.testing.assert_array_equal(plain.sum(axis=0), [3, 0, 0])
    floored = top_edges(score, 3, per_neuron=1)
    # every neuron keeps its best edge of non-zero score, then the rest by score
    np.testing.assert_array_equal(floored, [[True, False, False], [False, False, False], [False, True, True]])
    assert top_edges(score, 5, per_neuron=1).sum() == 5


def test_output_floor_moves_edges_from_the_other_layers():
    weights = [np.zeros((785, 500)), np.zeros((501, 200)), np.zeros((201, 10))]
    counts = output_floor([8000, 4000, 30], weights)
    assert counts[-1] == OUTPUT_EDGES_PER_NEURON * 10
    assert sum(counts) == 12030 and counts[0] < 8000 and counts[1] < 4000
    assert counts[0] - counts[1] > 3000  # taken in proportion
    # never more than an equal share of the budget
    assert output_floor([60, 40, 5], weights) == [42, 28, 35]
    assert output_floor([8000, 4000, 300], weights) == [8000, 4000, 300]


def test_wanda_keeps_a_floor_of_edges_per_output_neuron(digits, digits_mlp):
    X, _ = digits
    mlp = copy.deepcopy(digits_mlp)
    mlp.coefs_[-1] *= 0.02  # small output weights: global magnitude's split starves the output layer
    mlp.intercepts_[-1] *= 0.02
    weights = [np.vstack([W, b]) for W, b in zip(mlp.coefs_, mlp.intercepts_, strict=True)]
    budget = round(0.05 * sum(W.size for W in weights))
    assert int(global_magnitude_masks(weights, budget)[-1].sum()) < OUTPUT_EDGES_PER_NEURON * 10
    sparse = CoreNetCompressor(keep_ratio=0.05, method="wanda", random_state=0).fit_transform(mlp, X[:500])
    # incoming edges of every output neuron, its bias included
    per_class = np.diff(sparse.coefs_[-1].tocsc().indptr) + (sparse.intercepts_[-1] != 0)
    assert per_class.min() >= OUTPUT_EDGES_PER_NEURON
    assert sparse.nnz_ == budget
