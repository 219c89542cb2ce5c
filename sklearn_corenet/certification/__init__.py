"""Certificates: how close a compressed network stays to the original, on held-out points.

The statistics (``_bounds``: per-point errors, Clopper–Pearson coverage
bounds), the :class:`Certificate` they make, :func:`certify` for any pair of
models, and the certified search (``_search``, ``_evaluator``): the sparsest
budget whose certificate holds, behind ``keep_ratio="certified"``.
"""

from ._bounds import ERRORS, coverage_lower_bound, points_needed, pointwise_errors
from ._certificate import Certificate
from ._certify import certify, certify_networks
from ._search import Target, compress_to_target

__all__ = [
    "ERRORS",
    "Certificate",
    "Target",
    "certify",
    "certify_networks",
    "compress_to_target",
    "coverage_lower_bound",
    "points_needed",
    "pointwise_errors",
]
