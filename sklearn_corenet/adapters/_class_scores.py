"""Saying that a bare torch module's outputs are class scores.

A torch module has no prediction semantics of its own: one that ends with a
softmax or a sigmoid is read as a classifier, one that returns logits as a
regressor. :class:`ClassScores` wraps a module to say what its outputs are;
the compressor (and every function that takes a model) then reads it as a
classifier with the given labels. This module does not import torch.
"""

from dataclasses import dataclass
from numbers import Real

import numpy as np


@dataclass(frozen=True)
class ClassScores:
    """A torch module whose outputs are class scores (logits or probabilities).

    Pass it wherever the library takes a model (``CoreNetCompressor.fit``,
    ``network_output``, ``compression_curve``, ...): the module is read as a
    classifier instead of a regressor.

    Parameters
    ----------
    module : torch.nn.Module
        The network. Its outputs are logits, or probabilities when it ends
        with a softmax, log-softmax or sigmoid.
    classes : array-like, default=None
        The labels ``predict`` returns, one per output (two for a module
        with a single output). None: ``0 .. n_outputs - 1`` (``[0, 1]`` for
        one output).
    multilabel : bool, default=False
        Every output is a separate yes/no label (a sigmoid per output)
        rather than one class among all outputs (a softmax). A module with
        one output is binary either way.
    threshold : float, default=0.5
        Probability above which a binary or multilabel output is positive.

    See Also
    --------
    CoreNetCompressor : Compresses the wrapped module.

    Notes
    -----
    The compressed model applies the softmax (or sigmoid) after the
    module's last layer, so its ``predict_proba`` returns probabilities and
    ``to_torch(include_output_activation=False)`` the logits.

    Examples
    --------
    >>> import torch
    >>> from sklearn_corenet import ClassScores, CoreNetCompressor
    >>> module = torch.nn.Sequential(
    ...     torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)
    ... ).double()
    >>> X = torch.randn(200, 4, generator=torch.Generator().manual_seed(0)).double().numpy()
    >>> scores = ClassScores(module, classes=["setosa", "versicolor", "virginica"])
    >>> sparse = CoreNetCompressor(keep_ratio=0.5, random_state=0).fit_transform(scores, X)
    >>> sparse.classes_.tolist()
    ['setosa', 'versicolor', 'virginica']
    >>> sparse.predict_proba(X[:2]).shape
    (2, 3)
    """

    module: object
    classes: object = None
    multilabel: bool = False
    threshold: float = 0.5

    def __post_init__(self):
        if not (isinstance(self.threshold, Real) and 0 < self.threshold < 1):
            raise ValueError(f"threshold must be in (0, 1); got {self.threshold!r}")
        if self.classes is not None and np.ndim(self.classes) != 1:
            raise ValueError("classes must be a one-dimensional array of labels")
