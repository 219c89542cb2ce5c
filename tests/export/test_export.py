"""to_sklearn: a plain fitted scikit-learn MLP with the compressed weights."""

import pickle

import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier, MLPRegressor

from sklearn_corenet import CoreNetCompressor
from sklearn_corenet.core import OutputHead
from tests._quiet import fit_quietly


@pytest.fixture(scope="module")
def models():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6))
    small = {"hidden_layer_sizes": (24, 12), "max_iter": 200, "random_state": 0}
    return X, {
        "binary": fit_quietly(MLPClassifier(**small), X, np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")),
        "multiclass": fit_quietly(MLPClassifier(**small), X, np.array([3, 5, 7])[np.argmax(X[:, :3], axis=1)]),
        "multilabel": fit_quietly(MLPClassifier(**small), X, (X[:, :3] > 0).astype(int)),
        "regression": fit_quietly(MLPRegressor(**small), X, X[:, 0] - X[:, 1]),
        "multi-output": fit_quietly(MLPRegressor(**small), X, X[:, :2]),
        "poisson": fit_quietly(MLPRegressor(loss="poisson", **small), X, rng.poisson(np.exp(X[:, 0] / 2))),
    }


@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel", "regression", "multi-output", "poisson"])
@pytest.mark.parametrize("method", ["corenet+", "magnitude"])
def test_same_predictions_as_the_compressed_model(models, kind, method):
    X, fitted = models
    model = fitted[kind]
    sparse = CoreNetCompressor(keep_ratio=0.3, method=method, random_state=0).fit_transform(model, X)
    exported = sparse.to_sklearn()
    assert type(exported) is type(model)
    # narrowed where neurons were removed
    assert exported.hidden_layer_sizes == sparse.hidden_layer_sizes_
    assert [W.shape for W in exported.coefs_] == [W.shape for W in sparse.coefs_]
    assert all(isinstance(W, np.ndarray) for W in exported.coefs_)
    if isinstance(model, MLPClassifier):
        np.testing.assert_array_equal(exported.classes_, sparse.classes_)
        np.testing.assert_array_equal(exported.predict(X), sparse.predict(X))
        np.testing.assert_allclose(exported.predict_proba(X), sparse.predict_proba(X), rtol=1e-10, atol=1e-14)
    else:
        np.testing.assert_allclose(exported.predict(X), sparse.predict(X), rtol=1e-10, atol=1e-12)
    # a plain scikit-learn model: it pickles and loads without this library's classes
    assert b"sklearn_corenet" not in pickle.dumps(exported)


def test_neurons_removed_by_compression_are_gone(models):
    X, fitted = models
    model = fitted["multiclass"]
    narrowed = CoreNetCompressor(keep_ratio=0.05, method="corenet+", random_state=0).fit_transform(model, X)
    assert sum(narrowed.hidden_layer_sizes_) < sum(model.hidden_layer_sizes)
    exported = narrowed.to_sklearn()
    assert exported.coefs_[0].shape[1] == narrowed.hidden_layer_sizes_[0]
    np.testing.assert_array_equal(exported.predict(X), narrowed.predict(X))


def test_feature_names_are_kept():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(200, 4)), columns=list("abcd"))
    model = fit_quietly(MLPRegressor(hidden_layer_sizes=(8,), max_iter=100, random_state=0), frame, frame["a"])
    exported = CoreNetCompressor(keep_ratio=0.5, random_state=0).fit_transform(model, frame).to_sklearn()
    np.testing.assert_array_equal(exported.feature_names_in_, list("abcd"))
    with pytest.raises(ValueError, match="feature names"):
        exported.predict(frame[list("dcba")])


def test_warm_start_trains_on_from_the_compressed_weights(models):
    X, fitted = models
    y = np.array([3, 5, 7])[np.argmax(X[:, :3], axis=1)]
    sparse = CoreNetCompressor(keep_ratio=0.3, random_state=0).fit_transform(fitted["multiclass"], X)
    exported = sparse.to_sklearn().set_params(warm_start=True, max_iter=5)
    start = exported.score(X, y)
    fit_quietly(exported, X, y)
    assert exported.n_iter_ == 5
    assert exported.score(X, y) >= start - 0.02


def test_semantics_without_an_sklearn_equivalent_are_refused(models):
    X, fitted = models
    sparse = CoreNetCompressor(keep_ratio=0.5, random_state=0).fit_transform(fitted["binary"], X)
    sparse.head_ = OutputHead("binary", classes=sparse.head_.classes, threshold=0.3)
    with pytest.raises(ValueError, match="threshold"):
        sparse.to_sklearn()
    sparse.out_activation_ = "log_softmax"
    with pytest.raises(ValueError, match="log_softmax"):
        sparse.to_sklearn()
