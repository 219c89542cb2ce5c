"""Measuring a compression: metrics against the original and compression curves."""

from ._curve import compression_curve, plot_compression_curve, summarize_curve
from ._metrics import accuracy_drop, network_output, relative_error

__all__ = [
    "accuracy_drop",
    "compression_curve",
    "network_output",
    "plot_compression_curve",
    "relative_error",
    "summarize_curve",
]
