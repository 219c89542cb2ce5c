"""The library's plain representation of a fully-connected network.

Model adapters (scikit-learn, skorch, torch) translate a trained model into a
:class:`Network`; the algorithm modules only ever see this object and plain
arrays. Weight matrices use scikit-learn's orientation: ``coefs[l]`` has shape
``(n_in, n_out)`` and a layer computes ``a @ coefs[l] + intercepts[l]``.
"""

from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp
from sklearn import get_config
from sklearn.utils import gen_batches

from ._activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS, apply_activation
from ._head import OutputHead


def chunk_rows(row_bytes, n_rows, working_memory=None):
    """How many rows of ``row_bytes`` bytes fit in ``working_memory`` MiB.

    ``working_memory`` defaults to scikit-learn's global setting. At least one
    row is always returned, at most ``n_rows``.
    """
    if working_memory is None:
        working_memory = get_config()["working_memory"]
    fitting = int(working_memory * 2**20 // max(row_bytes, 1))
    return int(min(max(fitting, 1), max(n_rows, 1)))


def layer_product(A, W):
    """``A @ W`` as a dense array, for dense or ``scipy.sparse`` ``A`` and ``W``."""
    if sp.issparse(A) and sp.issparse(W):
        return (A @ W).toarray()
    if sp.issparse(W):
        # (Wᵀ Aᵀ)ᵀ: scipy's fastest product of a sparse matrix and few dense rows
        return np.asarray(W.T @ A.T).T
    return np.asarray(A @ W)


def stack_layers(coefs, intercepts, dtype=None):
    """Copy every layer's weights and bias into one array of shape (n_in + 1, n_out).

    Returns the weights and the biases as views of those arrays (the bias is
    the last row), so that :meth:`Network.augmented_weights` hands out the
    stacked arrays themselves instead of a second copy of the model.

    Parameters
    ----------
    coefs, intercepts : list of ndarray
        Weights of shape (n_in, n_out) and biases of shape (n_out,).
    dtype : dtype, default=None
        The stacked arrays' dtype; that of each layer's weights and bias
        together when None.
    """
    stacked_coefs, stacked_intercepts = [], []
    for W, b in zip(coefs, intercepts, strict=True):
        stacked = np.empty((W.shape[0] + 1, W.shape[1]), dtype=dtype or np.result_type(W, b))
        stacked[:-1] = W
        stacked[-1] = b
        stacked_coefs.append(stacked[:-1])
        stacked_intercepts.append(stacked[-1])
    return stacked_coefs, stacked_intercepts


def stacked_array(W, b):
    """The array whose rows are ``W`` and then ``b`` (see :func:`stack_layers`), or None."""
    base = W.base
    if not (
        isinstance(base, np.ndarray)
        and isinstance(b, np.ndarray)
        and b.base is base
        and base.ndim == 2
        and base.flags.c_contiguous
        and base.shape == (W.shape[0] + 1, W.shape[1])
    ):
        return None
    if (
        W.ctypes.data != base.ctypes.data
        or b.ctypes.data != base[-1].ctypes.data
        or W.strides != base.strides
        or b.strides != base.strides[1:]
    ):
        return None
    return base


def augment(A):
    """``A`` with a column of ones appended: the input of a bias row."""
    return np.hstack([A, np.ones((A.shape[0], 1), dtype=A.dtype)])


def forward_pass(X, coefs, intercepts, activation, *, product=None, keep_inputs=False, hidden_only=False):
    """The forward pass of a fully-connected network: every stage uses this one.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Input rows.
    coefs : list of {ndarray, sparse array} of shape (n_in, n_out)
        Weight matrices, first layer first.
    intercepts : list of ndarray of shape (n_out,)
        Bias vectors.
    activation : str
        Hidden activation (applied after every layer but the last).
    product : callable, default=None
        ``product(A, layer)`` computes ``A @ coefs[layer]``; a caller with
        faster kernels for some layers passes its own. :func:`layer_product`
        when None.
    keep_inputs : bool, default=False
        Also return the input of every layer.
    hidden_only : bool, default=False
        Every layer given is a hidden layer (the activation follows each):
        with ``keep_inputs``, the inputs then end with the last layer's
        activation.

    Returns
    -------
    values : ndarray of shape (n_samples, n_outputs)
        The last layer's values before the output activation.
    inputs : list of ndarray
        Only with ``keep_inputs``: entry ``l`` is the input of layer ``l``
        (``X`` itself for ``l = 0``).
    """
    if product is None:
        def product(A, layer):
            return layer_product(A, coefs[layer])

    inputs = [X]
    A = X
    last = len(coefs) if hidden_only else len(coefs) - 1
    for layer, b in enumerate(intercepts):
        A = product(A, layer)
        A += b
        if layer != last:
            apply_activation(activation, A)
            if keep_inputs:
                inputs.append(A)
    return (A, inputs) if keep_inputs else A


def chunked(X, function, n_outputs, row_bytes, working_memory=None):
    """``function(X)`` evaluated on row chunks that fit ``working_memory``.

    ``function`` maps rows to an array of shape (n_rows, n_outputs);
    ``row_bytes`` is the memory one row takes while it is evaluated.
    """
    rows = chunk_rows(row_bytes, X.shape[0], working_memory)
    if X.shape[0] <= rows:
        return function(X)
    out = None
    for batch in gen_batches(X.shape[0], rows):
        part = function(X[batch])
        if out is None:
            out = np.empty((X.shape[0], n_outputs), dtype=part.dtype)
        out[batch] = part
    return out


class NetworkModel:
    """Base of the fitted models that hold a :class:`Network` of their own.

    :func:`~sklearn_corenet.adapters.network_of` reads such a model with its
    :meth:`to_network`, so that code below the compressed estimators reads
    them without importing them.
    """

    def to_network(self):
        """The model as a :class:`Network` (arrays copied)."""
        raise NotImplementedError


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

    @property
    def widest(self):
        """The largest layer width, inputs included."""
        return max([self.n_features_in, *(W.shape[1] for W in self.coefs)])

    def augmented_weights(self):
        """Every layer's weights with its bias stacked as last row, (n_in + 1, n_out).

        Layers made by :func:`stack_layers` are returned without a copy, as
        read-only views; the others are stacked into new arrays.
        """
        layers = []
        for W, b in zip(self.coefs, self.intercepts, strict=True):
            stacked = stacked_array(W, b)
            if stacked is None:
                stacked = np.vstack([W, b[np.newaxis, :]])
            else:
                stacked = stacked.view()
                stacked.flags.writeable = False
            layers.append(stacked)
        return layers

    @property
    def is_stacked(self):
        """Whether every layer is stored as one array with its bias (see :func:`stack_layers`)."""
        return all(stacked_array(W, b) is not None for W, b in zip(self.coefs, self.intercepts, strict=True))

    def hidden_activations(self, X):
        """Activations feeding each weight layer.

        Returns a list whose entry ``l`` is the input of weight layer ``l``
        (``X`` itself for ``l = 0``), of shape (n_samples, n_in of layer l).
        """
        return forward_pass(
            X, self.coefs[:-1], self.intercepts[:-1], self.activation, keep_inputs=True, hidden_only=True
        )[1]

    def decision(self, X, working_memory=None):
        """Last layer's values before the output activation, in row chunks."""
        return chunked(
            X,
            lambda rows: forward_pass(rows, self.coefs, self.intercepts, self.activation),
            self.n_outputs,
            3 * self.widest * 8,
            working_memory,
        )

    def forward(self, X, working_memory=None):
        """Network output after the output activation."""
        return apply_activation(self.out_activation, self.decision(X, working_memory))

