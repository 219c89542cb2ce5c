"""The output head: what a network's last layer means (labels, probabilities or values).

A :class:`~sklearn_corenet.core._network.Network` ends in an :class:`OutputHead`;
:func:`predictions` turns its last layer's values into what ``predict`` returns,
as every model the library reads or builds predicts."""

from dataclasses import dataclass

import numpy as np

from ._activations import apply_activation


def predictions(network, decision):
    """What the network's ``predict`` returns, from its last layer's values.

    As the compressed estimators predict: class labels from the output head
    (multiclass argmax, binary and multilabel thresholds), the output after
    the output activation for regressors.
    """
    head = network.head
    if head.kind == "regression":
        values = apply_activation(network.out_activation, np.array(decision, dtype=np.float64))
        return values.ravel() if values.shape[1] == 1 else values
    if head.kind == "multiclass":
        return head.classes[np.argmax(decision, axis=1)]
    output = apply_activation(network.out_activation, np.array(decision, dtype=np.float64))
    if head.kind == "multilabel":
        return (output > head.threshold).astype(int)
    if len(head.classes) == 1:
        return np.repeat(head.classes, output.shape[0])
    return head.classes[(output.ravel() > head.threshold).astype(int)]


def probabilities(network, decision):
    """What the classifier's ``predict_proba`` returns, from its last layer's values.

    Softmax outputs as they are (log-softmax exponentiated); a single
    logistic output as the two columns ``1 - p`` and ``p``; several
    logistic outputs (multilabel) one probability per label. None for a
    regressor.
    """
    if network.head.kind == "regression":
        return None
    activation = "softmax" if network.out_activation == "log_softmax" else network.out_activation
    output = apply_activation(activation, np.array(decision, dtype=np.float64))
    if output.shape[1] == 1:
        return np.hstack([1 - output, output])
    return output


def score_name(network):
    """The score of a network's ``score`` method: "accuracy" or "r2"."""
    return "r2" if network.head.kind == "regression" else "accuracy"


HEAD_KINDS = ("regression", "binary", "multiclass", "multilabel")


@dataclass
class OutputHead:
    """How the network's output becomes predictions.

    Parameters
    ----------
    kind : {"regression", "binary", "multiclass", "multilabel"}
        The prediction semantics.
    classes : ndarray or None
        Class labels returned by ``predict`` (``None`` for regression). For a
        multilabel head, the label indices.
    threshold : float
        Probability above which a binary or multilabel output is positive.
    """

    kind: str
    classes: np.ndarray | None = None
    threshold: float = 0.5

    def __post_init__(self):
        if self.kind not in HEAD_KINDS:
            raise ValueError(f"unknown head kind {self.kind!r}")
