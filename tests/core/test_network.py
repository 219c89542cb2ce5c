import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import expit, log_softmax, softmax
from sklearn import config_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

from sklearn_corenet.adapters._sklearn import network_from_sklearn
from sklearn_corenet.core import (
    Network,
    OutputHead,
    apply_activation,
    chunk_rows,
    forward_pass,
)
from sklearn_corenet.core._network import augment, chunked, layer_product, stack_layers


def _random_network(rng, sizes=(12, 9, 7, 4), activation="relu", density=1.0):
    coefs = [rng.normal(size=(n_in, n_out)) for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)]
    if density < 1.0:
        coefs = [W * (rng.random(W.shape) < density) for W in coefs]
    intercepts = [rng.normal(size=n_out) for n_out in sizes[1:]]
    return Network(coefs, intercepts, activation=activation)


def _numpy_chain(X, coefs, intercepts, hidden):
    """The plain forward pass: every hidden layer's activation, then the output's values."""
    values = [np.asarray(X, dtype=np.float64)]
    A = values[0]
    for layer, (W, b) in enumerate(zip(coefs, intercepts, strict=True)):
        A = A @ np.asarray(W) + b
        if layer < len(coefs) - 1:
            A = hidden(A)
            values.append(A)
    return A, values


_HIDDEN = {
    "relu": lambda Z: np.maximum(Z, 0),
    "identity": lambda Z: Z,
    "tanh": np.tanh,
    "logistic": expit,
}


@pytest.fixture(scope="module")
def small_mlp(digits):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MLPClassifier(hidden_layer_sizes=(20, 15), max_iter=30, random_state=0).fit(X[:600], y[:600])


# -- forward pass -------------------------------------------------------------


@pytest.mark.parametrize("activation", ["relu", "identity", "tanh", "logistic"])
def test_forward_pass_is_the_numpy_chain(activation):
    rng = np.random.default_rng(0)
    network = _random_network(rng, activation=activation)
    X = rng.normal(size=(25, 12))
    expected, _ = _numpy_chain(X, network.coefs, network.intercepts, _HIDDEN[activation])
    values = forward_pass(X, network.coefs, network.intercepts, activation)
    np.testing.assert_allclose(values, expected, rtol=1e-12, atol=1e-12)
    # the hidden activation is applied: relu makes a difference here
    if activation == "relu":
        linear, _ = _numpy_chain(X, network.coefs, network.intercepts, _HIDDEN["identity"])
        assert np.max(np.abs(values - linear)) > 1e-3


@pytest.mark.parametrize(
    "weights_sparse, input_sparse",
    [(True, False), (False, True), (True, True)],
)
def test_forward_pass_sparse_weights_and_inputs_match_dense(weights_sparse, input_sparse):
    rng = np.random.default_rng(1)
    network = _random_network(rng, density=0.3)
    X = rng.normal(size=(30, 12)) * (rng.random((30, 12)) < 0.4)
    expected, _ = _numpy_chain(X, network.coefs, network.intercepts, _HIDDEN["relu"])
    coefs = [sp.csr_array(W) for W in network.coefs] if weights_sparse else network.coefs
    inputs = sp.csr_matrix(X) if input_sparse else X
    values = forward_pass(inputs, coefs, network.intercepts, "relu")
    assert isinstance(values, np.ndarray)
    np.testing.assert_allclose(values, expected, rtol=1e-12, atol=1e-12)


def test_layer_product_every_combination():
    rng = np.random.default_rng(2)
    A = rng.normal(size=(6, 5)) * (rng.random((6, 5)) < 0.5)
    W = rng.normal(size=(5, 4)) * (rng.random((5, 4)) < 0.5)
    for left in (A, sp.csr_array(A), sp.csr_matrix(A)):
        for right in (W, sp.csr_array(W), sp.csc_array(W)):
            product = layer_product(left, right)
            assert isinstance(product, np.ndarray) and product.shape == (6, 4)
            np.testing.assert_allclose(product, A @ W, rtol=1e-14, atol=1e-14)


def test_keep_inputs_returns_every_layers_input():
    rng = np.random.default_rng(3)
    network = _random_network(rng)
    X = rng.normal(size=(10, 12))
    expected, hidden = _numpy_chain(X, network.coefs, network.intercepts, _HIDDEN["relu"])
    values, inputs = forward_pass(X, network.coefs, network.intercepts, "relu", keep_inputs=True)
    np.testing.assert_allclose(values, expected, rtol=1e-12)
    assert len(inputs) == network.n_layers
    assert inputs[0] is X
    for got, want in zip(inputs, hidden, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    # each kept input is what its layer reads: feeding it to the layer gives the next one
    for layer in range(1, network.n_layers):
        following = np.maximum(inputs[layer - 1] @ network.coefs[layer - 1] + network.intercepts[layer - 1], 0)
        np.testing.assert_allclose(inputs[layer], following, rtol=1e-12, atol=1e-12)


def test_hidden_only_applies_the_activation_after_every_layer():
    rng = np.random.default_rng(4)
    network = _random_network(rng)
    X = rng.normal(size=(10, 12))
    coefs, intercepts = network.coefs[:-1], network.intercepts[:-1]
    values, inputs = forward_pass(X, coefs, intercepts, "relu", keep_inputs=True, hidden_only=True)
    assert len(inputs) == len(coefs) + 1
    assert np.all(values >= 0)
    np.testing.assert_array_equal(inputs[-1], values)
    _, hidden = _numpy_chain(X, network.coefs, network.intercepts, _HIDDEN["relu"])
    for got, want in zip(inputs, hidden, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_forward_pass_uses_the_given_product():
    rng = np.random.default_rng(5)
    network = _random_network(rng)
    X = rng.normal(size=(8, 12))
    calls = []

    def doubled(A, layer):
        calls.append(layer)
        return 2 * (A @ network.coefs[layer])

    values = forward_pass(X, network.coefs, network.intercepts, "identity", product=doubled)
    expected, _ = _numpy_chain(X, [2 * W for W in network.coefs], network.intercepts, _HIDDEN["identity"])
    assert calls == list(range(network.n_layers))
    np.testing.assert_allclose(values, expected, rtol=1e-12)


def test_forward_pass_leaves_its_arguments_alone():
    rng = np.random.default_rng(6)
    network = _random_network(rng)
    X = rng.normal(size=(8, 12))
    before = [X.copy(), *(W.copy() for W in network.coefs), *(b.copy() for b in network.intercepts)]
    forward_pass(X, network.coefs, network.intercepts, "relu", keep_inputs=True)
    after = [X, *network.coefs, *network.intercepts]
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(old, new)


# -- chunking -------------------------------------------------------------------


def test_chunk_rows_bounds():
    # 1 MiB of 1 KiB rows
    assert chunk_rows(1024, 10_000, working_memory=1) == 1024
    assert chunk_rows(1024, 100, working_memory=1) == 100  # never more than the rows
    assert chunk_rows(2**30, 100, working_memory=1) == 1  # at least one row
    assert chunk_rows(0, 100, working_memory=1) == 100  # a zero-byte row does not divide by zero
    assert chunk_rows(1024, 0, working_memory=1) == 1
    with config_context(working_memory=2):
        assert chunk_rows(1024, 10_000) == 2048


def test_chunked_evaluates_bounded_batches():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(103, 4))
    sizes = []

    def function(rows):
        sizes.append(rows.shape[0])
        return np.column_stack([rows.sum(axis=1), rows[:, 0]])

    row_bytes = 1024
    working_memory = 10 * row_bytes / 2**20  # 10 rows
    out = chunked(X, function, 2, row_bytes, working_memory)
    np.testing.assert_array_equal(out, np.column_stack([X.sum(axis=1), X[:, 0]]))
    assert sum(sizes) == 103 and max(sizes) == 10 and len(sizes) == 11


@pytest.mark.parametrize("sparse_input", [False, True])
def test_decision_does_not_depend_on_working_memory(small_mlp, digits, sparse_input):
    X = digits[0][:300]
    if sparse_input:
        X = sp.csr_matrix(X)
    network = network_from_sklearn(small_mlp)
    reference = forward_pass(X, network.coefs, network.intercepts, network.activation)
    for working_memory in (1e-9, 0.01, 1024):
        with config_context(working_memory=working_memory):
            decision = network.decision(X)
            forward = network.forward(X)
        np.testing.assert_allclose(decision, reference, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(forward, softmax(reference, axis=1), rtol=1e-12, atol=1e-14)
        # the argument overrides the global setting
        np.testing.assert_allclose(network.decision(X, working_memory), reference, rtol=1e-12, atol=1e-12)


# -- agreement with scikit-learn ---------------------------------------------------


def test_hidden_activations_match_scikit_learn(small_mlp, digits):
    X = digits[0][:200]
    network = network_from_sklearn(small_mlp)
    activations = [X] + [None] * (small_mlp.n_layers_ - 1)
    small_mlp._forward_pass(activations)
    hidden = network.hidden_activations(X)
    assert len(hidden) == network.n_layers
    for ours, theirs in zip(hidden, activations[:-1], strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(network.forward(X), activations[-1], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(network.forward(X), small_mlp.predict_proba(X), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize(
    "activation, loss",
    [("tanh", "squared_error"), ("logistic", "squared_error"), ("identity", "squared_error"), ("relu", "poisson")],
)
def test_regressor_output_matches_scikit_learn(regression_data, activation, loss):
    X, y = regression_data
    if loss == "poisson":
        y = np.exp(y / 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPRegressor(
            hidden_layer_sizes=(8, 6), activation=activation, loss=loss, max_iter=20, random_state=0
        ).fit(X[:200], y[:200])
    network = network_from_sklearn(mlp)
    np.testing.assert_allclose(network.forward(X).ravel(), mlp.predict(X), rtol=1e-12, atol=1e-12)


def test_binary_classifier_output_matches_scikit_learn(digits):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier(hidden_layer_sizes=(10,), max_iter=20, random_state=0).fit(X[:300], y[:300] % 2)
    network = network_from_sklearn(mlp)
    assert network.out_activation == "logistic" and network.n_outputs == 1
    np.testing.assert_allclose(network.forward(X).ravel(), mlp.predict_proba(X)[:, 1], rtol=1e-12, atol=1e-14)


# -- the Network object -------------------------------------------------------------


def test_augmented_weights_stack_the_bias_last():
    rng = np.random.default_rng(8)
    network = _random_network(rng)
    X = rng.normal(size=(5, 12))
    augmented = network.augmented_weights()
    assert [W.shape for W in augmented] == [(W.shape[0] + 1, W.shape[1]) for W in network.coefs]
    for W_aug, W, b in zip(augmented, network.coefs, network.intercepts, strict=True):
        np.testing.assert_array_equal(W_aug[:-1], W)
        np.testing.assert_array_equal(W_aug[-1], b)
    # a layer is one product with the ones column appended
    np.testing.assert_allclose(augment(X) @ augmented[0], X @ network.coefs[0] + network.intercepts[0], rtol=1e-12)
    assert augment(X.astype(np.float32)).dtype == np.float32


def test_stacked_layers_are_handed_out_without_a_copy():
    rng = np.random.default_rng(10)
    network = _random_network(rng)
    coefs, intercepts = stack_layers(network.coefs, network.intercepts)
    stacked = Network(coefs=coefs, intercepts=intercepts)
    assert stacked.is_stacked and not network.is_stacked
    for W_aug, W, b, expected in zip(
        stacked.augmented_weights(), coefs, intercepts, network.augmented_weights(), strict=True
    ):
        np.testing.assert_array_equal(W_aug, expected)
        assert np.shares_memory(W_aug, W) and np.shares_memory(W_aug, b)
        assert not W_aug.flags.writeable  # the network's weights cannot change through it
    # copies and slices are not stacked: they are stacked anew, never misread
    assert not stacked.copy().is_stacked
    sliced = Network(coefs=[W[:, :3] for W in coefs[:1]], intercepts=[b[:3] for b in intercepts[:1]])
    assert not sliced.is_stacked
    np.testing.assert_array_equal(sliced.augmented_weights()[0][-1], intercepts[0][:3])


def test_a_scikit_learn_network_is_stacked_and_owns_its_arrays(small_mlp):
    network = network_from_sklearn(small_mlp)
    assert network.is_stacked
    for W, b, W_model, b_model in zip(
        network.coefs, network.intercepts, small_mlp.coefs_, small_mlp.intercepts_, strict=True
    ):
        np.testing.assert_array_equal(W, W_model)
        np.testing.assert_array_equal(b, b_model)
        assert not np.shares_memory(W, W_model) and not np.shares_memory(b, b_model)


def test_network_structure_and_copy():
    rng = np.random.default_rng(9)
    network = _random_network(rng, sizes=(12, 9, 7, 4))
    assert network.n_layers == 3
    assert network.n_features_in == 12 and network.n_outputs == 4
    assert network.hidden_layer_sizes == (9, 7)
    assert network.n_params == 12 * 9 + 9 + 9 * 7 + 7 + 7 * 4 + 4
    assert network.widest == 12
    copied = network.copy(activation="tanh")
    assert copied.activation == "tanh" and network.activation == "relu"
    copied.coefs[0][0, 0] += 1.0
    copied.intercepts[0][0] += 1.0
    copied.extra["mark"] = True
    assert copied.coefs[0][0, 0] != network.coefs[0][0, 0]
    assert copied.intercepts[0][0] != network.intercepts[0][0]
    assert "mark" not in network.extra


def test_network_rejects_mismatched_shapes():
    rng = np.random.default_rng(10)
    W1, W2 = rng.normal(size=(4, 3)), rng.normal(size=(3, 2))
    with pytest.raises(ValueError, match="bias"):
        Network([], [])
    with pytest.raises(ValueError, match="bias"):
        Network([W1, W2], [np.zeros(3)])
    with pytest.raises(ValueError, match="layer 1"):
        Network([W1, W2], [np.zeros(3), np.zeros(5)])
    with pytest.raises(ValueError, match="layer 1 takes 4 inputs but layer 0 has 3 outputs"):
        Network([W1, rng.normal(size=(4, 2))], [np.zeros(3), np.zeros(2)])
    with pytest.raises(ValueError, match="layer 0"):
        Network([np.zeros(4)], [np.zeros(4)])


def test_network_rejects_unknown_activations_by_name():
    W, b = np.ones((3, 2)), np.zeros(2)
    with pytest.raises(TypeError, match="'softplus'"):
        Network([W], [b], activation="softplus")
    with pytest.raises(TypeError, match="'sigmoid'.*identity"):
        Network([W], [b], out_activation="sigmoid")
    with pytest.raises(ValueError, match="'ordinal'"):
        OutputHead("ordinal")


# -- activations ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, reference",
    [
        ("relu", lambda Z: np.maximum(Z, 0)),
        ("identity", lambda Z: Z),
        ("tanh", np.tanh),
        ("logistic", expit),
        ("exp", np.exp),
        ("softmax", lambda Z: softmax(Z, axis=1)),
        ("log_softmax", lambda Z: log_softmax(Z, axis=1)),
    ],
)
def test_apply_activation_matches_scipy(name, reference):
    Z = np.random.default_rng(11).normal(scale=3, size=(7, 5))
    Z[0, 0] = 40.0  # softmax and log_softmax must stay finite for large values
    expected = reference(Z.copy())
    out = apply_activation(name, Z)
    assert out is Z  # in place
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-14)


def test_apply_activation_unknown_name():
    with pytest.raises(ValueError, match="'gelu'"):
        apply_activation("gelu", np.zeros((2, 2)))
