"""The torch backend of the sensitivity computation (``device=...``)."""

import sys

import numpy as np
import pytest

from sklearn_corenet import CoreNetCompressor
from sklearn_corenet.algorithm import compute_layer_statistics
from sklearn_corenet.algorithm._sensitivity import max_product
from sklearn_corenet.core import Network

try:
    import torch
except ImportError:
    torch = None
else:
    from sklearn_corenet.algorithm import _torch_compute
    from sklearn_corenet.algorithm._torch_compute import (
        compute_layer_statistics_torch,
        max_product_dense,
        max_product_sparse,
    )

needs_torch = pytest.mark.skipif(torch is None, reason="needs the torch extra")
needs_cuda = pytest.mark.skipif(
    torch is None or not torch.cuda.is_available(), reason="needs a CUDA device"
)

TOLERANCE = {np.float64: {"rtol": 1e-10, "atol": 1e-12}, np.float32: {"rtol": 1e-4, "atol": 1e-5}}


def random_network(sizes=(12, 20, 16, 3), activation="relu", dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    coefs = [rng.normal(scale=np.sqrt(2 / a), size=(a, b)).astype(dtype) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    intercepts = [rng.normal(scale=0.1, size=b).astype(dtype) for b in sizes[1:]]
    # a few edges exactly zero, and a neuron that never fires: 0/0 and dead paths
    coefs[0][:3, 0] = 0
    intercepts[0][1] = -100
    return Network(coefs, intercepts, activation=activation)


def assert_same_statistics(expected, got, dtype):
    tolerance = TOLERANCE[np.dtype(dtype).type]
    assert len(got) == len(expected)
    for layer, (numpy_stats, torch_stats) in enumerate(zip(expected, got, strict=True)):
        assert isinstance(torch_stats.sensitivity, np.ndarray), layer
        assert torch_stats.sensitivity.dtype == numpy_stats.sensitivity.dtype
        assert torch_stats.relative_condition.dtype == numpy_stats.relative_condition.dtype
        assert torch_stats.alive.dtype == np.bool_
        np.testing.assert_allclose(torch_stats.sensitivity, numpy_stats.sensitivity, **tolerance)
        np.testing.assert_allclose(
            torch_stats.relative_condition, numpy_stats.relative_condition, **tolerance
        )
        np.testing.assert_array_equal(torch_stats.alive, numpy_stats.alive)


@needs_torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_same_statistics_as_numpy(dtype, activation):
    network = random_network(activation=activation, dtype=dtype)
    # standard-normal inputs: the first layer needs the split of A.2.4
    X = np.random.default_rng(1).normal(size=(40, 12)).astype(dtype)
    expected = compute_layer_statistics(network, X)
    got = compute_layer_statistics_torch(network, X)
    assert_same_statistics(expected, got, dtype)


@needs_torch
def test_dead_neuron_and_zero_weights():
    network = random_network()
    X = np.random.default_rng(1).normal(size=(30, 12))
    stats = compute_layer_statistics_torch(network, X)
    assert not stats[0].alive[1]
    # the dead neuron's outgoing edges never carry a value: sensitivity 0
    np.testing.assert_array_equal(stats[1].sensitivity[1], 0)
    np.testing.assert_array_equal(stats[0].sensitivity[:3, 0], 0)
    assert all(np.isfinite(s.sensitivity).all() for s in stats)


@needs_torch
def test_non_negative_inputs_are_not_split():
    network = random_network()
    X = np.abs(np.random.default_rng(1).normal(size=(30, 12)))
    got = compute_layer_statistics_torch(network, X)
    assert_same_statistics(compute_layer_statistics(network, X), got, np.float64)


@needs_torch
@pytest.mark.parametrize("working_memory", [0.001, 0.05])
def test_chunked_points_give_the_same_result(working_memory):
    # 0.001 MiB: one point per chunk; the maxima and Δ sums run over chunks
    network = random_network()
    X = np.random.default_rng(2).normal(size=(25, 12))
    expected = compute_layer_statistics(network, X)
    got = compute_layer_statistics_torch(network, X, working_memory=working_memory)
    assert_same_statistics(expected, got, np.float64)


@needs_torch
def test_n_jobs_sets_torch_threads_for_the_call_only():
    network = random_network()
    X = np.random.default_rng(2).normal(size=(25, 12))
    threads = torch.get_num_threads()
    got = compute_layer_statistics_torch(network, X, n_jobs=1)
    assert torch.get_num_threads() == threads
    assert_same_statistics(compute_layer_statistics(network, X), got, np.float64)


@needs_torch
@pytest.mark.parametrize("delta_cap", [1.5, 1e3])
def test_delta_cap_is_applied_as_in_numpy(delta_cap):
    network = random_network(seed=3)
    X = np.random.default_rng(3).normal(size=(30, 12))
    got = compute_layer_statistics_torch(network, X, delta_cap=delta_cap)
    assert all(s.relative_condition.max() <= delta_cap for s in got)
    expected = compute_layer_statistics(network, X, delta_cap=delta_cap)
    assert_same_statistics(expected, got, np.float64)


@needs_torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_max_product_formulations_are_exact(dtype):
    # the maximum of the same products is the same number, whatever the order
    rng = np.random.default_rng(4)
    points = np.maximum(rng.normal(size=(50, 30)), 0).astype(dtype)
    inverse = rng.random(size=(50, 20)).astype(dtype)
    points[:, :4] = 0  # inputs that are always zero
    inverse[:, :3] = 0  # neurons whose sum D is always zero
    expected = np.zeros((30, 20), dtype=dtype)
    max_product(points, inverse, expected, n_jobs=1)

    points_t, inverse_t = torch.from_numpy(points), torch.from_numpy(inverse)
    sparse = torch.zeros(30, 20, dtype=points_t.dtype)
    max_product_sparse(_torch_compute._transposed_csr(points_t), inverse_t, sparse)
    dense = torch.zeros(30, 20, dtype=points_t.dtype)
    max_product_dense(points_t, inverse_t, dense, working_memory=0.01)  # several chunks
    np.testing.assert_array_equal(sparse.numpy(), expected)
    np.testing.assert_array_equal(dense.numpy(), expected)


@needs_torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dense_product_path_matches_numpy(monkeypatch, dtype):
    # the path used off the CPU (CUDA has no CSR "amax"), run on the CPU
    monkeypatch.setattr(_torch_compute, "_SPARSE_REDUCTION_DEVICES", ())
    network = random_network(dtype=dtype)
    X = np.random.default_rng(5).normal(size=(30, 12)).astype(dtype)
    got = compute_layer_statistics_torch(network, X, working_memory=0.01)
    assert_same_statistics(compute_layer_statistics(network, X), got, dtype)


def _fit_both(model, X, device, method):
    params = {"keep_ratio": 0.3, "method": method, "random_state": 0}
    reference = CoreNetCompressor(**params).fit(model, X)
    with_torch = CoreNetCompressor(device=device, **params).fit(model, X)
    return reference, with_torch


def assert_same_fit(reference, with_torch):
    for expected, got in zip(reference.sensitivities_, with_torch.sensitivities_, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    for expected, got in zip(reference.bias_sensitivities_, with_torch.bias_sensitivities_, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(with_torch.delta_hat_, reference.delta_hat_, rtol=1e-10)
    for expected, got in zip(reference.dead_neurons_, with_torch.dead_neurons_, strict=True):
        np.testing.assert_array_equal(got, expected)
    for expected, got in zip(reference.sample_sizes_, with_torch.sample_sizes_, strict=True):
        np.testing.assert_array_equal(got, expected)


@needs_torch
@pytest.mark.parametrize("method", ["corenet", "corenet++"])
def test_compressor_device_cpu_fits_the_same(digits, digits_mlp, method):
    X, _ = digits
    reference, with_torch = _fit_both(digits_mlp, X[:300], "cpu", method)
    assert reference.sensitivities_ is not None
    assert_same_fit(reference, with_torch)


@needs_torch
def test_compressor_device_cpu_with_signed_inputs(regression_data, regression_mlp):
    X, _ = regression_data  # standard-normal features: the split of A.2.4
    reference, with_torch = _fit_both(regression_mlp, X[:200], torch.device("cpu"), "corenet")
    assert_same_fit(reference, with_torch)


@needs_cuda
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_same_statistics_on_cuda(dtype):
    network = random_network(dtype=dtype)
    X = np.random.default_rng(1).normal(size=(40, 12)).astype(dtype)
    got = compute_layer_statistics_torch(network, X, device="cuda")
    assert_same_statistics(compute_layer_statistics(network, X), got, dtype)


@needs_cuda
def test_compressor_device_cuda_fits_the_same(digits, digits_mlp):
    X, _ = digits
    reference, with_torch = _fit_both(digits_mlp, X[:300], "cuda", "corenet++")
    assert_same_fit(reference, with_torch)


def test_missing_torch_names_the_extra(monkeypatch, digits, digits_mlp):
    X, _ = digits
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    monkeypatch.delitem(sys.modules, "sklearn_corenet.algorithm._torch_compute", raising=False)
    compressor = CoreNetCompressor(keep_ratio=0.3, method="corenet", device="cpu")
    with pytest.raises(ImportError, match=r"sklearn-corenet\[torch\]"):
        compressor.fit(digits_mlp, X[:100])
