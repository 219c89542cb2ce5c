"""``method="wanda-search"``: layer budgets searched by measured error."""

import ast
import warnings

import numpy as np
import pytest

from sklearn_corenet import METHODS, CoreNetCompressor
from sklearn_corenet.adapters import network_of
from sklearn_corenet.algorithm import CompressionProblem
from sklearn_corenet.algorithm._reweight import lstsq_reweight
from sklearn_corenet.methods import ActivationMagnitude
from sklearn_corenet.methods._held_out import held_out_rows, measure, output_loss
from sklearn_corenet.methods._split_search import FixedSplit, LayerSplitSearch


class _Quiet:
    """A fitted compressor whose ``transform`` ignores the re-fit's warning of few rows."""

    def __init__(self, compressor):
        self.compressor = compressor
        self.budget_ = compressor.budget_

    def transform(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return self.compressor.transform()


def _compress(mlp, X, method, keep_ratio):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return _Quiet(CoreNetCompressor(keep_ratio=keep_ratio, method=method).fit(mlp, X))


def _problem(mlp, X):
    network = network_of(mlp)
    weights = network.augmented_weights()
    active = [np.ones(W.shape[1], dtype=bool) for W in weights]
    return network, CompressionProblem(network, weights, X, None, active, None)


def test_fixed_split_keeps_its_counts_scaled_to_the_budget(digits, digits_mlp):
    X, _ = digits
    _, problem = _problem(digits_mlp, X[:300])
    layers = FixedSplit([1000, 500, 200]).select(problem, 1700)
    assert [int(np.count_nonzero(W)) for W in layers] == [1000, 500, 200]
    layers = FixedSplit([1000, 500, 200]).select(problem, 850)
    assert [int(np.count_nonzero(W)) for W in layers] == [500, 250, 100]
    with pytest.raises(ValueError, match="2 layer counts for a network of 3 layers"):
        FixedSplit([1, 2]).select(problem, 10)
    with pytest.raises(ValueError, match="not all zero"):
        FixedSplit([0, 0, 0])


@pytest.mark.parametrize("keep_ratio", [0.03, 0.1])
def test_the_search_meets_the_budget_and_is_no_worse_on_held_out_rows(digits, digits_mlp, keep_ratio):
    X, y = digits
    compressor = _compress(digits_mlp, X[:1000], "wanda-search", keep_ratio)
    compressed = compressor.transform()
    assert compressed.nnz_ == compressor.budget_
    found = compressed.compression_info_.selection
    assert found.startswith("FixedSplit(counts=")
    # measured as the search measures: the split found against the split it started from
    network, problem = _problem(digits_mlp, X[:1000])
    held = held_out_rows(X[:1000], 4)
    fitting = CompressionProblem(network, problem.weights, X[:1000][~held], None, problem.active, None)

    def loss(method):
        layers = method.select(fitting, compressor.budget_)
        fitted = lstsq_reweight(network, layers, fitting.X, overwrite=True)
        model = network.copy(coefs=[W[:-1] for W in fitted], intercepts=[W[-1] for W in fitted])
        return measure(network, model, X[:1000][held], output_loss).mean()

    counts = ast.literal_eval(found.removeprefix("FixedSplit(counts=").removesuffix(")"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert loss(FixedSplit(counts)) <= loss(ActivationMagnitude()) + 1e-12


def test_the_search_finds_a_better_split_where_the_fixed_rule_starves_a_layer(digits, digits_mlp):
    X, y = digits
    searched = _compress(digits_mlp, X[:1000], "wanda-search", 0.03).transform()
    fixed = _compress(digits_mlp, X[:1000], "wanda", 0.03).transform()
    assert searched.score(X[1000:], y[1000:]) > fixed.score(X[1000:], y[1000:]) + 0.02


def test_the_search_is_deterministic(digits, digits_mlp):
    X, _ = digits
    first = _compress(digits_mlp, X[:600], "wanda-search", 0.05).transform()
    second = _compress(digits_mlp, X[:600], "wanda-search", 0.05).transform()
    assert first.compression_info_.selection == second.compression_info_.selection
    for a, b in zip(first.coefs_, second.coefs_, strict=True):
        np.testing.assert_array_equal(a.toarray(), b.toarray())


def test_the_search_falls_back_to_its_base_with_too_few_rows(digits, digits_mlp):
    X, _ = digits
    compressed = _compress(digits_mlp, X[:20], "wanda-search", 0.1).transform()
    assert compressed.compression_info_.selection == repr(METHODS["wanda-search"].base)


def test_a_regressor_is_searched_by_squared_error(regression_data, regression_mlp):
    X, y = regression_data
    compressed = _compress(regression_mlp, X[:500], LayerSplitSearch("test", rounds=3), 0.1).transform()
    assert compressed.nnz_ == round(0.1 * sum(W.size + b.size for W, b in zip(
        regression_mlp.coefs_, regression_mlp.intercepts_, strict=True)))
    assert np.isfinite(compressed.predict(X[500:])).all()


@pytest.mark.parametrize(
    "params, match",
    [
        ({"base": METHODS["magnitude"]}, "base must be an ActivationMagnitude"),
        ({"rounds": 0}, "rounds must be a positive int"),
        ({"held_out_every": 1}, "held_out_every"),
    ],
)
def test_bad_settings_are_refused(params, match):
    with pytest.raises(ValueError, match=match):
        LayerSplitSearch("test", **params)


def test_multilabel_loss_rewards_agreement_not_positive_labels():
    from sklearn_corenet.core._head import OutputHead
    from sklearn_corenet.core._network import Network

    rng = np.random.default_rng(0)
    network = Network(
        coefs=[rng.normal(size=(4, 3))],
        intercepts=[np.zeros(3)],
        activation="relu",
        out_activation="logistic",
        head=OutputHead("multilabel", classes=np.arange(3)),
    )
    original = rng.normal(size=(200, 3))
    itself = output_loss(network, original, original).mean()
    all_positive = output_loss(network, original, np.full_like(original, 30.0)).mean()
    assert itself < all_positive


def test_integer_weights_search_as_repeated_rows(digits, digits_mlp):
    X, _ = digits
    weights = np.random.default_rng(1).integers(1, 3, size=600)
    repeated = np.repeat(X[:600], weights, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        method = LayerSplitSearch("test", rounds=3)
        weighted = CoreNetCompressor(keep_ratio=0.05, method=method).fit(digits_mlp, X[:600], sample_weight=weights)
        copies = CoreNetCompressor(keep_ratio=0.05, method=method).fit(digits_mlp, repeated)
        assert weighted.transform().compression_info_.selection == copies.transform().compression_info_.selection
