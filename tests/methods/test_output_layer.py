"""The output layer's budget under "wanda": the floor of edges, or dense where cheap."""

import numpy as np
import pytest

from sklearn_corenet import METHODS, CoreNetCompressor
from sklearn_corenet.adapters._sklearn import network_from_sklearn
from sklearn_corenet.algorithm import CompressionProblem
from sklearn_corenet.methods import ActivationMagnitude
from sklearn_corenet.methods._budget import (
    DENSE_OUTPUT_SHARE,
    OUTPUT_EDGES_PER_NEURON,
    dense_output_if_cheap,
    output_floor,
)
from sklearn_corenet.methods._magnitude import global_magnitude_counts

# a 784-500-200-10 network's augmented weights: only their shapes matter here
WEIGHTS = [np.zeros((785, 500)), np.zeros((501, 200)), np.zeros((201, 10))]
OUTPUT_SIZE = 201 * 10


def _output_parameters(sparse):
    """Non-zero weights and biases of the compressed model's output layer."""
    return int(sparse.coefs_[-1].count_nonzero()) + int(np.count_nonzero(sparse.intercepts_[-1]))


def test_dense_output_if_cheap_keeps_the_output_layer_whole_when_it_is_a_small_share():
    counts = [8000, 4000, 30]  # the output layer is 2010 / 12030 = 17% of the budget
    dense = dense_output_if_cheap(counts, WEIGHTS, share=0.25)
    assert dense[-1] == OUTPUT_SIZE
    assert sum(dense) == sum(counts)
    # taken from the other layers in proportion to their counts
    taken = np.subtract(counts[:-1], dense[:-1])
    np.testing.assert_allclose(taken / taken.sum(), [8000 / 12000, 4000 / 12000], atol=1e-3)
    # a share below the output layer's: the floor
    assert dense_output_if_cheap(counts, WEIGHTS, share=0.1) == output_floor(counts, WEIGHTS)
    assert output_floor(counts, WEIGHTS)[-1] == OUTPUT_EDGES_PER_NEURON * 10


def test_dense_output_if_cheap_is_the_floor_when_the_output_layer_is_a_large_share():
    counts = [2500, 1000, 30]  # 2010 / 3530 = 57% of the budget
    assert dense_output_if_cheap(counts, WEIGHTS, share=DENSE_OUTPUT_SHARE) == output_floor(counts, WEIGHTS)
    # an output layer the split already keeps more of is never lowered
    assert dense_output_if_cheap([100, 50, 1500], WEIGHTS, share=0.25) == [100, 50, 1500]
    # one layer: nothing to split
    assert dense_output_if_cheap([70], WEIGHTS[-1:], share=0.5) == [70]


@pytest.mark.parametrize("output_layer", ["floor", "dense-if-cheap"])
def test_wanda_meets_the_budget_exactly_with_either_output_rule(digits, digits_mlp, output_layer):
    X, _ = digits
    network = network_from_sklearn(digits_mlp)
    weights = network.augmented_weights()
    active = [np.ones(W.shape[1], dtype=bool) for W in weights]
    problem = CompressionProblem(network, weights, X[:300], None, active, None)
    method = ActivationMagnitude(output_layer=output_layer)
    for budget in (300, 900, 2500, 6000, 12000):
        layers = method.select(problem, budget)
        assert sum(int(np.count_nonzero(W)) for W in layers) == budget
        assert [int(np.count_nonzero(W)) for W in layers] == method.layer_counts(weights, budget)


def test_compressor_keeps_a_dense_output_layer_where_it_is_cheap(digits, digits_mlp):
    X, _ = digits
    method = ActivationMagnitude(output_layer="dense-if-cheap")
    output_size = digits_mlp.coefs_[-1].size + digits_mlp.intercepts_[-1].size
    total = sum(W.size + b.size for W, b in zip(digits_mlp.coefs_, digits_mlp.intercepts_, strict=True))
    # 20% kept: the output layer is 29% of the budget, within the default half
    compressor = CoreNetCompressor(keep_ratio=0.2, method=method)
    sparse = compressor.fit_transform(digits_mlp, X[:500])
    assert output_size <= DENSE_OUTPUT_SHARE * compressor.budget_ < total
    assert _output_parameters(sparse) == output_size
    assert sparse.nnz_ == compressor.budget_
    # no re-fit: the dense output layer is the original's
    kept = CoreNetCompressor(keep_ratio=0.2, method=method, reweight="none").fit_transform(digits_mlp, X[:500])
    np.testing.assert_array_equal(kept.coefs_[-1].toarray(), digits_mlp.coefs_[-1])
    np.testing.assert_array_equal(kept.intercepts_[-1], digits_mlp.intercepts_[-1])


def test_compressor_keeps_the_floor_where_a_dense_output_layer_is_not_cheap(digits, digits_mlp):
    X, _ = digits
    weights = [np.vstack([W, b]) for W, b in zip(digits_mlp.coefs_, digits_mlp.intercepts_, strict=True)]
    # 5% kept: the output layer would be more than the whole budget's half
    dense = CoreNetCompressor(keep_ratio=0.05, method=ActivationMagnitude(output_layer="dense-if-cheap"))
    floor = CoreNetCompressor(keep_ratio=0.05, method="wanda")
    dense_model, floor_model = dense.fit_transform(digits_mlp, X[:500]), floor.fit_transform(digits_mlp, X[:500])
    assert weights[-1].size > DENSE_OUTPUT_SHARE * dense.budget_
    assert _output_parameters(dense_model) == _output_parameters(floor_model) < weights[-1].size
    expected = output_floor(global_magnitude_counts(weights, dense.budget_), weights)[-1]
    assert _output_parameters(dense_model) == expected
    assert dense_model.nnz_ == dense.budget_
    for a, b in zip(dense_model.coefs_, floor_model.coefs_, strict=True):
        np.testing.assert_array_equal(a.toarray(), b.toarray())


def test_the_floor_split_is_reachable_by_name(digits, digits_mlp):
    X, _ = digits
    assert METHODS["wanda"].output_layer == "floor"
    by_name = CoreNetCompressor(keep_ratio=0.2, method="wanda").fit_transform(digits_mlp, X[:500])
    by_object = CoreNetCompressor(keep_ratio=0.2, method=ActivationMagnitude(output_layer="floor")).fit_transform(
        digits_mlp, X[:500]
    )
    dense = CoreNetCompressor(
        keep_ratio=0.2, method=ActivationMagnitude(output_layer="dense-if-cheap")
    ).fit_transform(digits_mlp, X[:500])
    for a, b in zip(by_object.coefs_, by_name.coefs_, strict=True):
        np.testing.assert_array_equal(a.toarray(), b.toarray())
    # and differs from the dense rule where that one keeps the output layer whole
    assert _output_parameters(by_name) < _output_parameters(dense)


def test_output_rule_options_are_checked_and_shown():
    with pytest.raises(ValueError, match="output_layer must be one of"):
        ActivationMagnitude(output_layer="dense")
    for share in (0, -0.1, 1.5):
        with pytest.raises(ValueError, match="dense_output_share"):
            ActivationMagnitude(output_layer="dense-if-cheap", dense_output_share=share)
    assert repr(ActivationMagnitude()) == "ActivationMagnitude('wanda')"
    assert repr(ActivationMagnitude("dense-if-cheap", 0.25)) == (
        "ActivationMagnitude('wanda', output_layer='dense-if-cheap', dense_output_share=0.25)"
    )
