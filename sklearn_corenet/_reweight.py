"""Reweighting rules: the values of the kept edges.

Every rule has one signature, ``rule(network, layers, X, *, ridge)``: the
original network, the sparsified layers (weights with the bias row), the
calibration points, and returns the layers with their final values. The
paper's rule ("unbiased") and keeping the original values ("none") are set
when the edges are chosen, so they return the layers as they are.

Least-squares re-fit (beyond the paper). The paper reweights a sampled edge by ``count / (m q)``, which makes every
neuron an unbiased estimate of the original. Once the edges are chosen, the
calibration data can do better: each neuron's kept weights are re-fitted so
that the compressed layer reproduces the original pre-activations on the
calibration points, with the already compressed earlier layers feeding it
(errors of earlier layers are corrected, not accumulated). A ridge term pulls
the weights towards their starting values, which keeps every fit finite and
stable when there are few points.
"""

import warnings

import numpy as np
from sklearn.utils import gen_batches

from ._network import augment, chunk_rows, forward_pass
from ._validation import overflow_error

#: Default ridge strength, relative to the mean squared input of a neuron's
#: kept edges (a scale-free choice).
DEFAULT_RIDGE = 1e-3


def _next_inputs(inputs, W_aug, activation, rows):
    """The activations of the layer ``W_aug`` for every row of ``inputs``.

    Evaluated on the row chunks of :func:`_moments`, so that every product
    sees exactly the rows it would see chunk by chunk.
    """
    out = np.empty((inputs.shape[0], W_aug.shape[1]), dtype=np.result_type(inputs, W_aug))
    for batch in gen_batches(inputs.shape[0], rows):
        out[batch] = forward_pass(inputs[batch], [W_aug[:-1]], [W_aug[-1]], activation, hidden_only=True)
    return out


def _moments(compressed_inputs, original_inputs, original_layer, rows, layer=0):
    """Gram matrix of the compressed inputs of a layer and their cross
    product with the original pre-activations, accumulated over row chunks.

    Raises a ValueError naming the calibration row whose values overflow
    them (inputs whose squares are beyond the range of float64).
    """
    width = compressed_inputs.shape[1] + 1
    gram = np.zeros((width, width))
    cross = np.zeros((width, original_layer.shape[1]))
    with np.errstate(over="ignore", invalid="ignore"):
        for batch in gen_batches(compressed_inputs.shape[0], rows):
            inputs = augment(compressed_inputs[batch])
            target = augment(original_inputs[batch]) @ original_layer
            gram += inputs.T @ inputs
            cross += inputs.T @ target
            if not (np.isfinite(gram).all() and np.isfinite(cross).all()):
                values = np.hstack([inputs, target])
                raise overflow_error("the least-squares re-fit (reweight='lstsq')", values, batch.start, layer)
    return gram, cross


def _solve(system, rhs):
    """``solve(system, rhs)``, or the least-norm solution of a singular system.

    With ``ridge=0`` a neuron with fewer calibration points than kept edges
    has a singular system; its pseudo-inverse solution is finite.
    """
    try:
        return np.linalg.solve(system, rhs)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(system, hermitian=True) @ rhs


def _solve_shared_masks(gram, cross, start, mask, ridge, diagonal, result):
    """Solve together the neurons that keep the same edges; return the others' mask.

    Neurons with one kept set K share their system (A_Kᵀ A_K + λ I, with the
    same λ since it scales with the mean kept diagonal): one factorisation
    serves them all. Whole kept neurons of structured compression share
    every layer's system.
    """
    keys = np.packbits(mask, axis=0).T
    _, group_of, sizes = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    group_of = group_of.ravel()
    alone = sizes[group_of] < 2
    for group in np.flatnonzero(sizes >= 2):
        neurons = np.flatnonzero(group_of == group)
        kept = np.flatnonzero(mask[:, neurons[0]])
        if kept.size == 0:
            continue
        scale = diagonal[kept].sum() / kept.size
        strength = ridge * (scale if scale > 0 else 1.0)
        system = gram[np.ix_(kept, kept)]
        system[np.diag_indices_from(system)] += strength
        rhs = cross[np.ix_(kept, neurons)] + strength * start[np.ix_(kept, neurons)]
        result[np.ix_(kept, neurons)] = _solve(system, rhs)
    return alone


def _solve_neurons(gram, cross, start, mask, ridge, working_memory):
    """Per neuron k: argmin_w ‖A_K w − z_k‖² + λ_k ‖w − w0_K‖² over kept edges K.

    Neurons that keep the same edges share one solve; the others are solved
    in batches of similar kept counts (sorted by count, so little padding):
    their kept index sets are padded to the batch's longest, padded slots get
    an identity row so that they solve to 0.
    """
    n_in, n_out = mask.shape
    counts = mask.sum(axis=0)
    result = np.zeros_like(start)
    if n_out == 0 or counts.max() == 0:
        return result
    diagonal = np.diag(gram)
    alone = _solve_shared_masks(gram, cross, start, mask, ridge, diagonal, result)
    counts = np.where(alone, counts, 0)
    # kept input indices of every neuron, kept ones first (stable order)
    order = np.argsort(~mask, axis=0, kind="stable").T
    # padded slots point at an extra zero row and column of the Gram matrix
    padded = np.zeros((n_in + 1, n_in + 1))
    padded[:n_in, :n_in] = gram
    by_count = np.argsort(-counts, kind="stable")
    by_count = by_count[counts[by_count] > 0]
    first = 0
    while first < by_count.size:
        width = int(counts[by_count[first]])
        size = chunk_rows(3 * width * width * 8, by_count.size - first, working_memory)
        neurons = by_count[first : first + size]
        first += size
        valid = np.arange(width)[np.newaxis, :] < counts[neurons, np.newaxis]
        index = order[neurons, :width]  # distinct per neuron: padded slots are edges not kept
        gather = np.where(valid, index, n_in)
        system = padded[gather[:, :, np.newaxis], gather[:, np.newaxis, :]]
        kept_diagonal = np.where(valid, diagonal[index], 0)
        scale = kept_diagonal.sum(axis=1) / np.maximum(valid.sum(axis=1), 1)
        strength = ridge * np.where(scale > 0, scale, 1.0)
        initial = start[index, neurons[:, np.newaxis]]
        rhs = cross[index, neurons[:, np.newaxis]] + strength[:, np.newaxis] * initial
        rhs[~valid] = 0
        diagonal_slots = np.arange(width)
        system[:, diagonal_slots, diagonal_slots] += np.where(valid, strength[:, np.newaxis], 1.0)
        solution = _solve(system, rhs[:, :, np.newaxis])[:, :, 0]
        result[index, neurons[:, np.newaxis]] = np.where(valid, solution, result[index, neurons[:, np.newaxis]])
    return result


def lstsq_reweight(network, layers, X, *, ridge=DEFAULT_RIDGE, working_memory=None):
    """Re-fit the kept weights of every layer by regularised least squares.

    Parameters
    ----------
    network : Network
        The original network.
    layers : list of ndarray of shape (n_in + 1, n_out)
        Sparsified weights with the bias as last row; their non-zeros are the
        kept edges and the starting point of the fit. Columns that are all
        zero (removed neurons) stay zero.
    X : ndarray of shape (n_points, n_features)
        Calibration points.
    ridge : float, default=1e-3
        Ridge strength relative to the mean squared kept input of a neuron.
    working_memory : int, default=None
        Memory budget in MiB for chunks (scikit-learn's setting when None).

    Returns
    -------
    list of ndarray
        Re-fitted weights, same shapes and non-zero pattern as ``layers``.
    """
    fitted = [np.array(W, dtype=np.float64, copy=True) for W in layers]
    needed = max(int((W != 0).sum(axis=0).max()) for W in layers) + 1
    if X.shape[0] < needed:
        warnings.warn(
            f"the least-squares re-fit has {X.shape[0]} calibration points for "
            f"neurons with up to {needed - 1} kept edges; {needed} or more give a "
            "stable fit (the ridge term keeps it finite)",
            UserWarning,
            stacklevel=4,  # the caller of CoreNetCompressor.transform
        )
    X = np.asarray(X, dtype=np.float64)
    originals = network.augmented_weights()
    widest = max(W.shape[0] for W in originals)
    rows = chunk_rows(4 * widest * X.dtype.itemsize, X.shape[0], working_memory)
    # the inputs of the current layer, compressed and original, carried
    # forward layer by layer (each layer is fitted before the next one's
    # compressed inputs exist)
    compressed = original = X
    for layer in range(len(fitted)):
        if layer:
            compressed = _next_inputs(compressed, fitted[layer - 1], network.activation, rows)
            original = _next_inputs(original, originals[layer - 1], network.activation, rows)
        mask = fitted[layer] != 0
        gram, cross = _moments(compressed, original, originals[layer], rows, layer)
        solved = _solve_neurons(gram, cross, fitted[layer], mask, ridge, working_memory)
        fitted[layer] = np.where(mask, solved, 0)
    dtype = network.dtype
    return [W.astype(dtype) for W in fitted]


def keep_values(network, layers, X, *, ridge=DEFAULT_RIDGE):
    """The kept edges at the values they were chosen with ("unbiased", "none")."""
    return layers


#: Reweighting rules by name; each is ``rule(network, layers, X, *, ridge)``.
REWEIGHT_RULES = {"unbiased": keep_values, "none": keep_values, "lstsq": lstsq_reweight}
