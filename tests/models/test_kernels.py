import numpy as np
import pytest
import scipy.sparse as sp

from sklearn_corenet.models._kernels import LayerKernels, sparse_density_limit


def _layers(density, dtype=np.float64, shapes=((40, 30), (30, 20))):
    return [
        sp.random(n_in, n_out, density=density, format="csr", random_state=seed, dtype=dtype)
        for seed, (n_in, n_out) in enumerate(shapes)
    ]


ROWS, DENSITIES, THREADS = (1, 5, 64, 700), (0.02, 0.08, 0.5), (1, 3)


def test_the_cases_below_reach_every_kernel():
    chosen = {
        LayerKernels(_layers(density), n_threads=n_threads).kernel(0, n_rows)
        for n_rows in ROWS
        for density in DENSITIES
        for n_threads in THREADS
    }
    assert chosen == {"dense", "csr", "csr-threads"}


@pytest.mark.parametrize("n_rows", ROWS)
@pytest.mark.parametrize("density", DENSITIES)
@pytest.mark.parametrize("n_threads", THREADS)
def test_every_kernel_gives_the_dense_product(n_rows, density, n_threads):
    coefs = _layers(density)
    kernels = LayerKernels(coefs, n_threads=n_threads)
    A = np.random.default_rng(0).normal(size=(n_rows, 40))
    got = kernels(A, 0)
    np.testing.assert_allclose(got, A @ coefs[0].toarray(), rtol=1e-12, atol=1e-12)
    assert got.shape == (n_rows, 30)


def test_kernel_choice_follows_density_and_batch():
    very_sparse, sparse_layer, dense_layer = (
        _layers(density, shapes=((100, 100),))[0] for density in (0.005, 0.03, 0.9)
    )
    kernels = LayerKernels([very_sparse, sparse_layer, dense_layer], n_threads=2)
    assert kernels.kernel(2, 1) == kernels.kernel(2, 10_000) == "dense"
    assert kernels.kernel(0, 1) == kernels.kernel(1, 1) == kernels.kernel(1, 256) == "csr"
    # large batches: the split product, and only for the sparsest layers
    assert kernels.kernel(0, 1000) == kernels.kernel(1, 1000) == kernels.kernel(0, 10_000) == "csr-threads"
    assert kernels.kernel(1, 10_000) == "dense"
    assert LayerKernels([very_sparse], n_threads=1).kernel(0, 10_000) == "csr"
    # the density limit never grows with the batch
    limits = [sparse_density_limit(n) for n in (1, 2, 16, 64, 256, 10_000)]
    assert limits == sorted(limits, reverse=True)


def test_one_row_takes_the_sparse_product_on_large_layers_up_to_the_one_row_density():
    large = [sp.random(784, 1000, density=density, format="csr", random_state=0) for density in (0.1, 0.14, 0.3)]
    small = sp.random(300, 300, density=0.1, format="csr", random_state=0)
    kernels = LayerKernels([*large, small], n_threads=2)
    assert [kernels.kernel(layer, 1) for layer in range(4)] == ["csr", "csr", "dense", "dense"]
    # from two rows on, the batch rule: these densities are dense
    assert [kernels.kernel(layer, 2) for layer in range(4)] == ["dense"] * 4
    A = np.random.default_rng(0).normal(size=(1, 784))
    np.testing.assert_allclose(kernels(A, 0), A @ large[0].toarray(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n_rows", [1, 1000])
@pytest.mark.parametrize("density", [0.02, 0.5])
def test_float32_layers_compute_in_float32(n_rows, density):
    coefs = _layers(density, dtype=np.float32)
    A = np.random.default_rng(0).normal(size=(n_rows, 40)).astype(np.float32)
    got = LayerKernels(coefs, n_threads=2)(A, 0)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, A @ coefs[0].toarray(), rtol=1e-5, atol=1e-5)


def test_sparse_input():
    coefs = _layers(0.1)
    A = sp.random(7, 40, density=0.3, format="csr", random_state=3)
    np.testing.assert_allclose(LayerKernels(coefs)(A, 0), A.toarray() @ coefs[0].toarray(), rtol=1e-12)


def test_thread_blocks_cover_every_output_once():
    coefs = _layers(0.05, shapes=((50, 101),))
    parts = LayerKernels(coefs, n_threads=4).parts(0)
    covered = np.concatenate([np.arange(start, stop) for start, stop, _ in parts])
    np.testing.assert_array_equal(covered, np.arange(101))
