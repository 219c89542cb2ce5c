"""How a compressed estimator was made: the record it keeps of its compression."""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CompressionInfo:
    """How a compressed model was made (``compression_info_``).

    Read its fields as attributes or, like a dict, by name
    (``info["method"]``).

    Attributes
    ----------
    method : str
        Name of the compression method.
    reweight : str
        The reweighting rule of the kept edges.
    epsilon : float
        ε of the guarantee (NaN for methods without one).
    n_trials : int
        Candidates per neuron (CoreNet++).
    allocation_constant : float or None
        Budget mode of sampling methods: the constant that met the budget.
    layer_epsilons : ndarray of shape (n_layers,)
        ε_ℓ per layer.
    delta_hat : ndarray of shape (n_layers,) or None
        Δ^ℓ per layer.
    dead_neurons : list of ndarray of int
        Per hidden layer of the original, the neurons removed.
    original_shapes : list of tuple
        (n_in, n_out) of every layer of the original.
    calibration_size : int
        ``|S|``.
    selection : str or None
        The rule a method that measures candidates chose (``method="auto"``),
        or None.
    """

    method: str
    reweight: str
    epsilon: float
    n_trials: int = 1
    allocation_constant: float | None = None
    layer_epsilons: np.ndarray | None = None
    delta_hat: np.ndarray | None = None
    dead_neurons: list | None = None
    original_shapes: list | None = None
    calibration_size: int | None = None
    selection: str | None = None

    def __getitem__(self, name):
        try:
            return getattr(self, name)
        except AttributeError:
            raise KeyError(name) from None

    def get(self, name, default=None):
        """The field ``name``, or ``default`` when it has none."""
        return getattr(self, name, default)
