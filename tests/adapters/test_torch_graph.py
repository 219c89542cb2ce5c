"""Reading a torch module's graph: tracing, the walk along the chain, the module left as it was."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn
from torch.nn import functional as F

from sklearn_corenet.adapters._torch import network_from_torch_world

N_FEATURES = 6


@pytest.fixture(autouse=True)
def seed_and_one_thread():
    # tiny tensors: thread start-up and contention dominate with several threads
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


def make_data(n=40, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).normal(size=(n, N_FEATURES)).astype(dtype)


def torch_output(module, X):
    with torch.no_grad():
        return module(torch.from_numpy(X)).numpy()


def assert_parity(module, X, rtol=1e-5, atol=1e-6):
    module.eval()
    network = network_from_torch_world(module)
    expected = torch_output(module, X)
    got = network.forward(X.copy())
    assert got.dtype == X.dtype
    np.testing.assert_allclose(got, expected.reshape(got.shape), rtol=rtol, atol=atol)
    return network


def assert_rejected_by_name(module, names):
    """Reading ``module`` raises a TypeError naming ``names`` and what is supported."""
    with pytest.raises(TypeError) as info:
        network_from_torch_world(module)
    message = str(info.value)
    for name in names:
        assert name in message
    assert "supported" in message


def trained_batchnorm(module, dtype=torch.float32):
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
    network = assert_parity(module, make_data(dtype=dtype), rtol=rtol, atol=atol)
    assert network.dtype == dtype
    assert network.n_features_in == N_FEATURES


def test_weights_are_transposed_copies():
    module = nn.Sequential(nn.Linear(N_FEATURES, 4), nn.ReLU(), nn.Linear(4, 2))
    network = network_from_torch_world(module)
    np.testing.assert_array_equal(network.coefs[0], module[0].weight.detach().numpy().T)
    network.coefs[0][:] = 0
    network.intercepts[1][:] = 0
    assert torch.count_nonzero(module[0].weight) == module[0].weight.numel()
    assert torch.count_nonzero(module[2].bias) == 2


# -- what is left unchanged --------------------------------------------------


def test_model_weights_and_training_mode_are_unchanged():
    module = nn.Sequential(
        nn.Linear(N_FEATURES, 8),
        nn.BatchNorm1d(8),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(8, 2),
    )
    trained_batchnorm(module)
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
    trained_batchnorm(module)
    module.train()
    network = network_from_torch_world(module)
    module.eval()
    np.testing.assert_allclose(
        network.forward(make_data()),
        torch_output(module, make_data()),
        rtol=1e-5,
        atol=1e-5,
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
        (Residual(), ["add"]),
        (DataDependent(), ["DataDependent", "if x.sum() > 0"]),
        (SharedLinear(), ["hidden", "used twice"]),
    ],
    ids=["residual", "data_dependent", "shared_linear"],
)
def test_modules_that_are_not_one_chain_are_rejected_by_name(module, names):
    assert_rejected_by_name(module, names)


def test_lazy_linear_needs_data_and_stays_lazy():
    module = nn.Sequential(nn.LazyLinear(5), nn.ReLU(), nn.Linear(5, 2))
    with pytest.raises(ValueError, match="pass calibration data X"):
        network_from_torch_world(module)
    X = make_data()
    network = network_from_torch_world(module, X)
    assert network.coefs[0].shape == (N_FEATURES, 5)
    assert isinstance(
        module[0], nn.LazyLinear
    )  # the caller's module was not materialised


# -- modules as skorch's README and tutorials write them ----------------------
#
# skorch passes extra fit parameters to ``forward`` as keyword arguments, so
# its modules take ``forward(self, X, **kwargs)``; keyword arguments that a
# caller never passes are not inputs.

SKORCH_FEATURES = 20


class ReadmeClassifier(nn.Module):
    """skorch's README module: one ReLU module object reused, dropout, logits or a (log-)softmax."""

    def __init__(self, num_units=10, nonlin=None, final=None):
        super().__init__()
        self.dense0 = nn.Linear(SKORCH_FEATURES, num_units)
        self.nonlin = nn.ReLU() if nonlin is None else nonlin
        self.dropout = nn.Dropout(0.5)
        self.dense1 = nn.Linear(num_units, num_units)
        self.output = nn.Linear(num_units, 2)
        self.final = final

    def forward(self, X, **kwargs):
        X = self.nonlin(self.dense0(X))
        X = self.dropout(X)
        X = self.nonlin(self.dense1(X))
        X = self.output(X)
        if self.final == "softmax":
            X = F.softmax(X, dim=-1)
        elif self.final == "log_softmax":
            X = F.log_softmax(X, dim=-1)
        return X


class TutorialClassifier(nn.Module):
    """The classifier of skorch's basic-usage notebook: a functional nonlin, softmax output."""

    def __init__(self, num_units=10, nonlin=F.relu, dropout=0.5):
        super().__init__()
        self.dense0 = nn.Linear(SKORCH_FEATURES, num_units)
        self.nonlin = nonlin
        self.dropout = nn.Dropout(dropout)
        self.dense1 = nn.Linear(num_units, 10)
        self.output = nn.Linear(10, 2)

    def forward(self, X, **kwargs):
        X = self.nonlin(self.dense0(X))
        X = self.dropout(X)
        X = F.relu(self.dense1(X))
        return F.softmax(self.output(X), dim=-1)


class TutorialRegressor(nn.Module):
    """The regressor of skorch's basic-usage notebook: one output, no final activation."""

    def __init__(self, num_units=10, nonlin=F.relu):
        super().__init__()
        self.dense0 = nn.Linear(SKORCH_FEATURES, num_units)
        self.nonlin = nonlin
        self.dense1 = nn.Linear(num_units, 10)
        self.output = nn.Linear(10, 1)

    def forward(self, X, **kwargs):
        X = self.nonlin(self.dense0(X))
        X = F.relu(self.dense1(X))
        return self.output(X)


class MnistTutorialClassifier(nn.Module):
    """The MNIST tutorial's module: one hidden layer, dropout after it, softmax output."""

    def __init__(self, hidden_dim=16, output_dim=3, dropout=0.5):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.hidden = nn.Linear(SKORCH_FEATURES, hidden_dim)
        self.output = nn.Linear(hidden_dim, output_dim)

    def forward(self, X, **kwargs):
        X = F.relu(self.hidden(X))
        X = self.dropout(X)
        return F.softmax(self.output(X), dim=-1)


class KeywordDefaults(nn.Module):
    """Keyword arguments with defaults, some of which steer the forward pass."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(SKORCH_FEATURES, 8)
        self.output = nn.Linear(8, 3)

    def forward(self, X, mask=None, *args, return_hidden=False, **kwargs):
        if mask is not None:
            X = X * mask
        hidden = torch.tanh(self.hidden(X))
        if return_hidden:
            return hidden
        return self.output(hidden)


class SecondInput(nn.Module):
    def __init__(self):
        super().__init__()
        self.output = nn.Linear(SKORCH_FEATURES, 2)

    def forward(self, X, lengths):
        return self.output(X)


SKORCH_MODULES = {
    "readme_logits": (lambda: ReadmeClassifier(), ("relu", "identity", "regression")),
    "readme_softmax": (
        lambda: ReadmeClassifier(final="softmax"),
        ("relu", "softmax", "multiclass"),
    ),
    "readme_log_softmax": (
        lambda: ReadmeClassifier(final="log_softmax"),
        ("relu", "log_softmax", "multiclass"),
    ),
    "readme_tanh": (
        lambda: ReadmeClassifier(nonlin=nn.Tanh(), final="softmax"),
        ("tanh", "softmax", "multiclass"),
    ),
    "tutorial_classifier": (TutorialClassifier, ("relu", "softmax", "multiclass")),
    "tutorial_regressor": (TutorialRegressor, ("relu", "identity", "regression")),
    "mnist_tutorial": (MnistTutorialClassifier, ("relu", "softmax", "multiclass")),
    "sequential": (
        lambda: nn.Sequential(
            nn.Linear(SKORCH_FEATURES, 10),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(10, 2),
            nn.Softmax(dim=-1),
        ),
        ("relu", "softmax", "multiclass"),
    ),
    "keyword_defaults": (KeywordDefaults, ("tanh", "identity", "regression")),
}


@pytest.mark.parametrize("name", sorted(SKORCH_MODULES))
def test_skorch_style_modules_are_single_input_networks(name):
    make_module, (activation, out_activation, kind) = SKORCH_MODULES[name]
    module = make_module()
    X = np.random.default_rng(0).normal(size=(30, SKORCH_FEATURES)).astype(np.float32)
    network = assert_parity(module, X)
    assert (network.activation, network.out_activation, network.head.kind) == (
        activation,
        out_activation,
        kind,
    )
    assert network.n_features_in == SKORCH_FEATURES


def test_reading_a_keyword_forward_leaves_the_module_as_it_was():
    module = ReadmeClassifier(final="softmax")
    names = list(module.state_dict())
    children = dict(module.named_children())
    network_from_torch_world(module)
    assert list(module.state_dict()) == names
    assert dict(module.named_children()) == children
    # still called with its keyword arguments as before
    X = torch.zeros(2, SKORCH_FEATURES)
    assert module(X, sample_weight=torch.ones(2)).shape == (2, 2)


def test_a_second_input_without_default_is_refused():
    with pytest.raises(
        TypeError, match="more than one input.*'lengths'.*need defaults"
    ):
        network_from_torch_world(SecondInput())


def test_skorch_nets_with_readme_modules_are_read_and_compressed():
    skorch = pytest.importorskip("skorch")
    from sklearn_corenet import CoreNetCompressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, SKORCH_FEATURES)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    settings = {"max_epochs": 2, "lr": 0.1, "train_split": None, "verbose": 0}
    classifier = skorch.NeuralNetClassifier(
        ReadmeClassifier, criterion=nn.CrossEntropyLoss, **settings
    ).fit(X, y)
    regressor = skorch.NeuralNetRegressor(TutorialRegressor, **settings).fit(
        X, X[:, :1] - X[:, 1:2]
    )
    for net in (classifier, regressor):
        network = network_from_torch_world(net)
        expected = net.predict_proba(X) if net is classifier else net.predict(X)
        np.testing.assert_allclose(
            network.forward(X.copy()), expected, rtol=1e-5, atol=1e-6
        )
        # kept whole, the compressed model is the net
        sparse = CoreNetCompressor(keep_ratio=1.0, random_state=0).fit_transform(net, X)
        np.testing.assert_allclose(
            sparse.to_network().forward(X.copy()), expected, rtol=1e-5, atol=1e-6
        )
    np.testing.assert_array_equal(
        CoreNetCompressor(keep_ratio=1.0).fit_transform(classifier, X).predict(X),
        classifier.predict(X),
    )
