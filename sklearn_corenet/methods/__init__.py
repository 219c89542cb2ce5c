"""Compression methods: what ``CoreNetCompressor(method=...)`` can do.

A module per family: the paper's sampling methods (``_corenet``) and its
matrix-sparsification baselines (``_matrix``); beyond the paper, global
magnitude pruning (``_magnitude``), Wanda (``_wanda``), the choice among
selection rules by measured error (``_measured``, the default), layer
budgets searched by measured error (``_split_search``), and the structured
methods that remove whole neurons (``_neurons``; their greedy choice by
reconstruction, ThiNet, and widths by measured error in
``_reconstruction``). :data:`METHODS` is the registry of names; a new
method is a class and its registration.
"""

from ._base import Method, SamplingMethod, SelectionMethod
from ._corenet import CoreNet, Uniform
from ._magnitude import Magnitude
from ._matrix import MatrixSampling
from ._measured import MeasuredChoice
from ._neurons import NeuronPruning
from ._registry import METHODS, MethodOption, get_method, register_method
from ._split_search import FixedSplit, LayerSplitSearch
from ._wanda import ActivationMagnitude

__all__ = [
    "METHODS",
    "ActivationMagnitude",
    "CoreNet",
    "FixedSplit",
    "LayerSplitSearch",
    "Magnitude",
    "MatrixSampling",
    "MeasuredChoice",
    "Method",
    "MethodOption",
    "NeuronPruning",
    "SamplingMethod",
    "SelectionMethod",
    "Uniform",
    "get_method",
    "register_method",
]
