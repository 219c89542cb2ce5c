"""Every output head the supported models produce: same predict shapes, dtypes and labels.

The matrix of heads × output kinds: scikit-learn's MLPs (binary, multiclass,
one-class, multilabel with 1..k labels, string/int/bool labels, regression
with one or several outputs, Poisson) and the torch side (skorch's
classifiers and regressors with their losses, bare modules ending with a
softmax, log-softmax, sigmoid or nothing, ``ClassScores``). At
``keep_ratio=1`` the compressed model predicts what the original predicts;
at 50% the shapes, dtypes and label sets still agree.
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

from sklearn_corenet import CoreNetCompressor
from sklearn_corenet.adapters._sklearn import sklearn_head

RNG = np.random.default_rng(0)
X = RNG.normal(size=(200, 5))

CLASSIFIER_TARGETS = {
    "binary-int": np.where(X[:, 0] > 0, 3, 7),
    "binary-str": np.where(X[:, 0] > 0, "yes", "no"),
    "binary-bool": X[:, 0] > 0,
    "multiclass-int": np.array([5, 1, 9])[np.argmax(X[:, :3], axis=1)],
    "multiclass-str": np.array(["a", "b", "c"])[np.argmax(X[:, :3], axis=1)],
    "one-class-int": np.full(200, 4),
    "one-class-str": np.full(200, "z"),
    "multilabel-1": (X[:, :1] > 0).astype(int),
    "multilabel-2": (X[:, :2] > 0).astype(int),
    "multilabel-3": (X[:, :3] > 0).astype(int),
    "multilabel-bool": X[:, :3] > 0,
    "multilabel-constant-column": np.column_stack([(X[:, 0] > 0).astype(int), np.ones(200, dtype=int)]),
}

REGRESSOR_TARGETS = {
    "one-output": ({}, X[:, 0]),
    "one-column": ({}, X[:, :1]),
    "two-outputs": ({}, X[:, :2]),
    "poisson": ({"loss": "poisson"}, np.exp(X[:, 0] / 2)),
    "poisson-two-outputs": ({"loss": "poisson"}, np.exp(X[:, :2] / 2)),
}


def _fit(model, y):
    with warnings.catch_warnings():
        # a column vector is what these targets test
        warnings.simplefilter("ignore", DataConversionWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def _compress(model, keep_ratio, data=X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return CoreNetCompressor(keep_ratio=keep_ratio, random_state=0).fit_transform(model, data)


def _check(original, compressed, data, keep_ratio, rtol=1e-10):
    expected, got = original.predict(data), compressed.predict(data)
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    if expected.dtype.kind == "f":
        if keep_ratio == 1.0:
            np.testing.assert_allclose(got, expected, rtol=rtol, atol=1e-6)
        assert np.isfinite(got).all()
    elif keep_ratio == 1.0:
        np.testing.assert_array_equal(got, expected)
    else:
        allowed = np.unique(expected) if expected.ndim == 1 else np.array([0, 1])
        assert np.isin(got, np.concatenate([allowed, getattr(compressed, "classes_", allowed)])).all()


@pytest.mark.parametrize("keep_ratio", [1.0, 0.5])
@pytest.mark.parametrize("target", list(CLASSIFIER_TARGETS))
def test_scikit_learn_classifier_heads(target, keep_ratio):
    model = _fit(MLPClassifier((8,), max_iter=50, random_state=0), CLASSIFIER_TARGETS[target])
    compressed = _compress(model, keep_ratio)
    _check(model, compressed, X, keep_ratio)
    np.testing.assert_array_equal(compressed.classes_, model.classes_)
    assert compressed.predict_proba(X).shape == model.predict_proba(X).shape


@pytest.mark.parametrize("keep_ratio", [1.0, 0.5])
@pytest.mark.parametrize("target", list(REGRESSOR_TARGETS))
def test_scikit_learn_regressor_heads(target, keep_ratio):
    params, y = REGRESSOR_TARGETS[target]
    model = _fit(MLPRegressor(hidden_layer_sizes=(8,), max_iter=50, random_state=0, **params), y)
    _check(model, _compress(model, keep_ratio), X, keep_ratio)


def test_logistic_with_several_outputs_is_multilabel_whatever_the_binarizer_says():
    model = _fit(MLPClassifier((8,), max_iter=50, random_state=0), CLASSIFIER_TARGETS["multilabel-3"])
    del model._label_binarizer  # a model built by hand, or saved without it
    assert sklearn_head(model).kind == "multilabel"
    compressed = _compress(model, 1.0)
    assert compressed.predict(X).shape == (200, 3)


def test_a_binary_head_with_several_outputs_predicts_an_indicator_matrix():
    # a head read before multilabel outputs were recognised: never n × k labels in a row
    model = _fit(MLPClassifier((8,), max_iter=50, random_state=0), CLASSIFIER_TARGETS["multilabel-3"])
    compressed = _compress(model, 1.0)
    compressed.head_.kind = "binary"
    np.testing.assert_array_equal(compressed.predict(X), model.predict(X))


# -- torch and skorch ----------------------------------------------------------


def _module(n_outputs, last=None, flatten=False):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    layers = [torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, n_outputs)]
    if last is not None:
        layers.append(last)
    if flatten:
        layers.append(torch.nn.Flatten(0))
    return torch.nn.Sequential(*layers)


def _skorch_nets():
    torch = pytest.importorskip("torch")
    skorch = pytest.importorskip("skorch")
    nn = torch.nn
    classes = np.argmax(X[:, :3], axis=1).astype(np.int64)
    return {
        "classifier-cross-entropy": (
            skorch.NeuralNetClassifier(_module(3), criterion=nn.CrossEntropyLoss, max_epochs=1, verbose=0),
            classes,
        ),
        "classifier-nll-softmax": (
            skorch.NeuralNetClassifier(_module(3, nn.Softmax(dim=-1)), max_epochs=1, verbose=0),
            classes,
        ),
        "classifier-nll-log-softmax": (
            skorch.NeuralNetClassifier(
                _module(3, nn.LogSoftmax(dim=-1)), criterion=nn.NLLLoss, max_epochs=1, verbose=0
            ),
            classes,
        ),
        "binary-bce-logits": (
            skorch.NeuralNetBinaryClassifier(_module(1, flatten=True), max_epochs=1, verbose=0),
            (X[:, 0] > 0).astype(np.float32),
        ),
        "regressor-one-column": (skorch.NeuralNetRegressor(_module(1), max_epochs=1, verbose=0), X[:, :1]),
        "regressor-one-dimensional": (
            skorch.NeuralNetRegressor(_module(1, flatten=True), max_epochs=1, verbose=0),
            X[:, 0],
        ),
        "regressor-two-outputs": (skorch.NeuralNetRegressor(_module(2), max_epochs=1, verbose=0), X[:, :2]),
    }


SKORCH_NETS = [
    "classifier-cross-entropy",
    "classifier-nll-softmax",
    "classifier-nll-log-softmax",
    "binary-bce-logits",
    "regressor-one-column",
    "regressor-one-dimensional",
    "regressor-two-outputs",
]


@pytest.mark.parametrize("keep_ratio", [1.0, 0.5])
@pytest.mark.parametrize("name", SKORCH_NETS)
def test_skorch_heads(name, keep_ratio):
    net, y = _skorch_nets()[name]
    data = X.astype(np.float32)
    target = y.astype(np.float32) if y.dtype.kind == "f" else y
    net.fit(data, target)
    _check(net, _compress(net, keep_ratio, data), data, keep_ratio, rtol=1e-4)


def _bare_predictions(module, kind):
    torch = pytest.importorskip("torch")
    with torch.no_grad():
        output = module(torch.from_numpy(X.astype(np.float32))).numpy()
    if kind == "multiclass":
        return np.argmax(output, axis=1)
    if kind == "binary":
        return (output.ravel() > 0.5).astype(int)
    if kind == "multilabel":
        return (output > 0.5).astype(int)
    return output.ravel() if output.shape[1] == 1 else output


class _Predicting:
    """A bare module with the predict its head defines, to compare against."""

    def __init__(self, module, kind):
        self.module, self.kind = module, kind

    def predict(self, data):
        return _bare_predictions(self.module, self.kind)


@pytest.mark.parametrize("keep_ratio", [1.0, 0.5])
@pytest.mark.parametrize(
    "last, n_outputs, kind",
    [
        ("Softmax", 3, "multiclass"),
        ("LogSoftmax", 3, "multiclass"),
        ("Sigmoid", 1, "binary"),
        ("Sigmoid", 3, "multilabel"),
        (None, 1, "regression"),
        (None, 2, "regression"),
    ],
)
def test_bare_module_heads(last, n_outputs, kind, keep_ratio):
    torch = pytest.importorskip("torch")
    activation = None if last is None else getattr(torch.nn, last)(*([-1] if "Softmax" in last else []))
    module = _module(n_outputs, activation)
    compressed = _compress(module, keep_ratio, X.astype(np.float32))
    assert compressed.head_.kind == kind
    _check(_Predicting(module, kind), compressed, X.astype(np.float32), keep_ratio, rtol=1e-4)


@pytest.mark.parametrize("keep_ratio", [1.0, 0.5])
@pytest.mark.parametrize(
    "n_outputs, options, kind",
    [(1, {}, "binary"), (3, {"classes": ["a", "b", "c"]}, "multiclass"), (3, {"multilabel": True}, "multilabel")],
)
def test_class_scores_heads(n_outputs, options, kind, keep_ratio):
    torch = pytest.importorskip("torch")
    from sklearn_corenet import ClassScores

    module = _module(n_outputs)
    compressed = _compress(ClassScores(module, **options), keep_ratio, X.astype(np.float32))
    assert compressed.head_.kind == kind
    last = torch.nn.Sigmoid() if kind != "multiclass" else torch.nn.Softmax(dim=-1)
    expected = _bare_predictions(torch.nn.Sequential(module, last), kind)
    if "classes" in options:
        expected = np.asarray(options["classes"])[expected]
    got = compressed.predict(X.astype(np.float32))
    assert got.shape == expected.shape and got.dtype == expected.dtype
    if keep_ratio == 1.0:
        np.testing.assert_array_equal(got, expected)
