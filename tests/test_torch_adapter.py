"""Reading torch modules and skorch nets into a Network."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
skorch = pytest.importorskip("skorch")

from sklearn.exceptions import NotFittedError  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from sklearn_corenet._torch_adapter import network_from_torch_world  # noqa: E402

N_FEATURES = 6


@pytest.fixture(autouse=True)
def _seed_and_one_thread():
    # tiny tensors: thread start-up and contention dominate with several threads
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def _data(n=40, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).normal(size=(n, N_FEATURES)).astype(dtype)


def _torch_output(module, X):
    with torch.no_grad():
        return module(torch.from_numpy(X)).numpy()


def _assert_parity(module, X, rtol=1e-5, atol=1e-6):
    module.eval()
    network = network_from_torch_world(module)
    expected = _torch_output(module, X)
    got = network.forward(X.copy())
    assert got.dtype == X.dtype
    np.testing.assert_allclose(got, expected.reshape(got.shape), rtol=rtol, atol=atol)
    return network


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


# -- modules -----------------------------------------------------------------


class CustomForward(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = nn.Linear(N_FEATURES, 7)
        self.second = nn.Linear(7, 5)
        self.out = nn.Linear(5, 3)
        self.act = nn.ReLU()

    def forward(self, x):
        x = F.relu(self.first(x))
        x = torch.relu(self.second(x))
        return self.out(x)


class SharedActivation(nn.Module):
    """One ReLU module object applied after two different layers."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(N_FEATURES, 8)
        self.b = nn.Linear(8, 8)
        self.c = nn.Linear(8, 2)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.c(self.act(self.b(self.act(self.a(x)))))


class FunctionalLinear(nn.Module):
    """Weights held as plain parameters and applied with F.linear."""

    def __init__(self):
        super().__init__()
        self.w1 = nn.Parameter(torch.randn(5, N_FEATURES))
        self.b1 = nn.Parameter(torch.randn(5))
        self.w2 = nn.Parameter(torch.randn(2, 5))

    def forward(self, x):
        return F.linear(F.linear(x, self.w1, self.b1).tanh(), self.w2)


MODULES = {
    "sequential": lambda: nn.Sequential(
        nn.Linear(N_FEATURES, 8), nn.ReLU(), nn.Linear(8, 3)
    ),
    "nested": lambda: nn.Sequential(
        nn.Sequential(nn.Linear(N_FEATURES, 8), nn.ReLU()),
        nn.Sequential(nn.Sequential(nn.Linear(8, 5), nn.ReLU()), nn.Linear(5, 2)),
    ),
    "custom_forward": CustomForward,
    "shared_activation": SharedActivation,
    "dropout_identity": lambda: nn.Sequential(
        nn.Dropout(0.5),
        nn.Linear(N_FEATURES, 8),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Identity(),
        nn.Linear(8, 2),
    ),
    "flatten_first": lambda: nn.Sequential(
        nn.Flatten(), nn.Linear(N_FEATURES, 8), nn.ReLU(), nn.Linear(8, 2)
    ),
    "tanh": lambda: nn.Sequential(
        nn.Linear(N_FEATURES, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 1)
    ),
    "sigmoid_hidden": lambda: nn.Sequential(
        nn.Linear(N_FEATURES, 8), nn.Sigmoid(), nn.Linear(8, 2)
    ),
    "no_hidden_activation": lambda: nn.Sequential(
        nn.Linear(N_FEATURES, 4), nn.Linear(4, 2)
    ),
    "no_bias": lambda: nn.Sequential(
        nn.Linear(N_FEATURES, 8, bias=False), nn.ReLU(), nn.Linear(8, 2)
    ),
    "functional_linear": FunctionalLinear,
    "softmax_end": lambda: nn.Sequential(
        nn.Linear(N_FEATURES, 8), nn.ReLU(), nn.Linear(8, 4), nn.Softmax(dim=-1)
    ),
    "log_softmax_end": lambda: nn.Sequential(
        nn.Linear(N_FEATURES, 8), nn.ReLU(), nn.Linear(8, 4), nn.LogSoftmax(dim=1)
    ),
    "sigmoid_end": lambda: nn.Sequential(
        nn.Linear(N_FEATURES, 8), nn.ReLU(), nn.Linear(8, 3), nn.Sigmoid()
    ),
}


@pytest.mark.parametrize("name", sorted(MODULES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_matches_module(name, dtype):
    module = MODULES[name]().to(torch.float64 if dtype == np.float64 else torch.float32)
    rtol, atol = (1e-5, 1e-6) if dtype == np.float32 else (1e-12, 1e-13)
    network = _assert_parity(module, _data(dtype=dtype), rtol=rtol, atol=atol)
    assert network.dtype == dtype
    assert network.n_features_in == N_FEATURES


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


def test_weights_are_transposed_copies():
    module = nn.Sequential(nn.Linear(N_FEATURES, 4), nn.ReLU(), nn.Linear(4, 2))
    network = network_from_torch_world(module)
    np.testing.assert_array_equal(network.coefs[0], module[0].weight.detach().numpy().T)
    network.coefs[0][:] = 0
    network.intercepts[1][:] = 0
    assert torch.count_nonzero(module[0].weight) == module[0].weight.numel()
    assert torch.count_nonzero(module[2].bias) == 2


def _trained_batchnorm(module, dtype=torch.float32):
    """Run a few training batches so that the running statistics are far from 0 / 1."""
    module.train()
    with torch.no_grad():
        for _ in range(20):
            module(torch.randn(64, N_FEATURES, dtype=dtype) * 3 + 2)
        for layer in module.modules():
            if isinstance(layer, nn.BatchNorm1d) and layer.affine:
                layer.weight.uniform_(0.5, 2.0)
                layer.bias.uniform_(-1.0, 1.0)
    module.eval()
    return module


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_batchnorm_is_folded(dtype):
    module = nn.Sequential(
        nn.Linear(N_FEATURES, 8),
        nn.BatchNorm1d(8),
        nn.ReLU(),
        nn.Linear(8, 5),
        nn.ReLU(),
        nn.BatchNorm1d(
            5, affine=False
        ),  # after the activation: folded into the next layer
        nn.Linear(5, 3),
    ).to(dtype)
    _trained_batchnorm(module, dtype)
    assert float(module[1].running_mean.abs().max()) > 0.5
    X = _data(dtype=np.float32 if dtype == torch.float32 else np.float64)
    rtol, atol = (1e-5, 1e-5) if dtype == torch.float32 else (1e-12, 1e-12)
    network = _assert_parity(module, X, rtol=rtol, atol=atol)
    assert network.hidden_layer_sizes == (8, 5)


def test_batchnorm_on_the_input_is_folded_into_the_first_layer():
    module = nn.Sequential(
        nn.BatchNorm1d(N_FEATURES), nn.Linear(N_FEATURES, 4), nn.ReLU(), nn.Linear(4, 2)
    )
    module.train()
    with torch.no_grad():
        for _ in range(10):
            module(torch.randn(64, N_FEATURES) * 4 - 1)
    _assert_parity(module, _data(), atol=1e-5)


@pytest.mark.skipif(not hasattr(torch, "compile"), reason="torch.compile unavailable")
def test_compiled_module_is_read_through_its_original():
    module = MODULES["nested"]().eval()
    compiled = torch.compile(module, backend="eager")
    X = _data()
    network = network_from_torch_world(compiled)
    np.testing.assert_allclose(
        network.forward(X), _torch_output(compiled, X), rtol=1e-5, atol=1e-6
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

    network = _assert_parity(Squeezed(), _data())
    assert network.extra["module_output_1d"] is True
    assert network.head.kind == "binary"


# -- what is left unchanged --------------------------------------------------


def test_model_weights_and_training_mode_are_unchanged():
    module = nn.Sequential(
        nn.Linear(N_FEATURES, 8),
        nn.BatchNorm1d(8),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(8, 2),
    )
    _trained_batchnorm(module)
    module.train()
    module[3].eval()  # a mixed state must come back as it was
    before = {key: value.clone() for key, value in module.state_dict().items()}
    modes = [m.training for m in module.modules()]
    network_from_torch_world(module)
    assert [m.training for m in module.modules()] == modes
    after = module.state_dict()
    assert before.keys() == after.keys()
    for key, value in before.items():
        assert torch.equal(value, after[key]), key


def test_read_in_evaluation_mode_even_when_training():
    module = nn.Sequential(
        nn.Linear(N_FEATURES, 8),
        nn.BatchNorm1d(8),
        nn.ReLU(),
        nn.Dropout(0.9),
        nn.Linear(8, 2),
    )
    _trained_batchnorm(module)
    module.train()
    network = network_from_torch_world(module)
    module.eval()
    np.testing.assert_allclose(
        network.forward(_data()), _torch_output(module, _data()), rtol=1e-5, atol=1e-5
    )


# -- rejections --------------------------------------------------------------


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(N_FEATURES, N_FEATURES)
        self.b = nn.Linear(N_FEATURES, 2)

    def forward(self, x):
        return self.b(F.relu(self.a(x)) + x)


class DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(N_FEATURES, 2)

    def forward(self, x):
        if x.sum() > 0:
            return self.a(x)
        return -self.a(x)


class SharedLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(4, 4)
        self.first = nn.Linear(N_FEATURES, 4)

    def forward(self, x):
        return self.hidden(F.relu(self.hidden(F.relu(self.first(x)))))


@pytest.mark.parametrize(
    ("module", "names"),
    [
        (
            nn.Sequential(nn.Conv1d(1, 2, 3), nn.Flatten(), nn.Linear(8, 2)),
            ["'0'", "Conv1d"],
        ),
        (Residual(), ["add"]),
        (DataDependent(), ["DataDependent", "if x.sum() > 0"]),
        (SharedLinear(), ["hidden", "used twice"]),
        (
            nn.Sequential(nn.Linear(N_FEATURES, 4), nn.LeakyReLU(), nn.Linear(4, 2)),
            ["LeakyReLU"],
        ),
        (
            nn.Sequential(
                nn.Linear(N_FEATURES, 4),
                nn.ReLU(),
                nn.Linear(4, 4),
                nn.Tanh(),
                nn.Linear(4, 2),
            ),
            ["relu", "tanh", "one kind"],
        ),
        (
            nn.Sequential(nn.Linear(N_FEATURES, 4), nn.ReLU()),
            ["ReLU", "output activation"],
        ),
        (nn.Sequential(nn.Linear(N_FEATURES, 4), nn.Softmax(dim=0)), ["Softmax"]),
        (
            nn.Sequential(
                nn.Linear(N_FEATURES, 4),
                nn.BatchNorm1d(4, track_running_stats=False),
                nn.Linear(4, 2),
            ),
            ["BatchNorm1d", "running statistics"],
        ),
    ],
    ids=[
        "conv1d",
        "residual",
        "data_dependent",
        "shared_linear",
        "leaky_relu",
        "mixed",
        "relu_end",
        "softmax_dim0",
        "batch_stats",
    ],
)
def test_unsupported_modules_are_rejected_by_name(module, names):
    with pytest.raises(TypeError) as info:
        network_from_torch_world(module)
    message = str(info.value)
    for name in names:
        assert name in message
    assert "supported" in message


def test_lazy_linear_needs_data_and_stays_lazy():
    module = nn.Sequential(nn.LazyLinear(5), nn.ReLU(), nn.Linear(5, 2))
    with pytest.raises(ValueError, match="pass calibration data X"):
        network_from_torch_world(module)
    X = _data()
    network = network_from_torch_world(module, X)
    assert network.coefs[0].shape == (N_FEATURES, 5)
    assert isinstance(
        module[0], nn.LazyLinear
    )  # the caller's module was not materialised


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
