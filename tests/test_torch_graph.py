"""Reading a torch module's graph: tracing, the walk along the chain, the module left as it was."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from sklearn_corenet._torch_adapter import network_from_torch_world  # noqa: E402

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
        network.forward(make_data()), torch_output(module, make_data()), rtol=1e-5, atol=1e-5
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
