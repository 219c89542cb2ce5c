"""Products of activations with a compressed network's weight matrices.

A compressed layer is stored as a ``scipy.sparse`` CSR array. Which kernel
multiplies a batch by it fastest depends on the layer's density and on the
number of rows in the batch:

- dense BLAS on a dense copy of the layer (narrowed layers of structured
  compression are dense: this is their kernel);
- scipy's CSR product, ``(Wᵀ Aᵀ)ᵀ`` with ``Wᵀ`` stored as CSR (the fastest
  scipy product for a few rows);
- the same CSR product split over threads by output neurons (scipy releases
  the GIL in its sparse kernels), for large batches.

:class:`LayerKernels` keeps the derived copies each kernel needs (built on
first use, never pickled) and picks the kernel per layer and call from the
crossover densities below, measured with ``python -m benchmarks.kernels``
(see ``benchmarks/results/kernels.md``).
"""

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

#: Densities at or below which the CSR product is used instead of dense BLAS,
#: by the smallest batch (rows) they apply to. Measured with ``python -m
#: benchmarks.kernels`` (2 cores, OpenBLAS on its default 2 threads) on the
#: layers of 784-300-300-10 and 784-1000-1000-1000-10: from 1 to 1,000 rows
#: the CSR product (threaded from ``THREADS_FROM_ROWS``) takes 0.33-1.02x
#: dense BLAS at 5% density on every layer shape (one exception: 1.33x on
#: 300x300 at 16 rows, 0.17 ms against 0.13); at 3,000 and 10,000 rows
#: only 1% beats it on every shape (0.36-0.96x; 5% takes up to 1.6x). The
#: switch sits at 2,000 rows, between the two measured batches.
SPARSE_UP_TO_DENSITY = ((1, 0.05), (2000, 0.01))

#: One row at a time (a request served alone), the CSR product beats dense
#: BLAS up to 15% density on the layers of at least ``ONE_ROW_MIN_WEIGHTS``
#: weights: 0.57-0.69x dense at 15% on 784x300, 784x1000 and 1000x1000 (the
#: same measurement, 1 row), 0.65-0.96x at 20%. On a 300x300 layer (73 us of
#: dense BLAS) the CSR product's overhead loses at every density, so small
#: layers keep the rule above. On 784-1000-1000-1000-10 at 10% kept (layers
#: at 9-13% density) this takes predict_proba of one row from 0.76x to 0.39x
#: the dense network's time.
ONE_ROW_DENSITY = 0.15
ONE_ROW_MIN_WEIGHTS = 200_000

#: Batches of at least this many rows split the CSR product over threads
#: (measured: the split is faster in 1 of 12 cases at 256 rows, 7 of 12 at
#: 1,000).
THREADS_FROM_ROWS = 512

_POOL = None


def _pool():
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=min(os.cpu_count() or 1, 8))
    return _POOL


def sparse_density_limit(n_rows):
    """The largest density at which the CSR product is used for ``n_rows`` rows."""
    limit = SPARSE_UP_TO_DENSITY[0][1]
    for rows, density in SPARSE_UP_TO_DENSITY:
        if n_rows >= rows:
            limit = density
    return limit


class LayerKernels:
    """The product ``A @ coefs[layer]`` for a list of sparse weight matrices.

    Parameters
    ----------
    coefs : list of scipy.sparse.csr_array of shape (n_in, n_out)
        The weight matrices; they are read, never modified. Build a new
        object after they change.
    n_threads : int, default=None
        Threads of the split CSR product; every core when None, 1 never
        splits.
    """

    def __init__(self, coefs, n_threads=None):
        self.coefs = coefs
        self.n_threads = min(os.cpu_count() or 1, 8) if n_threads is None else n_threads
        self.density = [W.nnz / max(W.shape[0] * W.shape[1], 1) for W in coefs]
        self.size = [W.shape[0] * W.shape[1] for W in coefs]
        self._dense = {}
        self._transposed = {}
        self._parts = {}

    def dense(self, layer):
        """A dense copy of layer ``layer`` (made once)."""
        if layer not in self._dense:
            self._dense[layer] = self.coefs[layer].toarray()
        return self._dense[layer]

    def transposed(self, layer):
        """Layer ``layer`` transposed, as CSR (made once)."""
        if layer not in self._transposed:
            self._transposed[layer] = self.coefs[layer].T.tocsr()
        return self._transposed[layer]

    def parts(self, layer):
        """The transposed layer in row blocks of about equal non-zeros, one per thread."""
        if layer not in self._parts:
            transposed = self.transposed(layer)
            targets = np.linspace(0, transposed.nnz, self.n_threads + 1)
            bounds = np.unique(np.searchsorted(transposed.indptr, targets))
            bounds[0], bounds[-1] = 0, transposed.shape[0]
            self._parts[layer] = [
                (start, stop, transposed[start:stop]) for start, stop in zip(bounds[:-1], bounds[1:], strict=True)
            ]
        return self._parts[layer]

    def kernel(self, layer, n_rows):
        """The kernel used for ``n_rows`` rows: "dense", "csr" or "csr-threads"."""
        limit = sparse_density_limit(n_rows)
        if n_rows == 1 and self.size[layer] >= ONE_ROW_MIN_WEIGHTS:
            limit = max(limit, ONE_ROW_DENSITY)
        if self.density[layer] > limit:
            return "dense"
        if n_rows >= THREADS_FROM_ROWS and self.n_threads > 1:
            return "csr-threads"
        return "csr"

    def __call__(self, A, layer):
        """``A @ coefs[layer]`` with the kernel for this batch and density."""
        if sp.issparse(A):
            return (A @ self.coefs[layer]).toarray()
        kernel = self.kernel(layer, A.shape[0])
        if kernel == "dense":
            return A @ self.dense(layer)
        if kernel == "csr":
            return np.asarray(self.transposed(layer) @ A.T).T
        return self._threaded(A, layer)

    def _threaded(self, A, layer):
        transposed = np.ascontiguousarray(A.T)
        out = np.empty((self.coefs[layer].shape[1], A.shape[0]), dtype=np.result_type(A, self.coefs[layer]))

        def block(part):
            start, stop, rows = part
            out[start:stop] = rows @ transposed

        list(_pool().map(block, self.parts(layer)))
        return out.T
