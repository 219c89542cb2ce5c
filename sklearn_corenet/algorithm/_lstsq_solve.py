"""The per-neuron solves of the least-squares re-fit (``reweight="lstsq"``).

Every kept neuron k of a layer has its own ridge system over its kept
inputs K, (G_KK + λ_k I) w = c_K + λ_k w0_K, a principal submatrix of the
layer's Gram matrix G of the compressed inputs (see
:func:`~sklearn_corenet.algorithm.lstsq_reweight`). Neurons that keep the
same inputs share one factorisation; the others are factorised one at a
time when wide, and solved together in batches of padded systems, grouped
by width, when narrow.
"""

import numpy as np
from scipy.linalg import lapack

from ..core._network import chunk_rows
from ..core._threads import one_blas_thread

#: A batch holds neurons whose kept counts are at least this fraction of the
#: batch's widest: the padding then costs at most 1/0.9³ ≈ 1.4 times the
#: work of the systems themselves (a batch padded to the layer's widest
#: neuron did up to 250 times more work at 5% kept on MNIST
#: 784-1000-1000-1000-10; 0.8 and 0.95 were slower there than 0.9).
WIDTH_RATIO = 0.9

#: Systems up to this width go in one batch whatever their widths: below it
#: a batch's fixed cost outweighs its padding.
NARROW = 16

#: Systems at least this wide are factorised one at a time by LAPACK's
#: Cholesky solver (``posv``), which took 0.4 times the time of numpy's
#: batched LU solve at width 150, 0.6 times at 48 and as long at 20;
#: narrower ones are solved together by ``np.linalg.solve``, whose cost per
#: system is lower.
CHOLESKY_WIDTH = 20

#: Systems at least this wide are also gathered from the Gram matrix one at
#: a time, just before they are factorised, instead of in one padded batch:
#: on 400 neurons of a 785-input layer that took 0.72 times the time at
#: width 400, 0.83 at 250, as long at 150 and 1.3 times at 60 (Python's
#: cost per neuron).
ALONE_WIDTH = 150


def _solve(system, rhs):
    """``solve(system, rhs)``, or the least-norm solution of a singular system.

    With ``ridge=0`` a neuron with fewer calibration points than kept edges
    has a singular system; its pseudo-inverse solution is finite.
    """
    try:
        return np.linalg.solve(system, rhs)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(system, hermitian=True) @ rhs


def _solve_stack(system, rhs):
    """The solutions of a stack of symmetric positive semi-definite systems,
    shapes (n, w, w) and (n, w, 1); ``system`` is overwritten.

    Wide systems are solved by Cholesky (:data:`CHOLESKY_WIDTH`); one that
    is singular (``ridge=0``) gets its least-norm solution from its
    pseudo-inverse, as :func:`_solve` gives.
    """
    if system.shape[-1] < CHOLESKY_WIDTH:
        return _solve(system, rhs)
    diagonal = system.diagonal(axis1=1, axis2=2).copy()
    solution = np.empty_like(rhs)
    for k, (matrix, vector) in enumerate(zip(system, rhs, strict=True)):
        # matrix.T is the matrix itself in Fortran order: factorised in place,
        # in its lower triangle (matrix's upper one)
        _, solution[k], info = lapack.dposv(matrix.T, vector, lower=True, overwrite_a=True)
        if info != 0:
            original = np.tril(matrix, -1)
            original += original.T + np.diag(diagonal[k])
            solution[k] = _solve(original, vector)
    return solution


def _ridge_system(gram, kept, strength):
    """The system of a neuron keeping the inputs ``kept``: G_KK + λ I (a new array)."""
    system = gram.take(kept, axis=0).take(kept, axis=1)
    system.flat[:: kept.size + 1] += strength
    return system


def _solve_wide(gram, cross, weights, mask, ridge, neurons, diagonal):
    """Solve the systems of ``neurons`` one at a time, by Cholesky.

    Each neuron's system is gathered from the Gram matrix just before it is
    factorised (two ``take``, a row block then its columns), unpadded: at
    width 535 that took 0.4 times the time of one fancy-indexed gather of a
    batch of padded systems, which was as long as the factorisations. A
    system that is singular (``ridge=0``) gets its least-norm solution from
    its pseudo-inverse, as :func:`_solve` gives.
    """
    columns = np.ascontiguousarray(mask[:, neurons].T)
    for k, kept_mask in zip(neurons, columns, strict=True):
        kept = np.flatnonzero(kept_mask)
        strength = _ridge_strength(ridge, diagonal[kept].sum(), kept.size)
        rhs = cross[kept, k] + strength * weights[kept, k]
        # the system's transpose is itself in Fortran order: factorised in place
        _, solution, info = lapack.dposv(_ridge_system(gram, kept, strength).T, rhs, lower=True, overwrite_a=True)
        if info != 0:  # overwritten: gathered again
            solution = _solve(_ridge_system(gram, kept, strength), rhs)
        weights[kept, k] = solution


def _ridge_strength(ridge, kept_diagonal_sum, counts):
    """λ of neurons whose kept inputs' squared norms sum to ``kept_diagonal_sum``:
    ``ridge`` times their mean (1 where it is 0, so that the system stays regular)."""
    scale = kept_diagonal_sum / np.maximum(counts, 1)
    return ridge * np.where(scale > 0, scale, 1.0)


def _solve_shared_masks(gram, cross, weights, mask, ridge, diagonal):
    """Solve together the neurons that keep the same edges; return the others' mask.

    Neurons with one kept set K share their system (A_Kᵀ A_K + λ I, with the
    same λ since it scales with the mean kept diagonal): one factorisation
    serves them all. Whole kept neurons of structured compression share
    every layer's system. The solutions replace the neurons' kept weights,
    which are their starting values.
    """
    # each neuron's kept set as one opaque value (unique on these is 15 times
    # faster than on the rows of bits)
    bits = np.ascontiguousarray(np.packbits(mask, axis=0).T)
    keys = bits.view(np.dtype((np.void, bits.shape[1]))).ravel()
    _, group_of, sizes = np.unique(keys, return_inverse=True, return_counts=True)
    alone = sizes[group_of] < 2
    for group in np.flatnonzero(sizes >= 2):
        neurons = np.flatnonzero(group_of == group)
        kept = np.flatnonzero(mask[:, neurons[0]])
        if kept.size == 0:
            continue
        strength = _ridge_strength(ridge, diagonal[kept].sum(), kept.size)
        rhs = cross[np.ix_(kept, neurons)] + strength * weights[np.ix_(kept, neurons)]
        weights[np.ix_(kept, neurons)] = _solve(_ridge_system(gram, kept, strength), rhs)
    return alone


def _width_batches(counts, working_memory):
    """Batches of neurons to solve together, as index arrays into ``counts``.

    Neurons are taken by decreasing kept count; a batch holds those within
    :data:`WIDTH_RATIO` of its widest (all the remaining ones once that is
    at most :data:`NARROW`), as many as ``working_memory`` allows (a
    system, its flat indices and its right-hand side per neuron). Neurons
    with no kept edge are left out.
    """
    order = np.argsort(-counts, kind="stable")
    order = order[counts[order] > 0]
    descending = -counts[order]
    first = 0
    while first < order.size:
        width = int(-descending[first])
        smallest = 1 if width <= NARROW else int(np.ceil(WIDTH_RATIO * width))
        last = int(np.searchsorted(descending, -smallest, side="right"))
        last = min(last, first + chunk_rows(3 * 8 * width * (width + 1), order.size - first, working_memory))
        yield order[first:last], width
        first = last


def _solve_neurons(gram, cross, weights, mask, ridge, working_memory):
    """Per neuron k: argmin_w ‖A_K w − z_k‖² + λ_k ‖w − w0_K‖² over kept edges K.

    ``weights`` holds the starting values w0 and receives the solutions (in
    place, its dtype). Neurons that keep the same edges share one solve;
    those that keep at least :data:`ALONE_WIDTH` edges are gathered and
    solved one at a time (:func:`_solve_wide`); the narrower ones are solved
    together in batches of similar kept counts (:func:`_width_batches`),
    their kept index sets padded to the batch's widest with an index to an
    added zero row and column of the Gram matrix, whose slots get an
    identity row so that they solve to 0.

    The solves run on one BLAS thread: LAPACK's threads do not speed up
    systems this small, and when the other cores are busy they slow them
    down 40-60 times (np.linalg.solve of 300 systems of width 140 took 2 s
    with two threads on a loaded two-core machine, 0.05 s with one).
    """
    n_in, n_out = mask.shape
    counts = mask.sum(axis=0)
    if n_out == 0 or counts.max() == 0:
        return
    with one_blas_thread():
        diagonal = np.diag(gram)
        alone = _solve_shared_masks(gram, cross, weights, mask, ridge, diagonal)
        counts = np.where(alone, counts, 0)
        wide = counts >= ALONE_WIDTH
        _solve_wide(gram, cross, weights, mask, ridge, np.flatnonzero(wide), diagonal)
        counts[wide] = 0
        if not counts.any():
            return
        # index n_in of the padded Gram matrix is a zero row and column
        padded_gram = np.zeros((n_in + 1, n_in + 1))
        padded_gram[:n_in, :n_in] = gram
        for neurons, width in _width_batches(counts, working_memory):
            _solve_batch(padded_gram, cross, weights, mask, ridge, neurons, counts[neurons], width)


def _solve_batch(padded_gram, cross, weights, mask, ridge, neurons, counts, width):
    """Solve the systems of ``neurons`` (with ``counts`` kept edges each), padded to ``width``."""
    padding = padded_gram.shape[0] - 1
    # kept input indices of every neuron (increasing), then the padding
    neuron, input_index = np.nonzero(mask[:, neurons].T)
    slot = np.arange(neuron.size) - np.repeat(np.cumsum(counts) - counts, counts)
    index = np.full((neurons.size, width), padding)
    index[neuron, slot] = input_index
    system = padded_gram[index[:, :, np.newaxis], index[:, np.newaxis, :]]
    diagonal = system.reshape(neurons.size, width * width)[:, :: width + 1]  # a view
    strength = _ridge_strength(ridge, diagonal.sum(axis=1), counts)
    diagonal += np.where(index != padding, strength[:, np.newaxis], 1.0)
    kept_neurons = neurons[neuron]
    rhs = np.zeros((neurons.size, width, 1))
    rhs[neuron, slot, 0] = cross[input_index, kept_neurons] + strength[neuron] * weights[input_index, kept_neurons]
    weights[input_index, kept_neurons] = _solve_stack(system, rhs)[neuron, slot, 0]
