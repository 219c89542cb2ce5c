"""Reading torch modules and skorch nets into a Network: the output head."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
skorch = pytest.importorskip("skorch")

from sklearn.exceptions import NotFittedError
from torch import nn

from sklearn_corenet.adapters._torch import network_from_torch_world
from tests.adapters.test_torch_graph import (
    MODULES,
    N_FEATURES,
    assert_parity,
    make_data,
    seed_and_one_thread,  # noqa: F401 - autouse fixture
    torch_output,
)


def head_predict_proba(network, X):
    """What a compressed classifier's predict_proba returns for this network."""
    output = network.forward(X)
    if network.head.kind == "binary":
        p = output.ravel()
        return np.column_stack([1 - p, p])
    return output


def head_predict(network, X):
    """What a compressed estimator's predict returns for this network."""
    output = network.forward(X)
    head = network.head
    if head.kind == "regression":
        return output
    if head.kind == "binary":
        return head.classes[(output.ravel() > head.threshold).astype(int)]
    if head.kind == "multilabel":
        return (output > head.threshold).astype(int)
    return head.classes[np.argmax(output, axis=1)]


# -- bare modules ------------------------------------------------------------


def test_activations_and_heads_of_bare_modules():
    expected = {
        "sequential": ("relu", "identity", "regression"),
        "tanh": ("tanh", "identity", "regression"),
        "sigmoid_hidden": ("logistic", "identity", "regression"),
        "no_hidden_activation": ("identity", "identity", "regression"),
        "softmax_end": ("relu", "softmax", "multiclass"),
        "log_softmax_end": ("relu", "log_softmax", "multiclass"),
        "sigmoid_end": ("relu", "logistic", "multilabel"),
    }
    for name, (activation, out_activation, kind) in expected.items():
        network = network_from_torch_world(MODULES[name]())
        assert (network.activation, network.out_activation, network.head.kind) == (
            activation,
            out_activation,
            kind,
        ), name
    multiclass = network_from_torch_world(MODULES["softmax_end"]())
    np.testing.assert_array_equal(multiclass.head.classes, np.arange(4))
    binary = network_from_torch_world(
        nn.Sequential(
            nn.Linear(N_FEATURES, 3), nn.ReLU(), nn.Linear(3, 1), nn.Sigmoid()
        )
    )
    assert binary.head.kind == "binary"
    np.testing.assert_array_equal(binary.head.classes, [0, 1])


@pytest.mark.skipif(not hasattr(torch, "compile"), reason="torch.compile unavailable")
def test_compiled_module_is_read_through_its_original():
    module = MODULES["nested"]().eval()
    compiled = torch.compile(module, backend="eager")
    X = make_data()
    network = network_from_torch_world(compiled)
    np.testing.assert_allclose(
        network.forward(X), torch_output(compiled, X), rtol=1e-5, atol=1e-6
    )
    assert "torch.compile" in network.source


def test_one_output_module_may_squeeze():
    class Squeezed(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(
                nn.Linear(N_FEATURES, 5), nn.ReLU(), nn.Linear(5, 1)
            )

        def forward(self, x):
            return torch.sigmoid(self.body(x).squeeze(-1))

    network = assert_parity(Squeezed(), make_data())
    assert network.extra["module_output_1d"] is True
    assert network.head.kind == "binary"


def test_not_a_module_is_rejected():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        network_from_torch_world(object())


# -- skorch ------------------------------------------------------------------


def _classification_data(n_classes=3, n=90, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    y = (np.argmax(X[:, :n_classes], axis=1)).astype(np.int64)
    return X, y


def _mlp(n_out, final=None, squeeze=False):
    layers = [nn.Linear(N_FEATURES, 16), nn.ReLU(), nn.Linear(16, n_out)]
    if final is not None:
        layers.append(final)
    if squeeze:
        layers.append(nn.Flatten(0))
    return nn.Sequential(*layers)


def _fit(net, X, y):
    return net.set_params(max_epochs=3, train_split=None, verbose=0, lr=0.1).fit(X, y)


def _assert_same_predictions(net, network, X):
    np.testing.assert_allclose(
        head_predict_proba(network, X), net.predict_proba(X), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_array_equal(head_predict(network, X), net.predict(X))


def test_skorch_classifier_cross_entropy():
    X, y = _classification_data()
    net = _fit(skorch.NeuralNetClassifier(_mlp(3), criterion=nn.CrossEntropyLoss), X, y)
    network = network_from_torch_world(net)
    assert network.out_activation == "softmax"
    assert network.head.kind == "multiclass"
    np.testing.assert_array_equal(network.head.classes, [0, 1, 2])
    assert network.extra["skorch_class"] == "skorch.classifier.NeuralNetClassifier"
    assert network.extra["criterion"].endswith("CrossEntropyLoss")
    assert "module" not in network.extra["skorch_params"]
    assert network.source == "skorch NeuralNetClassifier(Sequential)"
    _assert_same_predictions(net, network, X)


@pytest.mark.parametrize(
    ("final", "out_activation"),
    [(nn.Softmax(dim=-1), "softmax"), (nn.LogSoftmax(dim=-1), "log_softmax")],
)
def test_skorch_classifier_nll(final, out_activation):
    X, y = _classification_data()
    net = skorch.NeuralNetClassifier(_mlp(3, final), criterion=nn.NLLLoss)
    if out_activation == "softmax":
        _fit(net, X, y)
    else:
        net.initialize()  # skorch's NLLLoss takes a log of the output: train with probabilities only
    network = network_from_torch_world(net)
    assert network.out_activation == out_activation
    _assert_same_predictions(net, network, X)


def test_skorch_cross_entropy_over_softmax_is_rejected():
    net = skorch.NeuralNetClassifier(
        _mlp(3, nn.Softmax(dim=-1)), criterion=nn.CrossEntropyLoss
    ).initialize()
    with pytest.raises(TypeError, match="logits"):
        network_from_torch_world(net)


@pytest.mark.parametrize("squeeze", [True, False])
def test_skorch_binary_classifier(squeeze):
    X, y = _classification_data(n_classes=2)
    net = _fit(
        skorch.NeuralNetBinaryClassifier(_mlp(1, squeeze=squeeze), threshold=0.3),
        X,
        y.astype(np.float32),
    )
    network = network_from_torch_world(net)
    assert network.out_activation == "logistic"
    assert network.head.kind == "binary"
    assert network.head.threshold == 0.3
    assert network.extra["threshold"] == 0.3
    assert network.extra["module_output_1d"] is squeeze
    _assert_same_predictions(net, network, X)
    # the threshold matters: some points lie between 0.3 and 0.5
    assert (head_predict(network, X) != (network.forward(X).ravel() > 0.5)).any()


def test_skorch_regressor():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, N_FEATURES)).astype(np.float32)
    y = (X @ rng.normal(size=(N_FEATURES, 2))).astype(np.float32)
    net = _fit(skorch.NeuralNetRegressor(_mlp(2)), X, y)
    network = network_from_torch_world(net)
    assert (network.out_activation, network.head.kind) == ("identity", "regression")
    np.testing.assert_allclose(
        head_predict(network, X), net.predict(X), rtol=1e-5, atol=1e-5
    )


def test_skorch_custom_predict_nonlinearity_is_rejected():
    net = skorch.NeuralNetRegressor(
        _mlp(2), predict_nonlinearity=lambda y: 2 * y
    ).initialize()
    with pytest.raises(TypeError, match="predict_nonlinearity"):
        network_from_torch_world(net)


def test_unfitted_skorch_net_raises_not_fitted():
    net = skorch.NeuralNetClassifier(_mlp(3))
    with pytest.raises(NotFittedError, match="fit"):
        network_from_torch_world(net)


def test_skorch_module_is_unchanged():
    X, y = _classification_data()
    net = _fit(skorch.NeuralNetClassifier(_mlp(3), criterion=nn.CrossEntropyLoss), X, y)
    net.module_.train()
    before = {key: value.clone() for key, value in net.module_.state_dict().items()}
    network_from_torch_world(net)
    assert net.module_.training
    for key, value in net.module_.state_dict().items():
        assert torch.equal(value, before[key])
