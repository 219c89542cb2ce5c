"""Neurons chosen by the reconstruction of the next layer's input (ThiNet), widths by measured error."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.neural_network import MLPClassifier

from sklearn_corenet import CoreNetCompressor
from sklearn_corenet.methods import NeuronPruning
from sklearn_corenet.methods._neurons import dense_parameters
from sklearn_corenet.methods._reconstruction import (
    activation_grams,
    allocate_widths,
    greedy_selection,
)


def _residual(A, Z, kept):
    """‖Z − [A_S, 1] β‖² at the least-squares β."""
    inputs = np.hstack([A[:, kept], np.ones((A.shape[0], 1))])
    beta, *_ = np.linalg.lstsq(inputs, Z, rcond=None)
    return float(np.square(Z - inputs @ beta).sum())


def _random_layer(seed, n_points=300, n_neurons=30, n_targets=6):
    """ReLU activations of a random layer (a few dead neurons), and the next layer's weights."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_points, 12))
    A = np.maximum(X @ rng.normal(size=(12, n_neurons)) + rng.normal(size=n_neurons), 0)
    A[:, :3] = 0  # never firing
    outgoing = rng.normal(size=(n_neurons + 1, n_targets))
    return A, outgoing


@pytest.mark.parametrize("seed", range(5))
def test_greedy_residuals_are_the_least_squares_residuals(seed):
    A, outgoing = _random_layer(seed)
    inputs = np.hstack([A, np.ones((len(A), 1))])
    Z = inputs @ outgoing
    order, residuals = greedy_selection(inputs.T @ inputs, outgoing, 20)
    assert len(set(order.tolist())) == 20
    for k in (0, 1, 4, 12, 20):
        assert residuals[k] == pytest.approx(_residual(A, Z, order[:k]), rel=1e-7, abs=1e-9 * residuals[0])
    # the dead neurons add nothing: chosen last
    assert not np.isin(order[:20], [0, 1, 2]).any()


def test_greedy_reconstructs_better_than_the_activation_score_on_average():
    # forward selection is not optimal, but at the same width it reconstructs
    # the next layer's input (after the least-squares re-fit) better than the
    # neurons of largest RMS activation × outgoing norm, by 12% on average here
    ratios = []
    for seed in range(10):
        A, outgoing = _random_layer(seed)
        inputs = np.hstack([A, np.ones((len(A), 1))])
        Z = inputs @ outgoing
        score = np.sqrt(np.mean(A**2, axis=0)) * np.linalg.norm(outgoing[:-1], axis=1)
        for width in (2, 5, 10, 18):
            greedy, _ = greedy_selection(inputs.T @ inputs, outgoing, width)
            by_score = np.argsort(-score, kind="stable")[:width]
            ratios.append(_residual(A, Z, greedy) / _residual(A, Z, by_score))
    assert np.mean(ratios) < 0.95
    assert max(ratios) < 1.1


def _random_network(seed, sizes=(12, 40, 30, 4)):
    """An MLPClassifier with He-initialised random weights, and rows to calibrate on."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(400, sizes[0]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp = MLPClassifier(sizes[1:-1], max_iter=1).fit(X[:40], np.arange(40) % sizes[-1])
    mlp.coefs_ = [rng.normal(scale=np.sqrt(2 / a), size=(a, b)) for a, b in zip(sizes[:-1], sizes[1:], strict=False)]
    mlp.intercepts_ = [rng.normal(scale=0.1, size=b) for b in sizes[1:]]
    return mlp, X


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("keep_ratio", [0.1, 0.3, 0.6])
def test_each_layer_reconstructs_no_worse_than_the_activation_score(seed, keep_ratio):
    # the method's guarantee, layer by layer at the same widths: the kept
    # neurons reconstruct the pre-activations of the next layer's kept neurons
    # at least as well as the activation ranking's do
    mlp, X = _random_network(seed)
    kept = {}
    for score in ("reconstruction", "activation"):
        compressor = CoreNetCompressor(keep_ratio=keep_ratio, method=NeuronPruning(score, score=score), reweight="none")
        compressor.fit(mlp, X)
        kept[score] = compressor.method_.kept_neurons(compressor._plan.problem, compressor.budget_)
    activations = [X]
    for W, b in zip(mlp.coefs_[:-1], mlp.intercepts_[:-1], strict=True):
        activations.append(np.maximum(activations[-1] @ W + b, 0))
    for layer in (1, 2):
        targets = activations[layer] @ mlp.coefs_[layer] + mlp.intercepts_[layer]
        targets = targets[:, kept["reconstruction"][layer]]
        thinet = _residual(activations[layer], targets, np.flatnonzero(kept["reconstruction"][layer - 1]))
        by_score = _residual(activations[layer], targets, np.flatnonzero(kept["activation"][layer - 1]))
        assert kept["reconstruction"][layer - 1].sum() == kept["activation"][layer - 1].sum()
        assert thinet <= by_score * (1 + 1e-9)


def test_a_given_order_gives_that_ranking_s_residuals():
    A, outgoing = _random_layer(0)
    inputs = np.hstack([A, np.ones((len(A), 1))])
    Z = inputs @ outgoing
    ranking = np.random.default_rng(1).permutation(30)
    order, residuals = greedy_selection(inputs.T @ inputs, outgoing, 30, order=ranking)
    np.testing.assert_array_equal(order, ranking)
    for k in (1, 7, 30):
        assert residuals[k] == pytest.approx(_residual(A, Z, ranking[:k]), rel=1e-7, abs=1e-9 * residuals[0])


def test_activation_grams_weigh_rows_as_repetitions(digits_mlp, digits):
    from sklearn_corenet.adapters import network_of

    X = digits[0][:200]
    weights = np.random.default_rng(0).integers(0, 4, size=len(X))
    network = network_of(digits_mlp)
    by_weight = activation_grams(network, X, sample_weight=weights.astype(float))
    repeated = activation_grams(network, np.repeat(X, weights, axis=0), working_memory=0.05)
    for G, G_repeated in zip(by_weight, repeated, strict=True):
        np.testing.assert_allclose(G, G_repeated, rtol=1e-10, atol=1e-8)
        assert G[-1, -1] == weights.sum()


def test_allocation_gives_the_budget_to_the_layer_whose_error_falls_fastest():
    # 10 inputs, two hidden layers of 20, 2 outputs; layer 0's error falls
    # slowly, layer 1's fast and then not at all
    flat = np.linspace(1, 0.5, 21)
    steep = np.concatenate([[1.0], np.full(20, 0.0)])
    steep[1] = 0.9
    widths = allocate_widths(10, [flat, steep], 2, budget=400)
    assert dense_parameters(10, widths, 2) <= 400
    assert widths[1] == 2  # its error is 0 at two neurons: no more for it
    assert widths[0] > 10
    # a budget below one neuron per layer keeps one per layer
    assert allocate_widths(10, [flat, steep], 2, budget=5) == [1, 1]


@pytest.fixture(scope="module")
def digits_model():
    X, y = load_digits(return_X_y=True)
    X = X / 16
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp = MLPClassifier((64, 48), max_iter=150, random_state=0).fit(X[:1200], y[:1200])
    return mlp, X, y


@pytest.mark.parametrize("widths", ["uniform", "error"])
@pytest.mark.parametrize("keep_ratio", [0.05, 0.1, 0.3, 0.7])
def test_budgets_are_respected_with_dense_narrower_layers(digits_model, widths, keep_ratio):
    mlp, X, _ = digits_model
    method = NeuronPruning("thinet", score="reconstruction", widths=widths)
    compressor = CoreNetCompressor(keep_ratio=keep_ratio, method=method, random_state=0)
    sparse = compressor.fit_transform(mlp, X[:600])
    assert sparse.nnz_ <= compressor.budget_
    assert dense_parameters(64, sparse.hidden_layer_sizes_, 10) <= compressor.budget_
    # most of the budget is used
    assert sparse.nnz_ >= 0.8 * compressor.budget_
    for W in sparse.coefs_:
        assert W.nnz >= 0.99 * W.shape[0] * W.shape[1]


def test_every_neuron_kept_reproduces_the_network(digits_model):
    mlp, X, _ = digits_model
    compressor = CoreNetCompressor(keep_ratio=1.0, method="neurons-thinet", random_state=0).fit(mlp, X[:600])
    sparse = compressor.transform()
    assert sparse.hidden_layer_sizes_ == mlp.hidden_layer_sizes
    np.testing.assert_allclose(sparse.predict_proba(X), mlp.predict_proba(X), rtol=1e-9, atol=1e-12)
    # and the method itself, given a budget of the whole network, keeps every neuron
    kept = compressor.method_.kept_neurons(compressor._plan.problem, sum(W.size + b.size for W, b in zip(
        mlp.coefs_, mlp.intercepts_, strict=True)))
    assert all(mask.all() for mask in kept)


def test_compression_is_deterministic(digits_model):
    mlp, X, _ = digits_model
    first = CoreNetCompressor(keep_ratio=0.2, method="neurons-thinet", random_state=0).fit_transform(mlp, X[:600])
    second = CoreNetCompressor(keep_ratio=0.2, method="neurons-thinet", random_state=7).fit_transform(mlp, X[:600])
    for W, W_second in zip(first.coefs_, second.coefs_, strict=True):
        np.testing.assert_array_equal(W.toarray(), W_second.toarray())


def test_last_hidden_layer_reconstructs_the_outputs_better_than_the_activation_score(digits_model):
    # in the compressor, at the same (uniform) widths: the last hidden
    # layer's kept neurons reconstruct the output layer's pre-activations
    mlp, X, _ = digits_model
    network_rows = X[:600]
    residuals = {}
    for score in ("reconstruction", "activation"):
        compressor = CoreNetCompressor(
            keep_ratio=0.15, method=NeuronPruning(score, score=score), reweight="none", random_state=0
        ).fit(mlp, network_rows)
        kept = compressor.method_.kept_neurons(compressor._plan.problem, compressor.budget_)
        hidden = np.maximum(np.maximum(network_rows @ mlp.coefs_[0] + mlp.intercepts_[0], 0) @ mlp.coefs_[1]
                            + mlp.intercepts_[1], 0)
        outputs = hidden @ mlp.coefs_[2] + mlp.intercepts_[2]
        residuals[score] = _residual(hidden, outputs, np.flatnonzero(kept[1]))
    assert residuals["reconstruction"] < residuals["activation"]


def test_one_shot_beats_the_sensitivity_ranking(digits_model):
    mlp, X, y = digits_model
    base = mlp.score(X[1200:], y[1200:])
    drops = {}
    for method in ("neurons", "neurons-thinet"):
        sparse = CoreNetCompressor(keep_ratio=0.1, method=method, random_state=0).fit_transform(mlp, X[:1000])
        drops[method] = base - sparse.score(X[1200:], y[1200:])
    assert drops["neurons-thinet"] < drops["neurons"]


@pytest.mark.parametrize("widths", ["uniform", "error"])
def test_integer_weights_compress_as_repeated_rows(digits_mlp, digits, widths):
    X = digits[0][:400]
    weights = np.random.default_rng(0).integers(0, 4, size=len(X))
    method = NeuronPruning("thinet", score="reconstruction", widths=widths)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_weight = CoreNetCompressor(keep_ratio=0.2, method=method, random_state=0).fit_transform(
            digits_mlp, X, sample_weight=weights
        )
        repeated = CoreNetCompressor(keep_ratio=0.2, method=method, random_state=0).fit_transform(
            digits_mlp, np.repeat(X, weights, axis=0)
        )
        unweighted = CoreNetCompressor(keep_ratio=0.2, method=method, random_state=0).fit_transform(digits_mlp, X)
    assert by_weight.hidden_layer_sizes_ == repeated.hidden_layer_sizes_
    for W, W_repeated in zip(by_weight.coefs_, repeated.coefs_, strict=True):
        np.testing.assert_allclose(W.toarray(), W_repeated.toarray(), rtol=1e-7, atol=1e-9)
    assert any(
        W.shape != W_unweighted.shape or not np.allclose(W.toarray(), W_unweighted.toarray())
        for W, W_unweighted in zip(by_weight.coefs_, unweighted.coefs_, strict=True)
    )


def test_a_huge_row_is_refused_by_name(digits_mlp, digits):
    X = np.array(digits[0][:100], copy=True)
    X[3] = 1e155
    with pytest.raises(ValueError, match="calibration row 3 of X"):
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            CoreNetCompressor(keep_ratio=0.3, method="neurons-thinet").fit_transform(digits_mlp, X)


def test_subnormal_inputs_give_a_finite_model(digits_mlp, digits):
    X = digits[0][:100] * 1e-310
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", UserWarning)
        sparse = CoreNetCompressor(keep_ratio=0.3, method="neurons-thinet").fit_transform(digits_mlp, X)
    assert all(np.isfinite(W.data).all() for W in sparse.coefs_)
    assert sparse.predict(digits[0]).shape == (len(digits[0]),)


def test_unknown_widths_are_refused():
    with pytest.raises(ValueError, match="widths"):
        NeuronPruning("x", widths="by-magic")
