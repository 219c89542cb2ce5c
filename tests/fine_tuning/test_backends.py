"""The numpy backend computes the exact gradient with every kernel; torch agrees."""

import numpy as np
import pytest
import scipy.sparse as sp

from sklearn_corenet.core import Network
from sklearn_corenet.fine_tuning import _backends as backends
from sklearn_corenet.fine_tuning._backends import (
    KeptLayer,
    NumpyBackend,
    TorchBackend,
    choose_backend,
)
from sklearn_corenet.fine_tuning._losses import output_loss

# (sparse product density, gathered gradient density) thresholds putting every
# layer on one of the numpy backend's kernel paths
KERNELS = {
    "dense": (0.0, 0.0),
    "sparse-products": (1.1, 0.0),
    "sparse-products-gathered-gradient": (1.1, 1.1),
}
SETTINGS = [
    ("relu", "cross_entropy"),
    ("tanh", "squared_error"),
    ("logistic", "binary_cross_entropy"),
    ("identity", "poisson"),
]


@pytest.fixture(params=list(KERNELS))
def kernel(request, monkeypatch):
    sparse_density, gather_density = KERNELS[request.param]
    monkeypatch.setattr(backends, "_SPARSE_PRODUCT_DENSITY", sparse_density)
    monkeypatch.setattr(backends, "_GATHER_GRADIENT_DENSITY", gather_density)
    return request.param


def sparse_network(sizes=(6, 9, 7, 3), density=0.5, seed=0):
    rng = np.random.default_rng(seed)
    coefs = [
        sp.random_array((n_in, n_out), density=density, rng=rng, format="csr")
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
    ]
    for W in coefs:
        W.data = rng.normal(scale=0.8, size=W.nnz)
    # every other bias removed by the compression
    intercepts = [np.where(np.arange(n) % 2, rng.normal(size=n), 0.0) for n in sizes[1:]]
    layers = [KeptLayer.from_arrays(W, b) for W, b in zip(coefs, intercepts, strict=True)]
    values = []
    for W, b, layer in zip(coefs, intercepts, layers, strict=True):
        values += [W.data.copy(), b[layer.bias_index]]
    return coefs, intercepts, layers, values


def batch(loss, n_samples=11, n_features=6, n_outputs=3, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    Y = {
        "squared_error": rng.normal(size=(n_samples, n_outputs)),
        "poisson": rng.poisson(1.0, size=(n_samples, n_outputs)).astype(float),
        "cross_entropy": np.eye(n_outputs)[rng.integers(0, n_outputs, n_samples)],
        "binary_cross_entropy": rng.integers(0, 2, (n_samples, n_outputs)).astype(float),
    }[loss]
    return X, Y


class RecordGradients:
    """Stands in for Adam: keeps the gradients instead of stepping."""

    def step(self, gradients):
        self.gradients = [g.copy() for g in gradients]


def objective(backend, values, X, Y, alpha):
    backend.set_values(values)
    penalty = 0.5 * alpha * sum(float(w @ w) for w in values[::2]) / X.shape[0]
    return output_loss(backend.loss, backend.decision(X), Y)[0] + penalty


@pytest.mark.parametrize(("activation", "loss"), SETTINGS)
@pytest.mark.usefixtures("kernel")
def test_numpy_gradient_matches_finite_differences(activation, loss):
    _, _, layers, values = sparse_network()
    X, Y = batch(loss)
    alpha = 0.1
    backend = NumpyBackend(layers, values, activation, loss, alpha, learning_rate=1e-3)
    backend.optimizer = RecordGradients()
    value = backend.train_batch(X, Y)
    assert value == pytest.approx(objective(backend, values, X, Y, alpha), rel=1e-12)
    step = 1e-6
    for k, vector in enumerate(values):
        numeric = np.empty_like(vector)
        for j in range(vector.size):
            shifted = [v.copy() for v in values]
            shifted[k][j] += step
            up = objective(backend, shifted, X, Y, alpha)
            shifted[k][j] -= 2 * step
            numeric[j] = (up - objective(backend, shifted, X, Y, alpha)) / (2 * step)
        np.testing.assert_allclose(
            backend.optimizer.gradients[k], numeric, rtol=1e-5, atol=1e-8, err_msg=f"vector {k}"
        )


@pytest.mark.usefixtures("kernel")
def test_decision_is_the_networks_forward_pass():
    coefs, intercepts, layers, values = sparse_network()
    X, _ = batch("squared_error")
    backend = NumpyBackend(layers, values, "tanh", "squared_error", 0.0, learning_rate=1e-3)
    network = Network([W.toarray() for W in coefs], intercepts, activation="tanh")
    np.testing.assert_allclose(backend.decision(X), network.decision(X), rtol=1e-12)
    # new values reach every product, sparse or through the dense copy
    scaled = [2 * v for v in values]
    backend.set_values(scaled)
    network = Network(
        [2 * W.toarray() for W in coefs], [2 * b for b in intercepts], activation="tanh"
    )
    np.testing.assert_allclose(backend.decision(X), network.decision(X), rtol=1e-12)
    np.testing.assert_array_equal(backend.get_values()[0], scaled[0])


@pytest.mark.parametrize(("activation", "loss"), SETTINGS)
@pytest.mark.usefixtures("kernel")
def test_numpy_and_torch_take_the_same_steps(activation, loss):
    pytest.importorskip("torch")
    _, _, layers, values = sparse_network()
    trained = {}
    for backend_class in (NumpyBackend, TorchBackend):
        backend = backend_class(layers, values, activation, loss, 1e-2, learning_rate=1e-2)
        losses = [backend.train_batch(*batch(loss, seed=seed)) for seed in range(5)]
        trained[backend_class.name] = backend.get_values(), losses
    (numpy_values, numpy_losses), (torch_values, torch_losses) = trained.values()
    np.testing.assert_allclose(torch_losses, numpy_losses, rtol=1e-10)
    for numpy_vector, torch_vector, start in zip(numpy_values, torch_values, values, strict=True):
        # five steps of up to 1e-2 each; agreement to rounding
        np.testing.assert_allclose(torch_vector - start, numpy_vector - start, rtol=1e-8, atol=1e-12)


def test_auto_backend_depends_on_size():
    pytest.importorskip("torch")
    assert choose_backend("auto", [(784, 300), (300, 300), (300, 10)]) == "numpy"
    assert choose_backend("auto", [(3072, 4096), (4096, 10)]) == "torch"
    assert choose_backend("numpy", [(3072, 4096), (4096, 10)]) == "numpy"
    assert choose_backend("torch", [(8, 1)]) == "torch"


def test_without_torch_auto_falls_back_and_torch_is_refused(monkeypatch):
    monkeypatch.setattr(backends, "_torch_available", lambda: False)
    assert choose_backend("auto", [(3072, 4096), (4096, 10)]) == "numpy"
    with pytest.raises(ImportError, match="backend='torch' needs torch"):
        choose_backend("torch", [(8, 1)])
