"""What every layer of the package shares; imports nothing from the package.

A :class:`Network` (dense layers, their activations and an
:class:`OutputHead`) is the one representation the algorithm, the exports
and the certificates work on; :class:`NetworkModel` is the base of the
fitted models that hold one. The validation of calibration data and the
keys that recognise held-out rows live here too. The torch layers shared by
the exports and the torch adapter (``SparseLinear``, ``Exp``) are in
``core._torch_common``, imported only by the torch modules.
"""

from ._activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS, apply_activation
from ._errors import pointwise_errors
from ._head import HEAD_KINDS, OutputHead, predictions, score_name
from ._held_out import row_keys, seen_rows, split_held_out
from ._network import Network, NetworkModel, chunk_rows, forward_pass

__all__ = [
    "HEAD_KINDS",
    "HIDDEN_ACTIVATIONS",
    "OUTPUT_ACTIVATIONS",
    "Network",
    "NetworkModel",
    "OutputHead",
    "apply_activation",
    "chunk_rows",
    "forward_pass",
    "pointwise_errors",
    "predictions",
    "row_keys",
    "score_name",
    "seen_rows",
    "split_held_out",
]
