"""The activations a network may use, computed as scikit-learn's MLP computes them."""

import numpy as np
from scipy.special import expit

HIDDEN_ACTIVATIONS = ("relu", "identity", "tanh", "logistic")


OUTPUT_ACTIVATIONS = ("identity", "softmax", "logistic", "exp", "log_softmax")


def apply_activation(name, Z):
    """Apply activation ``name`` to ``Z`` in place and return it."""
    if name == "relu":
        np.maximum(Z, 0, out=Z)
    elif name == "tanh":
        np.tanh(Z, out=Z)
    elif name == "logistic":
        expit(Z, out=Z)
    elif name == "exp":
        np.exp(Z, out=Z)
    elif name == "softmax":
        Z -= Z.max(axis=1, keepdims=True)
        np.exp(Z, out=Z)
        Z /= Z.sum(axis=1, keepdims=True)
    elif name == "log_softmax":
        Z -= Z.max(axis=1, keepdims=True)
        Z -= np.log(np.exp(Z).sum(axis=1, keepdims=True))
    elif name != "identity":
        raise ValueError(f"unknown activation {name!r}")
    return Z
