"""Reading a user's model as a :class:`~sklearn_corenet.core.Network`.

The adapters are the only code that knows scikit-learn's MLP internals,
skorch or torch. :data:`ADAPTERS` lists them, asked in order;
:func:`network_of` reads any model the library takes, compressed ones
included. The torch readers (``_torch*``) import torch and are reached
only through the registry.
"""

from ._class_scores import ClassScores
from ._registry import (
    ADAPTERS,
    SUPPORTED_MODELS,
    Adapter,
    find_adapter,
    is_supported,
    network_from_model,
    network_of,
    unsupported_model_error,
)

__all__ = [
    "ADAPTERS",
    "SUPPORTED_MODELS",
    "Adapter",
    "ClassScores",
    "find_adapter",
    "is_supported",
    "network_from_model",
    "network_of",
    "unsupported_model_error",
]
