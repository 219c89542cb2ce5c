"""Retraining a compressed network with its sparsity pattern fixed (Appendix B.4).

:func:`fine_tune_estimator` trains a compressed estimator in place (what its
``fine_tune`` calls), :func:`fine_tune_network` bare sparse layers; both read
one :class:`FineTuneSettings` and return a :class:`FineTuneHistory`.
"""

from ._fine_tune import fine_tune_estimator, fine_tune_network
from ._settings import FineTuneSettings
from ._training import FineTuneHistory

__all__ = ["FineTuneHistory", "FineTuneSettings", "fine_tune_estimator", "fine_tune_network"]
