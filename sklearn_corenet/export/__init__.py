"""A compressed network in other libraries' terms.

:func:`sparse_to_sklearn` makes a fitted scikit-learn MLP of it; the torch
and skorch exports (``_torch``) import torch and are called by the
estimators' ``to_torch`` and ``to_skorch``.
"""

from ._sklearn import sparse_to_sklearn

__all__ = ["sparse_to_sklearn"]
