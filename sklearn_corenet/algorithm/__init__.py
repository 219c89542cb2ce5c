"""The CoreNet algorithm over plain arrays (Baykal et al., 2019).

Empirical sensitivities (Alg. 2, lines 1-2), sample sizes (Alg. 1,
lines 1-9), importance sampling with reweighting (Alg. 2, lines 3-10) and
the two pure steps the compressor runs: :func:`plan_compression` reads a
network and its calibration data once, :func:`draw_compression` draws a
compressed network from the plan. Reweighting rules are registered in
:data:`REWEIGHT_RULES`. The torch computation of the statistics
(``_torch_compute``) imports torch and is reached through
``_torch_statistics``.
"""

from ._draw import DrawnNetwork, draw_compression
from ._plan import (
    CompressionPlan,
    CompressionProblem,
    CompressionSettings,
    plan_compression,
)
from ._reweight import REWEIGHT_RULES, ReweightRule, lstsq_reweight
from ._sensitivity import compute_layer_statistics

__all__ = [
    "REWEIGHT_RULES",
    "CompressionPlan",
    "CompressionProblem",
    "CompressionSettings",
    "DrawnNetwork",
    "ReweightRule",
    "compute_layer_statistics",
    "draw_compression",
    "lstsq_reweight",
    "plan_compression",
]
