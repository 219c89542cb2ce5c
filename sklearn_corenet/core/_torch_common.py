"""What the torch modules share: the hidden activations and the dtype mapping.

The torch adapter reads these activations, the export writes them and the torch
sensitivities compute them; one table keeps the three in agreement with
:data:`~._network.HIDDEN_ACTIVATIONS`.

This module imports torch; it is only imported by the torch modules.
"""

import numpy as np
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
