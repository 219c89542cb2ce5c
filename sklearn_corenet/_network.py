"""The library's plain representation of a fully-connected network.

Model adapters (scikit-learn, skorch, torch) translate a trained model into a
:class:`Network`; the algorithm modules only ever see this object and plain
arrays. Weight matrices use scikit-learn's orientation: ``coefs[l]`` has shape
``(n_in, n_out)`` and a layer computes ``a @ coefs[l] + intercepts[l]``.
"""

from dataclasses import dataclass, field, replace

import numpy as np
from scipy.special import expit, softmax

HIDDEN_ACTIVATIONS = ("relu", "identity", "tanh", "logistic")
OUTPUT_ACTIVATIONS = ("identity", "softmax", "logistic", "exp", "log_softmax")
HEAD_KINDS = ("regression", "binary", "multiclass", "multilabel")


def apply_activation(name, Z):
    """Apply activation ``name`` to ``Z`` in place and return it."""
    if name == "relu":
        np.maximum(Z, 0, out=Z)
    elif name == "tanh":
        np.tanh(Z, out=Z)
    elif name == "logistic":
        Z[...] = expit(Z)
    elif name == "exp":
        np.exp(Z, out=Z)
    elif name == "softmax":
        Z[...] = softmax(Z, axis=1)
    elif name == "log_softmax":
        Z -= Z.max(axis=1, keepdims=True)
        Z -= np.log(np.exp(Z).sum(axis=1, keepdims=True))
    elif name != "identity":
        raise ValueError(f"unknown activation {name!r}")
    return Z


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


@dataclass
class Network:
    """A trained fully-connected network as plain arrays.

    Parameters
    ----------
    coefs : list of ndarray of shape (n_in, n_out)
        Weight matrices, first layer first.
    intercepts : list of ndarray of shape (n_out,)
        Bias vectors.
    activation : str
        Hidden activation, one of ``HIDDEN_ACTIVATIONS``.
    out_activation : str
        Output activation, one of ``OUTPUT_ACTIVATIONS``. For classifiers this
        maps the last layer's values to probabilities (``log_softmax`` to
        log-probabilities).
    head : OutputHead
        Prediction semantics.
    feature_names_in : ndarray of str or None
        Feature names seen by the original model.
    source : str
        A short description of the original model (for messages).
    extra : dict
        Adapter-specific information carried to the compressed estimator
        (for example what ``to_skorch`` needs).
    """

    coefs: list
    intercepts: list
    activation: str = "relu"
    out_activation: str = "identity"
    head: OutputHead = field(default_factory=lambda: OutputHead("regression"))
    feature_names_in: np.ndarray | None = None
    source: str = ""
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if len(self.coefs) == 0 or len(self.coefs) != len(self.intercepts):
            raise ValueError("a network needs as many bias vectors as weight matrices")
        for i, (W, b) in enumerate(zip(self.coefs, self.intercepts, strict=True)):
            if W.ndim != 2 or b.shape != (W.shape[1],):
                raise ValueError(
                    f"layer {i}: weight shape {W.shape} and bias shape {b.shape} "
                    "do not fit together"
                )
            if i and W.shape[0] != self.coefs[i - 1].shape[1]:
                raise ValueError(
                    f"layer {i} takes {W.shape[0]} inputs but layer {i - 1} "
                    f"has {self.coefs[i - 1].shape[1]} outputs"
                )
        if self.activation not in HIDDEN_ACTIVATIONS:
            raise TypeError(
                f"hidden activation {self.activation!r} is not supported; "
                f"supported: {', '.join(HIDDEN_ACTIVATIONS)}"
            )
        if self.out_activation not in OUTPUT_ACTIVATIONS:
            raise TypeError(
                f"output activation {self.out_activation!r} is not supported; "
                f"supported: {', '.join(OUTPUT_ACTIVATIONS)}"
            )

    @property
    def n_layers(self):
        """Number of weight layers (the paper's L - 1)."""
        return len(self.coefs)

    @property
    def n_features_in(self):
        return self.coefs[0].shape[0]

    @property
    def n_outputs(self):
        return self.coefs[-1].shape[1]

    @property
    def hidden_layer_sizes(self):
        return tuple(W.shape[1] for W in self.coefs[:-1])

    @property
    def dtype(self):
        return self.coefs[0].dtype

    @property
    def n_params(self):
        """Number of weights and biases of all layers."""
        return sum(W.size + b.size for W, b in zip(self.coefs, self.intercepts, strict=True))

    def copy(self, **changes):
        """A deep copy of the arrays, with ``changes`` applied."""
        copied = replace(
            self,
            coefs=[np.array(W, copy=True) for W in self.coefs],
            intercepts=[np.array(b, copy=True) for b in self.intercepts],
            extra=dict(self.extra),
        )
        return replace(copied, **changes) if changes else copied

    def hidden_activations(self, X):
        """Activations feeding each weight layer.

        Returns a list whose entry ``l`` is the input of weight layer ``l``
        (``X`` itself for ``l = 0``), of shape (n_samples, n_in of layer l).
        """
        activations = [X]
        A = X
        for W, b in zip(self.coefs[:-1], self.intercepts[:-1], strict=True):
            A = apply_activation(self.activation, A @ W + b)
            activations.append(A)
        return activations

    def decision(self, X):
        """Last layer's values before the output activation."""
        A = X
        last = self.n_layers - 1
        for i, (W, b) in enumerate(zip(self.coefs, self.intercepts, strict=True)):
            A = A @ W + b
            if i != last:
                apply_activation(self.activation, A)
        return A

    def forward(self, X):
        """Network output after the output activation."""
        return apply_activation(self.out_activation, self.decision(X))
