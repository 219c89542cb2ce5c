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


#: The dtypes torch's CSR by dense product computes in on the CPU (float16 and
#: bfloat16 raise "not implemented" at the first forward pass).
SPARSE_DTYPES = (torch.float32, torch.float64)


def check_sparse_dtype(dtype):
    """Raise ValueError unless :class:`SparseLinear` can compute in ``dtype``."""
    if dtype not in SPARSE_DTYPES:
        raise ValueError(
            f"sparse layers cannot compute in {dtype}: torch's CSR product on the "
            "CPU supports torch.float32 and torch.float64 only. Pass one of those "
            "as dtype, or export dense layers (sparse=False), which compute in "
            "any floating dtype"
        )


class SparseLinear(nn.Module):
    """A linear layer ``x @ W + b`` whose weight matrix is stored in CSR.

    The non-zero pattern is fixed, for the weights and the bias alike: the
    compressed-row indices and the indices of the kept biases are buffers,
    and only the kept weights and biases are parameters, so training the
    module (for example with skorch's ``partial_fit``) keeps it exactly as
    sparse: a weight or bias that compression removed stays zero. The
    product is torch's CSR by dense product: at 5-10% kept it beats the
    dense layer from 64 to 1,000 rows, not for one row; COO, torch's other
    sparse layout, is 1.4-17 times slower (docs page "torch and skorch",
    measured with ``python -m benchmarks.torch_export``).

    The module can be scripted (``torch.jit.script``) and traced
    (``torch.jit.trace``); ``torch.export.export`` cannot build torch's CSR
    tensors yet, so export the dense layers for it.

    Parameters
    ----------
    weight : scipy.sparse array or ndarray of shape (in_features, out_features)
        Weight matrix in scikit-learn's orientation; explicit zeros are
        dropped. Copied, never modified.
    bias : ndarray of shape (out_features,)
        Bias vector; its zeros are the removed biases. Copied, never modified.
    dtype : torch.dtype, default=None
        Parameter dtype, ``torch.float32`` or ``torch.float64`` (the dtypes
        torch's CSR product computes in on the CPU); the weight's dtype when
        None.

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
    bias_indices : torch.Tensor of shape (n_kept_biases,)
        Output index of each stored bias, increasing.
    bias_values : torch.nn.Parameter of shape (n_kept_biases,)
        The stored biases.

    Raises
    ------
    ValueError
        If the bias does not have one value per output, or ``dtype`` is not
        one torch's CSR product computes in.
    """

    def __init__(self, weight, bias, *, dtype=None):
        super().__init__()
        # copies of everything passed in: training the module must never
        # change the arrays it was built from
        transposed = sp.csr_array(weight).T.tocsr(copy=True)  # nn.Linear's (out, in)
        transposed.eliminate_zeros()
        transposed.sum_duplicates()  # canonical: sorted column indices
        dtype = dtype or torch_dtype(transposed.dtype)
        check_sparse_dtype(dtype)
        self.in_features, self.out_features = weight.shape
        bias = np.asarray(bias)
        if bias.shape != (self.out_features,):
            raise ValueError(
                f"the bias has shape {bias.shape}; the weight matrix has "
                f"{self.out_features} outputs, so it needs shape ({self.out_features},)"
            )
        kept = np.flatnonzero(bias)
        self.register_buffer("crow_indices", torch.tensor(transposed.indptr, dtype=torch.int64))
        self.register_buffer("col_indices", torch.tensor(transposed.indices, dtype=torch.int64))
        self.register_buffer("bias_indices", torch.tensor(kept, dtype=torch.int64))
        self.values = nn.Parameter(torch.tensor(transposed.data, dtype=dtype))
        self.bias_values = nn.Parameter(torch.tensor(bias[kept], dtype=dtype))

    @property
    def weight(self):
        """The weight as a sparse CSR tensor of shape (out_features, in_features)."""
        if torch.jit.is_scripting():
            # TorchScript's sparse_csr_tensor passes no gradient to the
            # values; the compressed-layout factory does (its signature has
            # no check_invariants: the checks are off unless
            # torch.sparse.check_sparse_tensor_invariants turns them on)
            return torch.sparse_compressed_tensor(
                self.crow_indices,
                self.col_indices,
                self.values,
                [self.out_features, self.in_features],
                dtype=self.values.dtype,  # TorchScript's default: float32
                layout=torch.sparse_csr,
                device=self.values.device,
            )
        return self._quiet_csr_weight()

    @torch.jit.unused
    def _quiet_csr_weight(self):
        # Python only: TorchScript has no warnings module
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
    def bias(self):
        """The bias as a dense tensor of shape (out_features,), zero where removed."""
        zeros = torch.zeros(
            self.out_features, dtype=self.bias_values.dtype, device=self.bias_values.device
        )
        return zeros.index_copy(0, self.bias_indices, self.bias_values)

    @property
    def indices(self):
        """Row (output) and column (input) index of each stored weight, shape (2, nnz)."""
        counts = torch.diff(self.crow_indices)
        rows = torch.repeat_interleave(torch.arange(self.out_features, device=counts.device), counts)
        return torch.stack([rows, self.col_indices])

    @property
    def nnz(self):
        """Stored weights (the kept biases not included)."""
        return int(self.values.numel())

    def forward(self, x):
        return (self.weight @ x.T).T + self.bias

    def extra_repr(self):
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"nnz={self.nnz}, kept_biases={int(self.bias_values.numel())}"
        )
