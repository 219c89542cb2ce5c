"""Compress trained MLPs with provable coresets (CoreNet), the scikit-learn way.

The public names are re-exported here; the modules behind them are private.
"""

from ._compressor import CoreNetCompressor
from ._methods import METHODS, Method, register_method
from ._sparse_mlp import SparseMLPClassifier, SparseMLPRegressor
from ._summary import CompressionSummary

__version__ = "0.1.0.dev0"

__all__ = [
    "METHODS",
    "CompressionSummary",
    "CoreNetCompressor",
    "Method",
    "SparseMLPClassifier",
    "SparseMLPRegressor",
    "register_method",
    "__version__",
]
