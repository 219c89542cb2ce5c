"""Products of activations with a compressed network's sparse weight matrices.

A compressed layer is stored as a ``scipy.sparse`` CSR array; which kernel
multiplies it fastest depends on its density and on the number of rows in
the batch. :class:`LayerKernels` keeps the derived copies each kernel needs
(rebuilt on demand, never pickled) and picks the kernel per call.
"""

import numpy as np
import scipy.sparse as sp

# Below this density a sparse product beats dense BLAS whatever the batch;
# above it, small batches still favour the sparse kernel (no dense copy of
# the matrix has to be read), large ones favour BLAS. Measured on the
# benchmark machine with benchmarks/speed.py.
ALWAYS_SPARSE_DENSITY = 0.01
DENSE_FROM_ROWS = 64


class LayerKernels:
    """The product ``A @ coefs[layer]`` for a list of sparse weight matrices.

    Parameters
    ----------
    coefs : list of scipy.sparse.csr_array of shape (n_in, n_out)
        The weight matrices; they are read, never modified. Build a new
        object after they change.
    """

    def __init__(self, coefs):
        self.coefs = coefs
        self._dense = {}
        self._transposed = {}

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

    def __call__(self, A, layer):
        """``A @ coefs[layer]`` with the faster kernel for this batch and density."""
        W = self.coefs[layer]
        if sp.issparse(A):
            return (A @ W).toarray()
        density = W.nnz / max(W.shape[0] * W.shape[1], 1)
        if density > ALWAYS_SPARSE_DENSITY and A.shape[0] >= DENSE_FROM_ROWS:
            return A @ self.dense(layer)
        # (Wᵀ Aᵀ)ᵀ with Wᵀ stored as CSR: the fastest scipy product for few rows
        return np.asarray(self.transposed(layer) @ A.T).T
