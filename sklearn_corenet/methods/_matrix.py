"""The paper's matrix-sparsification baselines ("l1", "l2", "l1+l2"; Baykal et al., 2019, Sec. 5): each layer's edges sampled in proportion to their magnitudes."""

import numpy as np

from ..algorithm._sampling import matrix_plan
from ._base import SamplingMethod


class MatrixSampling(SamplingMethod):
    """Entry-wise sampling over a whole layer (Appendix B.1).

    "l1": p ∝ |w| (Achlioptas et al. 2013); "l2": p ∝ w² (Drineas & Zouzias
    2011); "l1+l2": p = ½ (w²/‖W‖_F² + |w|/‖W‖₁) (Kundu & Drineas 2014). Each
    layer draws a number of entries proportional to its size.
    """

    def __init__(self, name):
        self.name = name

    def probabilities(self, W):
        magnitude = np.abs(W).astype(np.float64)
        if self.name == "l1":
            return magnitude
        if self.name == "l2":
            return magnitude**2
        l1 = magnitude / max(magnitude.sum(), 1e-300)
        l2 = magnitude**2 / max((magnitude**2).sum(), 1e-300)
        return (l1 + l2) / 2

    def plans(self, problem, layer_scale):
        return [
            matrix_plan(self.probabilities(W), W.size * scale)
            for W, scale in zip(problem.weights, layer_scale, strict=True)
        ]
