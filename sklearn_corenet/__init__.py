"""Compress trained MLPs with provable coresets (CoreNet), the scikit-learn way.

The public names are re-exported here; the modules behind them are private.
"""

from ._onnx import register_onnx_converters, to_onnx
from ._persistence import dump, load, trusted_types
from .adapters._class_scores import ClassScores
from .certification._certificate import Certificate
from .certification._certify import certify
from .compressor._compressor import CoreNetCompressor
from .compressor._meta import CoreNetClassifier, CoreNetRegressor
from .evaluation._curve import (
    compression_curve,
    plot_compression_curve,
    summarize_curve,
)
from .evaluation._metrics import accuracy_drop, network_output, relative_error
from .methods._registry import (
    METHODS,
    Method,
    SamplingMethod,
    SelectionMethod,
    register_method,
)
from .model_selection._scoring import (
    kept_fraction_scorer,
    make_kept_fraction_scorer,
    sparsest_within,
)
from .models._info import CompressionInfo
from .models._sparse_mlp import SparseMLPClassifier, SparseMLPRegressor
from .models._summary import CompressionSummary

__version__ = "0.1.0.dev0"

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
