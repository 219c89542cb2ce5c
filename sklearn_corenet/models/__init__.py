"""The compressed estimators: ``scipy.sparse`` layers that predict like the original.

:class:`SparseMLPClassifier` and :class:`SparseMLPRegressor` share their
inference code (``_base``: validation, the layer kernels of ``_kernels``,
conversions, exports and fine-tuning); ``_storage`` packs their weights for
saving, ``_summary`` tabulates a compression.
"""

from ._info import CompressionInfo
from ._sparse_mlp import SparseMLPClassifier, SparseMLPRegressor, make_sparse_estimator
from ._summary import CompressionSummary

__all__ = [
    "CompressionInfo",
    "CompressionSummary",
    "SparseMLPClassifier",
    "SparseMLPRegressor",
    "make_sparse_estimator",
]
