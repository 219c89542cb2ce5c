"""Empirical sensitivities and the relative condition numbers Δ (Alg. 2, Alg. 1).

Everything here is plain array code over a :class:`~._network.Network` and the
calibration points S. The points are streamed in chunks sized by
scikit-learn's ``working_memory`` so that no intermediate grows with |S|;
the accumulators have the size of the model.
"""

import os
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from joblib import Parallel, delayed
from sklearn.utils import gen_batches
from tqdm.auto import tqdm

from ..core._network import chunk_rows

#: Cap applied to each Δ_i(x) before averaging: Δ_i(x) explodes where the
#: pre-activation z_i(x) is close to 0 (Baykal et al., ICLR 2019, Alg. 1, line 5).
DELTA_CAP = 1e3

# Output columns handled per task of the (max, ×) product: a block of the
# accumulator stays in cache while all points of a chunk stream through it.
_COLUMN_BLOCK = 128


@dataclass
class LayerStatistics:
    """What the calibration pass learns about one weight layer.

    Attributes
    ----------
    sensitivity : ndarray of shape (n_in + 1, n_out)
        Empirical sensitivity s_ij of every edge; the last row is the bias
        (an edge from a constant input 1). Zero where the weight is zero.
    relative_condition : ndarray of shape (n_out,)
        Mean over S of the clipped Δ_i(x) of each neuron.
    alive : ndarray of bool of shape (n_out,)
        Whether the neuron's activation is non-zero on at least one point of S
        (meaningful for hidden layers).
    """

    sensitivity: np.ndarray
    relative_condition: np.ndarray
    alive: np.ndarray


def sensitivity_row_sums(sensitivity, weights):
    """S_i+ and S_i- (Alg. 2, line 2): per neuron, the sensitivities of its
    positive and of its negative edges summed; array of shape (2, n_out)."""
    return np.vstack([
        np.where(weights > 0, sensitivity, 0).sum(axis=0),
        np.where(weights < 0, sensitivity, 0).sum(axis=0),
    ])


def augmented_weights(W, b):
    """Stack the bias under the weights: shape (n_in + 1, n_out)."""
    return np.vstack([W, b[np.newaxis, :]])


def _split_inputs(A):
    """Inputs with a constant-1 column, split into non-negative parts (A.2.4).

    Returns the non-negative point set whose rows are a_pos(x) and a_neg(x)
    for every x (only a_pos when no input is negative).
    """
    ones = np.ones((A.shape[0], 1), dtype=A.dtype)
    if np.any(A < 0):
        zeros = np.zeros_like(ones)
        positive = np.hstack([np.maximum(A, 0), ones])
        negative = np.hstack([np.maximum(-A, 0), zeros])
        return np.vstack([positive, negative])
    return np.hstack([A, ones])


def _max_product_block(points, inverse, out):
    """out = max(out, max_x points[x, j] * inverse[x, k]) for one column block."""
    buffer = np.empty_like(out)
    for x in range(points.shape[0]):
        np.multiply(points[x][:, np.newaxis], inverse[x][np.newaxis, :], out=buffer)
        np.maximum(out, buffer, out=out)


def max_product(points, inverse, out, n_jobs=None):
    """Update ``out[j, k] = max(out[j, k], max_x points[x, j] * inverse[x, k])``.

    The (max, ×) matrix product behind empirical sensitivities: no BLAS
    kernel computes it, so column blocks of ``out`` are updated in threads
    (numpy releases the GIL inside its loops).
    """
    blocks = [
        slice(start, min(start + _COLUMN_BLOCK, out.shape[1]))
        for start in range(0, out.shape[1], _COLUMN_BLOCK)
    ]
    views = [np.ascontiguousarray(out[:, block]) for block in blocks]
    inverses = [np.ascontiguousarray(inverse[:, block]) for block in blocks]
    if n_jobs is None:
        # threads, like BLAS: this is the one product BLAS cannot do for us
        n_jobs = min(os.cpu_count() or 1, len(blocks))
    # shared memory: the blocks are updated in place, whatever joblib backend
    # the caller has configured (a dask backend would copy them)
    Parallel(n_jobs=n_jobs, require="sharedmem")(
        delayed(_max_product_block)(points, inv, view)
        for inv, view in zip(inverses, views, strict=True)
    )
    for block, view in zip(blocks, views, strict=True):
        out[:, block] = view


def signed_max_product(points, inverses, positive, out, n_jobs=None):
    """The (max, ×) product of :func:`max_product`, each edge with its sign's inverse.

    Updates ``out[j, k] = max(out[j, k], max_x points[x, j] * inverse[x, k])``
    with ``inverse = inverses[0]`` where ``positive[j, k]`` and
    ``inverses[1]`` elsewhere: an edge's sensitivity reads the sums of its
    own sign only (Alg. 2, line 2), so one array of running maxima serves
    both signs. Column blocks are updated in threads, each in buffers of
    its own (no copy of ``out``).
    """
    blocks = [
        slice(start, min(start + _COLUMN_BLOCK, out.shape[1]))
        for start in range(0, out.shape[1], _COLUMN_BLOCK)
    ]

    def update(block):
        mask = positive[:, block]
        running = out[:, block]
        # entries of the other sign take products no weight bounds: they may
        # overflow, and are discarded
        with np.errstate(over="ignore"):
            maxima = [np.where(mask, running, 0), np.where(mask, 0, running)]
            for inverse, maximum in zip(inverses, maxima, strict=True):
                _max_product_block(points, np.ascontiguousarray(inverse[:, block]), maximum)
        out[:, block] = np.where(mask, *maxima)

    if n_jobs is None:
        n_jobs = min(os.cpu_count() or 1, len(blocks))
    # shared memory: the blocks are updated in place, whatever joblib backend
    # the caller has configured (a dask backend would copy them)
    Parallel(n_jobs=n_jobs, require="sharedmem")(delayed(update)(block) for block in blocks)


def _safe_inverse(D):
    """1 / D where D > 0, else 0: implements the 0/0 := 0 convention.

    Sums below the smallest normal number (subnormal inputs) count as zero
    too: their reciprocal overflows, and the terms they add up are as
    negligible as they are.
    """
    inverse = np.zeros_like(D)
    np.divide(1, D, out=inverse, where=D >= np.finfo(D.dtype).tiny)
    return inverse


def _relative_condition(A, W_abs_aug, W_aug, cap):
    """Clipped Δ_i(x) = Σ_k |w_ik a_k(x)| / |Σ_k w_ik a_k(x)| (Alg. 1, line 5)."""
    absolute = np.abs(A) @ W_abs_aug[:-1] + W_abs_aug[-1]
    signed = np.abs(A @ W_aug[:-1] + W_aug[-1])
    ratio = np.full_like(absolute, cap)
    np.divide(absolute, signed, out=ratio, where=signed > absolute / cap)
    ratio[absolute == 0] = 1.0
    return ratio


def _chunk_rows(network, n_rows, working_memory):
    """Rows of calibration data per chunk so that one chunk fits the budget."""
    widest_in = max(W.shape[0] + 1 for W in network.coefs)
    widest_out = max(W.shape[1] for W in network.coefs)
    # a chunk holds the split inputs (2 rows per point), their inverse sums
    # and every layer's activations
    row_bytes = network.dtype.itemsize * (
        4 * widest_in + 4 * widest_out + sum(W.shape[1] for W in network.coefs)
    )
    return chunk_rows(row_bytes, n_rows, working_memory)


def compute_layer_statistics(
    network, X, *, delta_cap=DELTA_CAP, working_memory=None, n_jobs=None, verbose=0
):
    """Empirical sensitivities of every edge of ``network`` over the points ``X``.

    Implements Alg. 2, lines 1-2 (with Appendix A.2.4 for negative inputs)
    and the relative condition numbers of Alg. 1, lines 3-6, using the
    activations of the original network.

    Parameters
    ----------
    network : Network
        The network to compress.
    X : {ndarray, sparse matrix} of shape (n_points, n_features)
        The calibration points S (a sparse matrix is densified one chunk of
        rows at a time).
    delta_cap : float, default=1e3
        Cap on each Δ_i(x) before averaging.
    working_memory : int, default=None
        Memory budget in MiB for one chunk of points; scikit-learn's global
        ``working_memory`` setting when None.
    n_jobs : int, default=None
        Threads for the (max, ×) product; None uses every core, as BLAS does.
    verbose : int, default=0
        Show a progress bar over chunks and layers when > 0.

    Returns
    -------
    list of LayerStatistics
        One entry per weight layer.

    Notes
    -----
    For neuron i and the positive edges W+ of its row,
    ``g_j(x) = w_ij a_j(x) / Σ_{k∈W+} w_ik a_k(x)`` (0/0 := 0) and
    ``s_j = max_x g_j(x)``; likewise for W- with ``-w``. With
    ``D = A W+`` this is ``s_ij = w_ij · max_x A[x, j] / D[x, i]``.
    """
    # the network's own stacked arrays (no copy); W+ and W- are formed one
    # layer at a time, and one array of running maxima per layer serves both
    # signs: the persistent state is the size of the model
    weights = network.augmented_weights()
    maxima = [np.zeros_like(W) for W in weights]
    condition_sums = [np.zeros(W.shape[1], dtype=np.float64) for W in weights]
    alive = [np.zeros(W.shape[1], dtype=bool) for W in weights]

    chunk = _chunk_rows(network, X.shape[0], working_memory)
    batches = list(gen_batches(X.shape[0], chunk))
    progress = tqdm(
        total=len(batches) * len(weights), desc="sensitivities", unit="layer", disable=verbose <= 0
    )
    for batch in batches:
        rows = X[batch]
        rows = rows.toarray() if sp.issparse(rows) else rows
        activations = network.hidden_activations(np.asarray(rows, dtype=network.dtype))
        for layer, A in enumerate(activations):
            progress.update()
            W = weights[layer]
            points = _split_inputs(A)
            inverses = [_safe_inverse(points @ np.maximum(W, 0)), _safe_inverse(points @ np.maximum(-W, 0))]
            signed_max_product(points, inverses, W > 0, maxima[layer], n_jobs=n_jobs)
            del inverses
            condition_sums[layer] += _relative_condition(A, np.abs(W), W, delta_cap).sum(axis=0)
            if layer + 1 < len(activations):
                alive[layer] |= np.any(activations[layer + 1] != 0, axis=0)
    progress.close()
    # the output layer has no activation that could be dead
    alive[-1][:] = True

    statistics = []
    for layer, W in enumerate(weights):
        # s_ij = |w_ij| · max_x A[x, j] / D[x, i], D of the sign of w_ij,
        # computed in place of the maxima
        sensitivity = maxima[layer]
        with np.errstate(over="ignore", invalid="ignore"):
            sensitivity *= np.abs(W)
        sensitivity[W == 0] = 0
        statistics.append(
            LayerStatistics(
                sensitivity=sensitivity,
                relative_condition=condition_sums[layer] / X.shape[0],
                alive=alive[layer],
            )
        )
    return statistics


