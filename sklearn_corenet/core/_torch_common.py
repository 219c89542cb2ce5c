"""What the torch modules share: the hidden activations, the dtype mapping and the layers.

:class:`SparseLinear` (a linear layer with a fixed sparsity pattern) and
:class:`Exp` are the layers an export writes and the torch adapter reads back,
so they live here, below both.

The torch adapter reads these activations, the export writes them and the torch
sensitivities compute them; one table keeps the three in agreement with
:data:`~._network.HIDDEN_ACTIVATIONS`.

This module imports torch; it is only imported by the torch modules.
"""

import warnings

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

#: The torch module of each hidden activation (``"identity"`` has none).
HIDDEN_MODULES = {"relu": nn.ReLU, "tanh": nn.Tanh, "logistic": nn.Sigmoid}

#: The torch function of each hidden activation.
HIDDEN_FUNCTIONS = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "logistic": torch.sigmoid,
    "identity": lambda Z: Z,
}


def torch_dtype(dtype):
    """The torch dtype of a numpy (or torch) dtype; float64 for a non-float one."""
    if isinstance(dtype, torch.dtype):
        return dtype
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        dtype = np.dtype(np.float64)
    return torch.from_numpy(np.empty(0, dtype=dtype)).dtype


class Exp(nn.Module):
    """Element-wise exponential (the output activation of Poisson MLPs)."""

    def forward(self, x):
        return torch.exp(x)


class SparseLinear(nn.Module):
    """A linear layer ``x @ W + b`` whose weight matrix is stored in CSR.

    The non-zero pattern is fixed: the compressed-row indices are buffers
    and only the non-zero values (and the bias) are parameters, so training
    the module (for example with skorch's ``partial_fit``) keeps it exactly
    as sparse. The product is torch's CSR by dense product: at 5-10% kept it
    beats the dense layer from 64 to 1,000 rows, not for one row; COO,
    torch's other sparse layout, is 1.4-17 times slower (docs page "torch
    and skorch", measured with ``python -m benchmarks.torch_export``).

    Parameters
    ----------
    weight : scipy.sparse array or ndarray of shape (in_features, out_features)
        Weight matrix in scikit-learn's orientation; explicit zeros are dropped.
    bias : ndarray of shape (out_features,)
        Bias vector.
    dtype : torch.dtype, default=None
        Parameter dtype; the weight's dtype when None.

    Attributes
    ----------
    crow_indices : torch.Tensor of shape (out_features + 1,)
        Where each output neuron's weights start in ``col_indices`` and
        ``values``, in the orientation of ``nn.Linear.weight``
        (out_features, in_features).
    col_indices : torch.Tensor of shape (nnz,)
        Input index of each stored weight, sorted within an output neuron.
    values : torch.nn.Parameter of shape (nnz,)
        The stored weights.
    bias : torch.nn.Parameter of shape (out_features,)
    """

    def __init__(self, weight, bias, *, dtype=None):
        super().__init__()
        transposed = sp.csr_array(weight).T.tocsr()  # nn.Linear's (out, in)
        transposed.eliminate_zeros()
        transposed.sum_duplicates()  # canonical: sorted column indices
        dtype = dtype or torch_dtype(transposed.dtype)
        self.in_features, self.out_features = weight.shape
        self.register_buffer("crow_indices", torch.from_numpy(transposed.indptr.astype(np.int64)))
        self.register_buffer("col_indices", torch.from_numpy(transposed.indices.astype(np.int64)))
        self.values = nn.Parameter(torch.as_tensor(transposed.data, dtype=dtype))
        self.bias = nn.Parameter(torch.as_tensor(np.asarray(bias), dtype=dtype))

    @property
    def weight(self):
        """The weight as a sparse CSR tensor of shape (out_features, in_features)."""
        with warnings.catch_warnings():
            # torch flags its CSR layout as beta once per process
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support", category=UserWarning)
            return torch.sparse_csr_tensor(
                self.crow_indices,
                self.col_indices,
                self.values,
                (self.out_features, self.in_features),
                check_invariants=False,
            )

    @property
    def indices(self):
        """Row (output) and column (input) index of each stored weight, shape (2, nnz)."""
        counts = torch.diff(self.crow_indices)
        rows = torch.repeat_interleave(torch.arange(self.out_features, device=counts.device), counts)
        return torch.stack([rows, self.col_indices])

    @property
    def nnz(self):
        return int(self.values.numel())

    def forward(self, x):
        return (self.weight @ x.T).T + self.bias

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, nnz={self.nnz}"
