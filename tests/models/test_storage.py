"""Packed weights: what a saved compressed network stores, and that it comes back."""

import numpy as np
import pytest
import scipy.sparse as sp

from sklearn_corenet.models._storage import (
    pack_layers,
    smallest_unsigned_dtype,
    unpack_layers,
)


def _network(density, shapes=((64, 100), (100, 100), (100, 10)), dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    coefs = [
        sp.random_array(shape, density=density, format="csr", dtype=dtype, rng=rng)
        for shape in shapes
    ]
    intercepts = [
        np.where(rng.random(n_out) < 0.7, rng.normal(size=n_out), 0).astype(dtype)
        for _, n_out in shapes
    ]
    return coefs, intercepts


def _assert_same(coefs, intercepts, packed):
    got_coefs, got_intercepts = unpack_layers(packed)
    for W, got in zip(coefs, got_coefs, strict=True):
        assert isinstance(got, sp.csr_array) and got.shape == W.shape
        assert got.dtype == W.dtype and got.indices.dtype == np.int32
        np.testing.assert_array_equal(got.indptr, W.indptr)
        np.testing.assert_array_equal(got.indices, W.indices)
        np.testing.assert_array_equal(got.data, W.data)  # same values, same order
    for b, got in zip(intercepts, got_intercepts, strict=True):
        assert got.dtype == b.dtype
        np.testing.assert_array_equal(got, b)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("density", [0.02, 0.1, 0.5])
def test_round_trip_is_exact(density, dtype):
    coefs, intercepts = _network(density, dtype=dtype)
    _assert_same(coefs, intercepts, pack_layers(coefs, intercepts))


def test_pattern_takes_the_smaller_form():
    # sparse layers: column indices (1 byte below 256 outputs) and row counts
    coefs, intercepts = _network(0.02)
    packed = pack_layers(coefs, intercepts)
    assert "mask" not in packed
    assert packed["columns"].dtype == np.uint8
    # dense layers: one bit per entry is less than a byte per stored entry
    coefs, intercepts = _network(0.5)
    packed = pack_layers(coefs, intercepts)
    assert "columns" not in packed
    n_entries = sum((n_in + 1) * n_out for n_in, n_out in packed["shapes"])
    assert packed["mask"].nbytes == -(-n_entries // 8)


def test_values_are_stored_once_in_the_model_dtype():
    coefs, intercepts = _network(0.1, dtype=np.float32)
    packed = pack_layers(coefs, intercepts)
    n_stored = sum(W.nnz for W in coefs) + sum(np.count_nonzero(b) for b in intercepts)
    assert packed["values"].dtype == np.float32
    assert packed["values"].size == n_stored  # removed biases take no room


def test_explicit_zeros_and_unsorted_rows_come_back_as_stored():
    W = sp.csr_array(
        (np.array([0.0, 2.0, 1.0]), np.array([2, 1, 0]), np.array([0, 2, 3])), shape=(2, 3)
    )
    coefs, intercepts = [W], [np.array([0.0, 1.5, 0.0])]
    got, got_b = unpack_layers(pack_layers(coefs, intercepts))
    np.testing.assert_array_equal(got[0].toarray(), W.toarray())
    assert got[0].nnz == 3  # the explicit zero is an edge that stays trainable
    np.testing.assert_array_equal(got_b[0], intercepts[0])


def test_empty_layers():
    coefs = [sp.csr_array((4, 3)), sp.csr_array((3, 2))]
    intercepts = [np.zeros(3), np.array([0.5, 0.0])]
    _assert_same(coefs, intercepts, pack_layers(coefs, intercepts))


def test_smallest_unsigned_dtype():
    assert smallest_unsigned_dtype(0) == np.uint8
    assert smallest_unsigned_dtype(255) == np.uint8
    assert smallest_unsigned_dtype(256) == np.uint16
    assert smallest_unsigned_dtype(70_000) == np.uint32
