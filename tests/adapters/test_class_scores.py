"""ClassScores: a bare torch module whose outputs are class scores."""

import numpy as np
import pytest
from scipy.special import expit, softmax

torch = pytest.importorskip("torch")

from torch import nn

from sklearn_corenet import (
    ClassScores,
    CoreNetCompressor,
    SparseMLPClassifier,
    SparseMLPRegressor,
    network_output,
)


def _module(n_out, *tail, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, n_out), *tail).double()


def _logits(module, X):
    with torch.no_grad():
        return module(torch.from_numpy(X)).numpy()


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).normal(size=(200, 5))


def test_logits_read_as_multiclass_with_labels(X):
    module = _module(3)
    labels = np.array(["ant", "bee", "cat"])
    # without ClassScores, logits are a regressor's outputs
    plain = CoreNetCompressor(keep_ratio=1.0).fit_transform(module, X)
    assert isinstance(plain, SparseMLPRegressor)
    sparse = CoreNetCompressor(keep_ratio=1.0).fit_transform(ClassScores(module, classes=labels), X)
    assert isinstance(sparse, SparseMLPClassifier)
    logits = _logits(module, X)
    np.testing.assert_allclose(sparse.predict_proba(X), softmax(logits, axis=1), rtol=1e-10)
    np.testing.assert_array_equal(sparse.predict(X), labels[logits.argmax(axis=1)])
    np.testing.assert_array_equal(sparse.classes_, labels)
    # the export returns logits without the output activation
    exported = sparse.to_torch(include_output_activation=False)
    np.testing.assert_allclose(_logits(exported, X), logits, rtol=1e-10)


def test_one_output_is_binary_with_its_threshold(X):
    module = _module(1)
    scores = ClassScores(module, classes=["no", "yes"], threshold=0.3)
    sparse = CoreNetCompressor(keep_ratio=1.0).fit_transform(scores, X)
    p = expit(_logits(module, X).ravel())
    np.testing.assert_allclose(sparse.predict_proba(X)[:, 1], p, rtol=1e-10)
    np.testing.assert_array_equal(sparse.predict(X), np.where(p > 0.3, "yes", "no"))


def test_multilabel_outputs(X):
    module = _module(4)
    sparse = CoreNetCompressor(keep_ratio=1.0).fit_transform(ClassScores(module, multilabel=True), X)
    p = expit(_logits(module, X))
    np.testing.assert_allclose(sparse.predict_proba(X), p, rtol=1e-10)
    np.testing.assert_array_equal(sparse.predict(X), (p > 0.5).astype(int))
    np.testing.assert_array_equal(sparse.classes_, np.arange(4))


def test_module_ending_with_probabilities_keeps_them(X):
    module = _module(3, nn.Softmax(dim=-1))
    sparse = CoreNetCompressor(keep_ratio=1.0).fit_transform(ClassScores(module, classes=[7, 8, 9]), X)
    np.testing.assert_allclose(sparse.predict_proba(X), _logits(module, X), rtol=1e-10)
    np.testing.assert_array_equal(sparse.classes_, [7, 8, 9])


def test_compression_and_other_functions_read_it(X):
    scores = ClassScores(_module(3))
    sparse = CoreNetCompressor(keep_ratio=0.4, random_state=0).fit_transform(scores, X)
    assert sparse.keep_ratio_ == pytest.approx(0.4, abs=1e-2)
    # f(x) of Theorem 4: the logits, for this classifier as for any other
    np.testing.assert_allclose(network_output(scores, X), _logits(scores.module, X), rtol=1e-10)


def test_bad_input(X):
    with pytest.raises(ValueError, match="needs 3 classes; got 2"):
        CoreNetCompressor(keep_ratio=0.5).fit(ClassScores(_module(3), classes=["a", "b"]), X)
    with pytest.raises(ValueError, match="needs 2 classes"):
        CoreNetCompressor(keep_ratio=0.5).fit(ClassScores(_module(1), classes=["a", "b", "c"]), X)
    with pytest.raises(TypeError, match="should return logits"):
        CoreNetCompressor(keep_ratio=0.5).fit(ClassScores(_module(3, nn.Softmax(dim=-1)), multilabel=True), X)
    with pytest.raises(TypeError, match="ClassScores wraps a torch.nn.Module"):
        CoreNetCompressor(keep_ratio=0.5).fit(ClassScores(object()), X)
    with pytest.raises(ValueError, match="threshold"):
        ClassScores(_module(1), threshold=1.5)
