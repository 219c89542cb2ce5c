import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.neural_network import MLPClassifier, MLPRegressor

from sklearn_corenet import CoreNetCompressor
from sklearn_corenet.methods._neurons import dense_parameters, narrowed_widths

STRUCTURED = ["neurons", "neurons-activation", "neuron-norm"]


@pytest.fixture(scope="module")
def digits_model():
    X, y = load_digits(return_X_y=True)
    X = X / 16
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp = MLPClassifier((64, 48), max_iter=150, random_state=0).fit(X[:1200], y[:1200])
    return mlp, X, y


def test_dense_parameters_counts_weights_and_biases():
    assert dense_parameters(4, [3, 2], 1) == (4 + 1) * 3 + (3 + 1) * 2 + (2 + 1) * 1


@pytest.mark.parametrize("budget", [0, 50, 400, 2_000, 5_000, 10**6])
def test_narrowed_widths_fit_the_budget_with_one_fraction(budget):
    hidden = [100, 50]
    widths = narrowed_widths(20, hidden, 3, budget)
    full = dense_parameters(20, hidden, 3)
    assert all(1 <= w <= h for w, h in zip(widths, hidden, strict=True))
    if budget >= full:
        assert widths == hidden
        return
    minimum = dense_parameters(20, [1, 1], 3)
    assert dense_parameters(20, widths, 3) <= max(budget, minimum)
    # one more neuron in every layer would not fit: the fraction is the largest
    wider = [min(w + 1 + w // 10, h) for w, h in zip(widths, hidden, strict=True)]
    if budget >= minimum and wider != widths:
        assert dense_parameters(20, wider, 3) > budget
    # the layers keep (about) the same fraction of their neurons
    fractions = np.array(widths) / np.array(hidden)
    assert np.ptp(fractions) <= 1.5 / min(hidden) + 1e-12


@pytest.mark.parametrize("method", STRUCTURED)
@pytest.mark.parametrize("keep_ratio", [0.1, 0.3])
def test_structured_methods_keep_dense_narrower_layers(digits_model, method, keep_ratio):
    mlp, X, y = digits_model
    compressor = CoreNetCompressor(keep_ratio=keep_ratio, method=method, random_state=0)
    sparse = compressor.fit_transform(mlp, X[:600])
    widths = sparse.hidden_layer_sizes_
    assert all(w < h for w, h in zip(widths, mlp.hidden_layer_sizes, strict=True))
    assert sparse.nnz_ <= compressor.budget_
    # the budget is used: adding a neuron to every layer would exceed it
    assert dense_parameters(64, [w + 2 for w in widths], 10) > compressor.budget_
    # every weight of the kept neurons stays: the layers are dense
    for W in sparse.coefs_:
        assert W.nnz >= 0.99 * W.shape[0] * W.shape[1]


def test_no_hidden_layer_is_refused():
    X, y = load_digits(return_X_y=True)
    model = MLPClassifier((4,), max_iter=5).fit(X[:100] / 16, y[:100])
    model.coefs_ = [np.ones((64, 10))]
    model.intercepts_ = [np.zeros(10)]
    model.n_layers_ = 2
    with pytest.raises(ValueError, match="no hidden layer"):
        CoreNetCompressor(keep_ratio=0.5, method="neurons").fit_transform(model, X[:100] / 16)


def test_budget_below_one_neuron_per_layer_warns_what_is_kept(digits_model):
    mlp, X, _ = digits_model
    with pytest.warns(UserWarning, match="one neuron per hidden layer") as record:
        sparse = CoreNetCompressor(keep_ratio=0.001, method="neurons", random_state=0).fit_transform(mlp, X[:300])
    assert sparse.hidden_layer_sizes_ == (1, 1)
    assert f"keeps {sparse.nnz_}" in str(record[0].message)


@pytest.mark.parametrize("keep_ratio", [1e-4, 5e-4, 0.01])
def test_structured_then_sparse_keeps_a_neuron_per_layer_and_says_what_it_keeps(digits_model, keep_ratio):
    # a budget of a few parameters: the edge step alone would empty a layer
    mlp, X, _ = digits_model
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sparse = CoreNetCompressor(keep_ratio=keep_ratio, method="neurons+wanda", random_state=0).fit_transform(
            mlp, X[:600]
        )
    assert all(width >= 1 for width in sparse.hidden_layer_sizes_)
    assert np.isfinite(sparse.predict_proba(X)).all()
    said = [str(w.message) for w in caught if "method='neurons+wanda'" in str(w.message) and "budget of" in str(w.message)]
    assert len(said) == 1, [str(w.message) for w in caught]
    assert f"keeps {sparse.nnz_} parameters, in hidden layers of {sparse.hidden_layer_sizes_} neurons" in said[0]
    # every hidden layer passes something on: a neuron with an incoming weight and an outgoing one
    for W, following in zip(sparse.coefs_[:-1], sparse.coefs_[1:], strict=False):
        fed = (W.toarray() != 0).any(axis=0)
        assert ((following.toarray() != 0).any(axis=1) & fed).any()


def test_sensitivity_ranking_keeps_the_neurons_that_matter(digits_model):
    # a network with neurons that are never used downstream: their outgoing
    # weights are zero, so every score ranks them last
    mlp, X, _ = digits_model
    useless = np.arange(0, 64, 2)
    model = MLPClassifier((64, 48)).fit(X[:50], np.arange(50) % 10)
    model.coefs_ = [W.copy() for W in mlp.coefs_]
    model.intercepts_ = [b.copy() for b in mlp.intercepts_]
    model.coefs_[1][useless, :] = 0
    for method in STRUCTURED:
        compressor = CoreNetCompressor(keep_ratio=0.3, method=method, reweight="none", random_state=0)
        compressor.fit(model, X[:600])
        kept = compressor.method_.kept_neurons(compressor._plan.problem, compressor.budget_)[0]
        assert kept.sum() <= 64 - useless.size
        assert not kept[useless].any(), method


def test_one_shot_sensitivity_beats_norm_ranking(digits_model):
    # at the same widths, the library's default structured compression
    # (sensitivity ranking, least-squares re-fit) loses less accuracy than
    # ranking neurons by weight norm without a re-fit (Torch-Pruning's default)
    mlp, X, y = digits_model
    base = mlp.score(X[1200:], y[1200:])
    drops = {}
    for method, reweight in (("neurons", "lstsq"), ("neuron-norm", "none")):
        sparse = CoreNetCompressor(keep_ratio=0.15, method=method, reweight=reweight, random_state=0).fit_transform(
            mlp, X[:1000]
        )
        drops[method] = base - sparse.score(X[1200:], y[1200:])
    assert drops["neurons"] < drops["neuron-norm"] - 0.05


def test_structured_then_sparse_meets_the_budget(digits_model):
    mlp, X, _ = digits_model
    compressor = CoreNetCompressor(keep_ratio=0.1, method="neurons+wanda", random_state=0)
    sparse = compressor.fit_transform(mlp, X[:600])
    assert sparse.nnz_ == compressor.budget_
    # the narrowed network holds twice the budget, half of it kept
    widths = sparse.hidden_layer_sizes_
    assert dense_parameters(64, widths, 10) <= 2 * compressor.budget_
    assert all(w < h for w, h in zip(widths, mlp.hidden_layer_sizes, strict=True))


def test_structured_regressor_predicts_like_the_narrowed_network():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, 8))
    y = X[:, 0] - 2 * X[:, 1] * X[:, 2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp = MLPRegressor(hidden_layer_sizes=(40, 40), max_iter=300, random_state=0).fit(X, y)
    sparse = CoreNetCompressor(keep_ratio=0.4, method="neurons", random_state=0).fit_transform(mlp, X[:300])
    network = sparse.to_network()
    np.testing.assert_allclose(sparse.predict(X), network.forward(X).ravel(), rtol=1e-10, atol=1e-12)
    assert sparse.score(X[300:], y[300:]) > 0.5 * mlp.score(X[300:], y[300:])


def test_unknown_score_is_refused():
    from sklearn_corenet.methods._neurons import NeuronPruning

    with pytest.raises(ValueError, match="score"):
        NeuronPruning("x", score="random")
