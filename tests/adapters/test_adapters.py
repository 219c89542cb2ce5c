"""Model adapters: dispatch, torch kept out of sklearn work, the sklearn reader."""

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier, MLPRegressor

from sklearn_corenet.adapters import (
    ADAPTERS,
    SUPPORTED_MODELS,
    find_adapter,
    is_supported,
    network_from_model,
)
from sklearn_corenet.adapters._sklearn import network_from_sklearn


def _fitted(mlp, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return mlp.fit(X, y)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 5))
    return X, X @ rng.normal(size=(5, 3))


@pytest.mark.parametrize("cls", [MLPClassifier, MLPRegressor])
def test_sklearn_mlp_is_read_by_the_sklearn_adapter(cls, data):
    X, targets = data
    y = targets[:, 0] > 0 if cls is MLPClassifier else targets[:, 0]
    mlp = _fitted(cls(hidden_layer_sizes=(4,), max_iter=20, random_state=0), X, y)
    assert find_adapter(mlp).name == "sklearn"
    network = network_from_model(mlp, X)
    assert network.source == cls.__name__
    for read, original in zip(network.coefs, mlp.coefs_, strict=True):
        np.testing.assert_array_equal(read, original)


def test_torch_module_and_skorch_net_are_read_by_the_torch_adapter(data):
    torch = pytest.importorskip("torch")
    skorch = pytest.importorskip("skorch")
    X, targets = data
    module = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3))
    assert find_adapter(module).name == "torch"
    network = network_from_model(module, X)
    np.testing.assert_allclose(network.coefs[0], module[0].weight.detach().numpy().T)

    net = skorch.NeuralNetRegressor(
        torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3)),
        max_epochs=1,
        train_split=None,
        verbose=0,
    )
    assert find_adapter(net).name == "skorch"
    with pytest.raises(NotFittedError):
        network_from_model(net, X)
    net.fit(X.astype(np.float32), targets.astype(np.float32))
    assert network_from_model(net, X).source.startswith("skorch NeuralNetRegressor")


@pytest.mark.parametrize(
    "model",
    [LogisticRegression(), np.eye(3), "MLPClassifier", None],
    ids=["estimator", "array", "str", "None"],
)
def test_other_objects_are_a_type_error_naming_type_and_supported_models(model):
    assert find_adapter(model) is None and not is_supported(model)
    cls = type(model)
    with pytest.raises(TypeError) as error:
        network_from_model(model)
    message = str(error.value)
    assert f"{cls.__module__}.{cls.__qualname__}" in message
    assert message.endswith(f"supported models: {SUPPORTED_MODELS}")
    for adapter in ADAPTERS:
        assert adapter.description in message


def test_unfitted_sklearn_mlp_is_not_fitted_error():
    assert is_supported(MLPClassifier())
    with pytest.raises(NotFittedError):
        network_from_model(MLPClassifier())


def test_compressing_a_sklearn_mlp_does_not_import_torch():
    # a plain scikit-learn user must not need torch, nor pay for its import
    script = textwrap.dedent(
        """
        import sys
        import warnings

        import numpy as np
        from sklearn.neural_network import MLPClassifier

        import sklearn_corenet

        rng = np.random.default_rng(0)
        X = rng.normal(size=(80, 6))
        y = X[:, 0] > 0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mlp = MLPClassifier((8,), max_iter=20, random_state=0).fit(X, y)
            compressor = sklearn_corenet.CoreNetCompressor(keep_ratio=0.5, random_state=0)
            sparse = compressor.fit_transform(mlp, X)
            sparse.predict(X)
            sklearn_corenet.CoreNetClassifier(mlp, keep_ratio=0.5).fit(X, y)
        imported = sorted(name for name in sys.modules if name.split(".")[0] in ("torch", "skorch"))
        assert not imported, imported
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True)


@pytest.mark.parametrize(
    ("kind", "out_activation"),
    [
        ("binary", "logistic"),
        ("multiclass", "softmax"),
        ("multilabel", "logistic"),
        ("regression", "identity"),
    ],
)
def test_sklearn_output_heads(kind, out_activation, data):
    X, targets = data
    if kind == "regression":
        mlp, y = MLPRegressor(), targets
    else:
        mlp = MLPClassifier()
        y = {
            "binary": np.where(targets[:, 0] > 0, "yes", "no"),
            "multiclass": np.argmax(targets, axis=1) + 10,
            "multilabel": (targets > 0).astype(int),
        }[kind]
    mlp = _fitted(mlp.set_params(hidden_layer_sizes=(4,), max_iter=20, random_state=0), X, y)
    network = network_from_sklearn(mlp)
    assert network.head.kind == kind
    assert network.out_activation == out_activation == mlp.out_activation_
    assert network.activation == "relu"
    if kind == "regression":
        assert network.head.classes is None
    else:
        np.testing.assert_array_equal(network.head.classes, mlp.classes_)


def test_sklearn_arrays_are_copies(data):
    pd = pytest.importorskip("pandas")
    X, targets = data
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    mlp = _fitted(
        MLPClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0),
        frame,
        np.argmax(targets, axis=1),
    )
    coefs = [W.copy() for W in mlp.coefs_]
    intercepts = [b.copy() for b in mlp.intercepts_]
    classes, names = mlp.classes_.copy(), mlp.feature_names_in_.copy()
    network = network_from_sklearn(mlp)
    for array in (*network.coefs, *network.intercepts):
        array[...] = 0
    network.head.classes[...] = -1
    network.feature_names_in[...] = "changed"
    for before, after in zip(coefs + intercepts, mlp.coefs_ + mlp.intercepts_, strict=True):
        np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(mlp.classes_, classes)
    np.testing.assert_array_equal(mlp.feature_names_in_, names)
