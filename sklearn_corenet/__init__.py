"""Compress trained MLPs with provable coresets (CoreNet), the scikit-learn way.

The public names are re-exported here. The subpackages behind them, one per
role, are layered: each imports only from the ones below it (the
documentation's architecture page draws them).
"""

from . import _legacy
from ._onnx import register_onnx_converters, to_onnx
from ._persistence import dump, load, trusted_types
from .adapters import ClassScores
from .certification import Certificate, certify
from .compressor import CoreNetClassifier, CoreNetCompressor, CoreNetRegressor
from .core._version import __version__
from .evaluation import (
    accuracy_drop,
    compression_curve,
    network_output,
    plot_compression_curve,
    relative_error,
    summarize_curve,
)
from .methods import METHODS, Method, SamplingMethod, SelectionMethod, register_method
from .model_selection import (
    kept_fraction_scorer,
    make_kept_fraction_scorer,
    sparsest_within,
)
from .models import (
    CompressionInfo,
    CompressionSummary,
    SparseMLPClassifier,
    SparseMLPRegressor,
)

# files saved by version 0.1 name its old modules: let them resolve
_legacy.install()

__all__ = [
    "METHODS",
    "Certificate",
    "ClassScores",
    "CompressionInfo",
    "CompressionSummary",
    "CoreNetClassifier",
    "CoreNetCompressor",
    "CoreNetRegressor",
    "Method",
    "SamplingMethod",
    "SelectionMethod",
    "SparseMLPClassifier",
    "SparseMLPRegressor",
    "accuracy_drop",
    "certify",
    "compression_curve",
    "dump",
    "kept_fraction_scorer",
    "load",
    "make_kept_fraction_scorer",
    "network_output",
    "plot_compression_curve",
    "register_method",
    "register_onnx_converters",
    "relative_error",
    "sparsest_within",
    "summarize_curve",
    "to_onnx",
    "trusted_types",
    "__version__",
]
