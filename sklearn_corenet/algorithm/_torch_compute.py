"""Empirical sensitivities computed with torch (``CoreNetCompressor(device=...)``).

The same statistics as :func:`._sensitivity.compute_layer_statistics` (Alg. 2,
lines 1-2 with Appendix A.2.4, and the Δ of Alg. 1, lines 3-6), computed with
torch on any device and returned as numpy arrays. The points are streamed in
the same ``working_memory``-sized chunks as the numpy path.

The expensive part is the (max, ×) product ``M[j, k] = max_x P[x, j] V[x, k]``.
On the CPU it is ``torch.sparse.mm(P.T as CSR, V, reduce="amax")``: a compiled,
threaded kernel that also skips the zero activations (ReLU zeros, and half of
every split point of A.2.4). That reduction exists for CSR tensors on the CPU
only, so other devices use a dense broadcast ``(points, n_in, n_out)`` followed
by ``amax`` over the points, in chunks sized by ``working_memory``.

This module imports torch at the top: importing it is how the compressor finds
out whether the ``torch`` extra is installed.
"""

import warnings
from contextlib import contextmanager

import numpy as np
import torch
from joblib import effective_n_jobs
from sklearn.utils import gen_batches
from tqdm.auto import tqdm

from ..core._network import chunk_rows
from ..core._torch_common import HIDDEN_FUNCTIONS, torch_dtype
from ._sensitivity import DELTA_CAP, LayerStatistics, _chunk_rows, augmented_weights

# Device types with torch's CSR "amax" reduction (torch.sparse.mm documents
# it for CSR tensors on the CPU only).
_SPARSE_REDUCTION_DEVICES = ("cpu",)

def _hidden_activations(network, X, weights):
    """Inputs of every weight layer, as :meth:`Network.hidden_activations`."""
    activation = HIDDEN_FUNCTIONS[network.activation]
    activations = [X]
    for W in weights[:-1]:
        X = activation(torch.addmm(W[-1], X, W[:-1]))
        activations.append(X)
    return activations


def _split_inputs(A):
    """Inputs with a constant-1 column, split into non-negative parts (A.2.4).

    Returns the point set whose rows are a_pos(x) and a_neg(x) for every x
    (only a_pos when no input is negative).
    """
    ones = A.new_ones((A.shape[0], 1))
    if bool((A < 0).any()):
        positive = torch.cat([torch.relu(A), ones], dim=1)
        negative = torch.cat([torch.relu(-A), torch.zeros_like(ones)], dim=1)
        return torch.cat([positive, negative])
    return torch.cat([A, ones], dim=1)


def _safe_inverse(D):
    """1 / D where D > 0, else 0: the 0/0 := 0 convention."""
    # D is a sum of non-negative products: it is 0 (possibly -0.0), never < 0
    return torch.where(D > 0, D.reciprocal(), 0)


def _relative_condition(A, W, W_abs, cap):
    """Clipped Δ_i(x) = Σ_k |w_ik a_k(x)| / |Σ_k w_ik a_k(x)| (Alg. 1, line 5)."""
    absolute = torch.addmm(W_abs[-1], A.abs(), W_abs[:-1])
    signed = torch.addmm(W[-1], A, W[:-1]).abs()
    ratio = torch.where(signed > absolute / cap, absolute / signed, cap)
    return torch.where(absolute == 0, 1, ratio)


def _transposed_csr(points):
    """``points.T`` as a CSR tensor: the left operand of the sparse reduction."""
    with warnings.catch_warnings():
        # torch flags its CSR layout as beta; the one kernel used here is stable
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support", category=UserWarning)
        return points.T.contiguous().to_sparse_csr()


def max_product_sparse(points_csr, inverse, out):
    """``out = max(out, max_x points[x, j] * inverse[x, k])`` with torch's CSR "amax".

    ``points_csr`` holds ``points.T`` (see :func:`_transposed_csr`). Only the
    non-zero ``points[x, j]`` enter the reduction; as every product is
    non-negative and ``out`` starts at zero, the result is the dense one.
    CPU only.
    """
    torch.maximum(out, torch.sparse.mm(points_csr, inverse, reduce="amax"), out=out)


def max_product_dense(points, inverse, out, *, working_memory=None):
    """``out = max(out, max_x points[x, j] * inverse[x, k])`` by broadcasting.

    Chunks of points are broadcast to ``(chunk, n_in, n_out)`` and reduced
    with ``amax``; the chunk is sized so that this block fits in
    ``working_memory`` MiB (at least one point).
    """
    row_bytes = points.element_size() * points.shape[1] * inverse.shape[1]
    rows = chunk_rows(row_bytes, points.shape[0], working_memory)
    for batch in gen_batches(points.shape[0], rows):
        products = points[batch, :, None] * inverse[batch, None, :]
        torch.maximum(out, products.amax(dim=0), out=out)


@contextmanager
def _torch_threads(n_jobs):
    """torch's intra-op threads set to ``n_jobs`` (joblib's convention) for a while."""
    if n_jobs is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(effective_n_jobs(n_jobs))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def compute_layer_statistics_torch(
    network,
    X,
    *,
    delta_cap=DELTA_CAP,
    working_memory=None,
    device="cpu",
    n_jobs=None,
    verbose=0,
):
    """Empirical sensitivities of every edge of ``network``, computed with torch.

    Same result as :func:`~._sensitivity.compute_layer_statistics` (to the
    rounding of the matrix products): Alg. 2, lines 1-2 with the split of
    Appendix A.2.4, the 0/0 := 0 convention, the clipped Δ of Alg. 1,
    lines 3-6, and the activations of the original network.

    Parameters
    ----------
    network : Network
        The network to compress.
    X : ndarray of shape (n_points, n_features)
        The calibration points S.
    delta_cap : float, default=1e3
        Cap on each Δ_i(x) before averaging.
    working_memory : int, default=None
        Memory budget in MiB for one chunk of points (and, off the CPU, for
        one block of the broadcast (max, ×) product); scikit-learn's global
        ``working_memory`` setting when None.
    device : str or torch.device, default="cpu"
        Where to compute. The network's dtype is kept, so float64 networks
        need a device that supports float64.
    n_jobs : int, default=None
        torch's intra-op threads on the CPU during the computation (-1: all
        cores); None keeps torch's setting (``torch.get_num_threads()``).
        On a machine already busy with other work, fewer threads can be
        much faster (see ``benchmarks/results/torch_backend.md``).
    verbose : int, default=0
        Show a progress bar over chunks and layers when > 0.

    Returns
    -------
    list of LayerStatistics
        One entry per weight layer, with numpy arrays: sensitivities in the
        network's dtype, relative conditions in float64, as the numpy path.
    """
    with _torch_threads(n_jobs), torch.inference_mode():
        return _statistics(network, X, delta_cap, working_memory, torch.device(device), verbose)


def _statistics(network, X, delta_cap, working_memory, device, verbose):
    dtype = torch_dtype(network.dtype)
    X = np.asarray(X, dtype=network.dtype)
    arrays = [augmented_weights(W, b) for W, b in zip(network.coefs, network.intercepts, strict=True)]
    weights = [torch.as_tensor(W, device=device) for W in arrays]
    absolute = [W.abs() for W in weights]
    # W+ and W- side by side: one product and one reduction serve both signs
    parts = [torch.cat([torch.clamp(W, min=0), torch.clamp(-W, min=0)], dim=1) for W in weights]
    maxima = [torch.zeros_like(part) for part in parts]
    condition_sums = [torch.zeros(W.shape[1], dtype=torch.float64, device=device) for W in weights]
    alive = [torch.zeros(W.shape[1], dtype=torch.bool, device=device) for W in weights]
    sparse_reduction = device.type in _SPARSE_REDUCTION_DEVICES

    chunk = _chunk_rows(network, X.shape[0], working_memory)
    batches = list(gen_batches(X.shape[0], chunk))
    progress = tqdm(
        total=len(batches) * len(weights), desc="sensitivities", unit="layer", disable=verbose <= 0
    )
    for batch in batches:
        rows = torch.as_tensor(X[batch], dtype=dtype, device=device)
        activations = _hidden_activations(network, rows, weights)
        for layer, A in enumerate(activations):
            progress.update()
            points = _split_inputs(A)
            inverse = _safe_inverse(points @ parts[layer])
            if sparse_reduction:
                max_product_sparse(_transposed_csr(points), inverse, maxima[layer])
            else:
                max_product_dense(points, inverse, maxima[layer], working_memory=working_memory)
            condition = _relative_condition(A, weights[layer], absolute[layer], delta_cap)
            condition_sums[layer] += condition.sum(dim=0, dtype=torch.float64)
            if layer + 1 < len(activations):
                alive[layer] |= (activations[layer + 1] != 0).any(dim=0)
    progress.close()
    # the output layer has no activation that could be dead
    alive[-1][:] = True

    statistics = []
    for layer, W in enumerate(arrays):
        # s_ij = |w_ij| · max_x A[x, j] / D[x, i], D from the sign of w_ij
        n_out = W.shape[1]
        maximum = torch.where(weights[layer] > 0, maxima[layer][:, :n_out], maxima[layer][:, n_out:])
        sensitivity = absolute[layer] * maximum
        statistics.append(
            LayerStatistics(
                sensitivity=sensitivity.cpu().numpy(),
                relative_condition=(condition_sums[layer] / X.shape[0]).cpu().numpy(),
                alive=alive[layer].cpu().numpy(),
            )
        )
    return statistics
