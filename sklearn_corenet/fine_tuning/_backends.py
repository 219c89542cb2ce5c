"""The two ways of computing a fine-tuning step: numpy/scipy and torch.

Both train the same flat vectors of kept values (the stored entries of each
CSR weight matrix and the non-zero biases), take the same Adam steps up to
rounding, and provide ``get_values``, ``set_values``, ``decision`` and
``train_batch``; :func:`choose_backend` picks one for ``backend="auto"``.
"""

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.sparse as sp
from sklearn.utils import gen_batches

from ..core._network import chunk_rows, forward_pass
from ._losses import inplace_activation_derivative, output_loss, torch_output_loss
from ._optimizers import ADAM_BETAS, ADAM_EPSILON, Adam

# numpy backend, per layer. Below this density the products with the weight
# matrix use scipy's sparse kernels, above it dense BLAS on a dense copy that
# is kept in sync with the kept values.
_SPARSE_PRODUCT_DENSITY = 0.1
# Below this density the gradient of the kept weights is summed over the
# batch for each kept (i, j) pair; above it the dense Aᵀ δ is cheaper even
# though most of it is thrown away.
_GATHER_GRADIENT_DENSITY = 0.01
# backend="auto" uses torch (when importable) from this many weights before
# compression on. Measured on 2 cores, torch's dense products with a fixed
# mask were 1.2-2x slower than the numpy backend up to a 784-1000-1000-10
# network and only drew level around ten million weights.
_TORCH_FROM_DENSE_PARAMETERS = 10_000_000


@dataclass
class KeptLayer:
    """Where the trainable entries of one layer are.

    Attributes
    ----------
    shape : tuple of int
        ``(n_in, n_out)`` of the weight matrix.
    indices, indptr : ndarray of int
        The CSR pattern of the kept weights.
    rows, cols : ndarray of int of shape (n_kept,)
        ``rows[k], cols[k]`` is the position of ``coefs.data[k]`` (CSR order).
    bias_index : ndarray of int
        The non-zero biases.
    """

    shape: tuple
    indices: np.ndarray
    indptr: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    bias_index: np.ndarray

    @classmethod
    def from_arrays(cls, W, b):
        """The kept entries of a CSR weight matrix ``W`` and bias vector ``b``."""
        rows = np.repeat(np.arange(W.shape[0]), np.diff(W.indptr))
        return cls(
            shape=W.shape,
            indices=W.indices,
            indptr=W.indptr,
            rows=rows,
            cols=np.asarray(W.indices, dtype=np.intp),
            bias_index=np.flatnonzero(b),
        )

    @property
    def density(self):
        """Fraction of the weight matrix that is kept."""
        return self.rows.size / max(self.shape[0] * self.shape[1], 1)

    @cached_property
    def flat_index(self):
        """Position of every kept weight in the row-major dense matrix."""
        return self.rows * self.shape[1] + self.cols


class _Backend:
    """Settings shared by the training backends.

    Parameters
    ----------
    layers : list of KeptLayer
        Where the kept values of every layer go.
    activation : str
        Hidden activation.
    loss : str
        One of ``LOSSES``.
    alpha : float
        L2 penalty on the kept weights.
    """

    def __init__(self, layers, activation, loss, alpha):
        self.layers = layers
        self.activation = activation
        self.loss = loss
        self.alpha = alpha


class NumpyBackend(_Backend):
    """Forward and backward passes with numpy and scipy.sparse.

    Parameters are ``values = [w_0, b_0, w_1, b_1, ...]``: the kept weights of
    each layer in CSR order and its kept biases. Each layer's products use
    scipy's sparse kernels or dense BLAS on a synchronised dense copy,
    whichever its density makes faster.
    """

    name = "numpy"

    def __init__(self, layers, values, activation, loss, alpha, learning_rate):
        super().__init__(layers, activation, loss, alpha)
        self.values = [np.array(v, copy=True) for v in values]
        self.optimizer = Adam(self.values, learning_rate)
        dtype = self.values[0].dtype
        self.sparse = [
            sp.csr_array((self.values[2 * i], layer.indices, layer.indptr), shape=layer.shape)
            for i, layer in enumerate(layers)
        ]
        for i, matrix in enumerate(self.sparse):
            # the parameters themselves, so that every update reaches the matrix
            matrix.data = self.values[2 * i]
        self.dense = [
            np.zeros(layer.shape, dtype=dtype)
            if layer.density >= _SPARSE_PRODUCT_DENSITY
            else None
            for layer in layers
        ]
        self.biases = [np.zeros(layer.shape[1], dtype=dtype) for layer in layers]
        self._sync()

    def _sync(self):
        """Copy the kept values into the dense weights and full bias vectors."""
        for i, layer in enumerate(self.layers):
            if self.dense[i] is not None:
                self.dense[i].reshape(-1)[layer.flat_index] = self.values[2 * i]
            self.biases[i][layer.bias_index] = self.values[2 * i + 1]

    def get_values(self):
        """A copy of the kept values, ``[w_0, b_0, w_1, b_1, ...]``."""
        return [np.array(v, copy=True) for v in self.values]

    def set_values(self, values):
        """Make ``values`` (as from :meth:`get_values`) the current weights."""
        for target, source in zip(self.values, values, strict=True):
            target[...] = source
        self._sync()

    def _product(self, A, i):
        """A @ W_i."""
        if self.dense[i] is not None:
            return A @ self.dense[i]
        # (Wᵀ Aᵀ)ᵀ: Wᵀ of a CSR array is a CSC view, no copy
        return np.asarray((self.sparse[i].T @ A.T).T)

    def _back_product(self, delta, i):
        """delta @ W_iᵀ."""
        if self.dense[i] is not None:
            return delta @ self.dense[i].T
        return np.asarray((self.sparse[i] @ delta.T).T)

    def _kept_gradient(self, A, delta, i):
        """Σ over the batch of A[:, r] δ[:, c] for every kept (r, c) of layer i."""
        layer = self.layers[i]
        if layer.density >= _GATHER_GRADIENT_DENSITY:
            return (A.T @ delta)[layer.rows, layer.cols]
        # transposed so that gathering a unit's values reads contiguous memory
        A_t, delta_t = np.ascontiguousarray(A.T), np.ascontiguousarray(delta.T)
        gradient = np.empty(layer.rows.size, dtype=delta.dtype)
        chunk = chunk_rows(2 * A.shape[0] * A.itemsize, layer.rows.size)
        for kept in gen_batches(layer.rows.size, chunk):
            gradient[kept] = np.einsum(
                "kb,kb->k", A_t[layer.rows[kept]], delta_t[layer.cols[kept]]
            )
        return gradient

    def _forward(self, X, keep_inputs=False):
        return forward_pass(
            X,
            self.sparse,
            self.biases,
            self.activation,
            product=self._product,
            keep_inputs=keep_inputs,
        )

    def decision(self, X):
        """Last layer's values before the output activation, for dense rows ``X``."""
        return self._forward(X)

    def train_batch(self, X, Y):
        """One Adam step on the mini-batch ``(X, Y)``; returns its loss."""
        raw, inputs = self._forward(X, keep_inputs=True)
        n_samples = X.shape[0]
        value, delta = output_loss(self.loss, raw, Y)
        gradients = [None] * len(self.values)
        for i in reversed(range(len(self.layers))):
            weights = self.values[2 * i]
            gradient = self._kept_gradient(inputs[i], delta, i)
            if self.alpha:
                # L2 penalty ½α‖W‖² / n_samples, as scikit-learn's MLP
                value += 0.5 * self.alpha * float(weights @ weights) / n_samples
                gradient += (self.alpha / n_samples) * weights
            gradients[2 * i] = gradient
            gradients[2 * i + 1] = delta.sum(axis=0)[self.layers[i].bias_index]
            if i:
                delta = self._back_product(delta, i)
                inplace_activation_derivative(self.activation, inputs[i], delta)
        self.optimizer.step(gradients)
        self._sync()
        return value


class TorchBackend(_Backend):
    """Forward and backward passes with torch autograd.

    The parameters are the same vectors of kept values as for numpy; every
    step scatters them into dense weight matrices, so the gradient reaches
    only the kept entries.
    """

    name = "torch"

    def __init__(self, layers, values, activation, loss, alpha, learning_rate):
        import torch

        super().__init__(layers, activation, loss, alpha)
        self.torch = torch
        self.parameters = [torch.tensor(np.array(v, copy=True), requires_grad=True) for v in values]
        self.flat_index = [torch.from_numpy(layer.flat_index) for layer in layers]
        self.bias_index = [torch.from_numpy(layer.bias_index) for layer in layers]
        self.optimizer = torch.optim.Adam(
            self.parameters, lr=learning_rate, betas=ADAM_BETAS, eps=ADAM_EPSILON
        )

    def get_values(self):
        """A copy of the kept values, ``[w_0, b_0, w_1, b_1, ...]``."""
        return [p.detach().numpy().copy() for p in self.parameters]

    def set_values(self, values):
        """Make ``values`` (as from :meth:`get_values`) the current weights."""
        with self.torch.no_grad():
            for parameter, source in zip(self.parameters, values, strict=True):
                parameter.copy_(self.torch.from_numpy(source))

    def _raw(self, X):
        torch = self.torch
        A = torch.from_numpy(X)
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            weights, biases = self.parameters[2 * i], self.parameters[2 * i + 1]
            n_in, n_out = layer.shape
            W = weights.new_zeros(n_in * n_out).scatter(0, self.flat_index[i], weights)
            b = biases.new_zeros(n_out).scatter(0, self.bias_index[i], biases)
            A = torch.addmm(b, A, W.view(n_in, n_out))
            if i != last:
                A = self._activate(A)
        return A

    def _activate(self, Z):
        torch = self.torch
        if self.activation == "relu":
            return torch.relu(Z)
        if self.activation == "tanh":
            return torch.tanh(Z)
        if self.activation == "logistic":
            return torch.sigmoid(Z)
        return Z

    def decision(self, X):
        """Last layer's values before the output activation, for dense rows ``X``."""
        with self.torch.no_grad():
            return self._raw(np.ascontiguousarray(X)).numpy()

    def train_batch(self, X, Y):
        """One Adam step on the mini-batch ``(X, Y)``; returns its loss."""
        torch = self.torch
        self.optimizer.zero_grad(set_to_none=True)
        objective = torch_output_loss(self.loss, self._raw(X), torch.from_numpy(Y))
        if self.alpha:
            penalty = sum(torch.sum(w**2) for w in self.parameters[::2])
            objective = objective + 0.5 * self.alpha * penalty / X.shape[0]
        objective.backward()
        self.optimizer.step()
        return float(objective.item())


#: Training backend of every ``backend`` name but "auto".
BACKENDS = {"numpy": NumpyBackend, "torch": TorchBackend}


def _torch_available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def choose_backend(backend, shapes):
    """Resolve ``backend="auto"`` for layers of the given (n_in, n_out) shapes.

    Parameters
    ----------
    backend : {"auto", "numpy", "torch"}
        The requested backend.
    shapes : list of tuple of int
        ``(n_in, n_out)`` of every weight matrix.

    Returns
    -------
    name : {"numpy", "torch"}
        torch when it is requested, or when it is importable and the layers
        hold at least ``_TORCH_FROM_DENSE_PARAMETERS`` weights before
        compression (below that numpy was measured faster); else numpy.

    Raises
    ------
    ImportError
        If ``backend="torch"`` and torch is not installed.
    """
    if backend == "numpy":
        return "numpy"
    if backend == "torch":
        if not _torch_available():
            raise ImportError(
                "backend='torch' needs torch; install it (pip install "
                "'sklearn-corenet[torch]') or use backend='numpy'"
            )
        return "torch"
    dense_parameters = sum(n_in * n_out for n_in, n_out in shapes)
    if dense_parameters >= _TORCH_FROM_DENSE_PARAMETERS and _torch_available():
        return "torch"
    return "numpy"
