"""The paper's sampling methods: CoreNet, CoreNet+ and CoreNet++ (Baykal et al., 2019, Alg. 1-2) and its uniform-sampling baseline."""

import numpy as np

from ..algorithm._sampling import neuron_plan
from ..algorithm._sensitivity import sensitivity_row_sums
from ._base import SamplingMethod


class CoreNet(SamplingMethod):
    """Alg. 2 with empirical-sensitivity probabilities (CoreNet, CoreNet+, CoreNet++)."""

    needs_statistics = True
    theory_mode = True

    def __init__(self, name, prunes_dead_neurons=False, amplifies=False):
        self.name = name
        self.prunes_dead_neurons = prunes_dead_neurons
        self.amplifies = amplifies

    def scores(self, W, stats):
        """Importance of every edge: its empirical sensitivity (Alg. 2, line 2)."""
        return stats.sensitivity

    def allocation(self, scores, W, stats):
        """α per neuron and sign: the row sums S_i+ and S_i- (m_i ∝ S_i, Alg. 2, line 6)."""
        return sensitivity_row_sums(scores, W)

    def plans(self, problem, layer_scale):
        plans = []
        statistics = problem.statistics or [None] * len(problem.weights)
        layers = zip(problem.weights, statistics, problem.active, layer_scale, strict=True)
        for W, stats, alive, scale in layers:
            scores = self.scores(W, stats)
            allocation = self.allocation(scores, W, stats) * scale
            plans.append(neuron_plan(scores, np.sign(W), allocation, alive))
        return plans


class Uniform(CoreNet):
    """Alg. 2 with q uniform over each neuron's edges of one sign (Appendix B.1).

    Data-oblivious: each row's sample size is proportional to its number of
    edges.
    """

    needs_statistics = False
    theory_mode = False

    def __init__(self):
        super().__init__("uniform")

    def scores(self, W, stats):
        return (W != 0).astype(np.float64)
