"""The per-neuron solves of the least-squares re-fit, against one plain solve per neuron."""

import numpy as np
import pytest

from sklearn_corenet.algorithm._lstsq_solve import (
    ALONE_WIDTH,
    CHOLESKY_WIDTH,
    NARROW,
    WIDTH_RATIO,
    _solve_neurons,
    _width_batches,
)


def _problem(seed, n_in=200, n_out=60, n_points=300):
    """A Gram matrix, cross products, starting weights and a mask whose neurons
    keep from 0 to all of the inputs (narrow, wide and shared kept sets)."""
    rng = np.random.default_rng(seed)
    inputs = rng.normal(size=(n_points, n_in)) * rng.uniform(0.1, 10, size=n_in)
    gram = inputs.T @ inputs
    cross = inputs.T @ rng.normal(size=(n_points, n_out))
    fractions = rng.uniform(0, 1, size=n_out) ** 2
    mask = rng.random((n_in, n_out)) < fractions
    mask[:, :3] = mask[:, [3]]  # neurons 0-3 share one kept set
    mask[:, 4] = False  # a neuron with no kept edge
    weights = np.where(mask, rng.normal(size=(n_in, n_out)), 0.0)
    return gram, cross, weights, mask


def _reference(gram, cross, weights, mask, ridge):
    """One ``np.linalg.solve`` (or pseudo-inverse) per neuron."""
    fitted = weights.copy()
    for k in range(mask.shape[1]):
        kept = np.flatnonzero(mask[:, k])
        if kept.size == 0:
            continue
        scale = gram[kept, kept].mean()
        strength = ridge * (scale if scale > 0 else 1.0)
        system = gram[np.ix_(kept, kept)] + strength * np.eye(kept.size)
        rhs = cross[kept, k] + strength * weights[kept, k]
        fitted[kept, k] = np.linalg.pinv(system, hermitian=True) @ rhs
    return fitted


@pytest.mark.parametrize("working_memory", [None, 0.01])
@pytest.mark.parametrize("seed", [0, 1])
def test_every_solve_path_equals_one_solve_per_neuron(seed, working_memory):
    gram, cross, weights, mask = _problem(seed)
    counts = mask.sum(axis=0)
    # every path runs: alone, batched by Cholesky, batched by LU
    assert counts.max() >= ALONE_WIDTH and 0 < counts[counts > 0].min() < NARROW
    assert ((counts >= CHOLESKY_WIDTH) & (counts < ALONE_WIDTH)).any()
    fitted = weights.copy()
    _solve_neurons(gram, cross, fitted, mask, 1e-3, working_memory)
    expected = _reference(gram, cross, weights, mask, 1e-3)
    np.testing.assert_allclose(fitted, expected, rtol=0, atol=1e-9 * np.abs(expected).max())
    assert np.array_equal(fitted != 0, mask)


def test_float32_weights_receive_the_float64_solutions():
    # a float32 network's weights are solved in float64 and stored in place
    gram, cross, weights, mask = _problem(0)
    fitted = weights.astype(np.float32)
    _solve_neurons(gram, cross, fitted, mask, 1e-3, None)
    assert fitted.dtype == np.float32
    expected = _reference(gram, cross, weights.astype(np.float32).astype(np.float64), mask, 1e-3)
    np.testing.assert_allclose(fitted, expected, rtol=0, atol=1e-6 * np.abs(expected).max())
    assert np.array_equal(fitted != 0, mask)


def test_singular_wide_systems_get_their_least_norm_solution():
    # ridge=0 and inputs that are always 0: the systems of the neurons keeping
    # them are singular, Cholesky fails on them, and the pseudo-inverse solves
    gram, cross, weights, mask = _problem(2)
    dead = [5, 17, 40]
    gram[dead, :] = gram[:, dead] = 0.0
    cross[dead, :] = 0.0
    counts = mask.sum(axis=0)
    alone = np.ones(mask.shape[1], dtype=bool)
    alone[:4] = False  # neurons 0-3 share one system
    for smallest, widest in [(CHOLESKY_WIDTH, ALONE_WIDTH), (ALONE_WIDTH, np.inf)]:
        assert (alone & mask[dead].any(axis=0) & (counts >= smallest) & (counts < widest)).any()
    fitted = weights.copy()
    _solve_neurons(gram, cross, fitted, mask, 0.0, None)
    expected = _reference(gram, cross, weights, mask, 0.0)
    assert np.isfinite(fitted).all()
    np.testing.assert_allclose(fitted, expected, rtol=0, atol=1e-8 * np.abs(expected).max())


@pytest.mark.parametrize("working_memory", [None, 0.001])
def test_width_batches_hold_every_neuron_once_with_little_padding(working_memory):
    counts = np.random.default_rng(0).integers(0, 200, size=500)
    seen = []
    for neurons, width in _width_batches(counts, working_memory):
        assert counts[neurons].max() == width
        assert width <= NARROW or counts[neurons].min() >= WIDTH_RATIO * width
        if working_memory is not None:
            assert neurons.size == 1 or neurons.size * 3 * 8 * width * (width + 1) <= working_memory * 2**20
        seen.extend(neurons)
    assert sorted(seen) == list(np.flatnonzero(counts > 0))
