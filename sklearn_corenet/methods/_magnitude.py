"""Global magnitude pruning: the edges of largest absolute weight across all layers (the usual baseline, as torch.nn.utils.prune.global_unstructured with L1)."""

import numpy as np

from ._base import SelectionMethod


class Magnitude(SelectionMethod):
    """Weight thresholding (Han et al. 2015): keep the largest |w| globally.

    Weights and biases of all layers are ranked together; kept entries keep
    their values (no reweighting).
    """

    name = "magnitude"

    def select(self, problem, budget):
        threshold, ties = global_magnitude_threshold(problem.weights, budget)
        layers = []
        for W in problem.weights:
            keep, ties = _above(W, threshold, ties)
            layers.append(np.where(keep, W, 0).astype(W.dtype, copy=False))
        return layers


def global_magnitude_threshold(weights, budget):
    """The smallest |w| kept among the ``budget`` largest over all layers, and
    how many weights of exactly that magnitude are kept.

    The budget keeps every weight above the threshold and the first
    ``ties`` of those equal to it, in layer order then row-major order.
    One copy of the magnitudes is partitioned in place: no index array.
    """
    size = sum(W.size for W in weights)
    budget = int(min(max(budget, 0), size))
    if budget == 0:
        return np.inf, 0
    # the non-zero magnitudes (the others rank last, in order)
    magnitudes = np.concatenate([np.abs(W[W != 0]) for W in weights])
    if budget > magnitudes.size:
        return magnitudes.dtype.type(0), budget - magnitudes.size
    magnitudes.partition(magnitudes.size - budget)
    threshold = magnitudes[magnitudes.size - budget]
    del magnitudes
    above = sum(int(np.count_nonzero(np.abs(W) > threshold)) for W in weights)
    return threshold, budget - above


def _above(W, threshold, ties):
    """Mask of the entries of W above ``threshold`` and its first ``ties``
    entries equal to it; the ties left for the next layers."""
    magnitude = np.abs(W)
    keep = magnitude > threshold
    if ties > 0:
        equal = np.flatnonzero(magnitude == threshold)[:ties]
        keep.ravel()[equal] = True
        ties -= equal.size
    return keep, ties


def global_magnitude_masks(weights, budget):
    """Masks keeping the ``budget`` largest |w| over all layers together
    (ties at the threshold: the first in layer order, then row-major order)."""
    threshold, ties = global_magnitude_threshold(weights, budget)
    masks = []
    for W in weights:
        keep, ties = _above(W, threshold, ties)
        masks.append(keep)
    return masks


def global_magnitude_counts(weights, budget):
    """How many of the ``budget`` largest |w| over all layers each layer holds."""
    threshold, ties = global_magnitude_threshold(weights, budget)
    counts = []
    for W in weights:
        above = int(np.count_nonzero(np.abs(W) > threshold))
        equal = min(ties, int(np.count_nonzero(np.abs(W) == threshold)))
        counts.append(above + equal)
        ties -= equal
    return counts
