"""Reweighting rules: the values of the kept edges.

Every rule has one signature, ``rule(network, layers, X, *, ridge)``: the
original network, the sparsified layers (weights with the bias row), the
calibration points, and returns the layers with their final values. The
paper's rule ("unbiased") and keeping the original values ("none") are set
when the edges are chosen, so they return the layers as they are.

Least-squares re-fit (beyond the paper). The paper reweights a sampled edge by ``count / (m q)``, which makes every
neuron an unbiased estimate of the original. Once the edges are chosen, the
calibration data can do better: each neuron's kept weights are re-fitted so
that the compressed layer reproduces the original pre-activations on the
calibration points, with the already compressed earlier layers feeding it
(errors of earlier layers are corrected, not accumulated). A ridge term pulls
the weights towards their starting values, which keeps every fit finite and
stable when there are few points.
"""

import textwrap
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.utils import gen_batches
from sklearn.utils._param_validation import StrOptions

from ..core._activations import apply_activation
from ..core._memo import memoized
from ..core._network import augment, chunk_rows
from ..core._validation import overflow_error
from ._lstsq_solve import _solve_neurons

#: Default ridge strength, relative to the mean squared input of a neuron's
#: kept edges (a scale-free choice).
DEFAULT_RIDGE = 1e-3


def _dense_rows(X, batch):
    """Rows ``batch`` of X as a dense float64 array."""
    rows = X[batch]
    return np.asarray(rows.toarray() if sp.issparse(rows) else rows, dtype=np.float64)


def _affine(inputs, W_aug, rows=None, columns=None):
    """``augment(inputs) @ W_aug[:, columns]`` without the augmented copy.

    ``rows``, when given, are the only inputs (bias excluded) whose weights
    are not all zero: the product reads only them (a sparsified layer).
    """
    if columns is not None:
        W_aug = W_aug[:, columns]
    values = inputs @ W_aug[:-1] if rows is None else inputs[:, rows] @ W_aug[rows]
    values += W_aug[-1]
    return values


def _layer_inputs(X, batch, fitted, originals, reads, activation):
    """The compressed and the original inputs of layer ``len(reads)`` for rows
    ``batch`` of X, computed through the layers before it (the compressed ones
    as re-fitted, reading the inputs ``reads`` of each)."""
    compressed = original = _dense_rows(X, batch)
    for earlier, rows in enumerate(reads):
        compressed = apply_activation(activation, _affine(compressed, fitted[earlier], rows))
        original = apply_activation(activation, _affine(original, originals[earlier]))
    return compressed, original


def _accumulate(gram, cross, inputs, target, first_row, layer, weight=None):
    """Add a chunk's Gram matrix of the (augmented, compressed) ``inputs`` and
    their cross product with the original pre-activations ``target`` to the
    sums (None before the first chunk); return the sums. ``weight``, the
    chunk's sample weights, counts each row that many times (weighted least
    squares).

    Raises a ValueError naming the calibration row whose values overflow
    them (inputs whose squares are beyond the range of float64).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        weighted = inputs if weight is None else inputs * weight[:, np.newaxis]
        if gram is None:  # the first chunk's products are the sums so far
            gram, cross = weighted.T @ inputs, weighted.T @ target
        else:
            gram += weighted.T @ inputs
            cross += weighted.T @ target
        if not (np.isfinite(gram).all() and np.isfinite(cross).all()):
            values = np.hstack([inputs, target])
            raise overflow_error("the least-squares re-fit (reweight='lstsq')", values, first_row, layer)
    return gram, cross


def _block(rows, columns):
    """The index of the block ``rows`` × ``columns`` of a matrix (None: all)."""
    if rows is None:
        return slice(None), columns
    return (rows,) if columns is None else np.ix_(rows, columns)


def _kept_indices(mask, axis):
    """Indices along ``axis`` of ``mask`` with a kept edge, None when all have one."""
    kept = np.flatnonzero(mask.any(axis=1 - axis))
    return None if kept.size == mask.shape[axis] else kept


def lstsq_reweight(
    network, layers, X, *, ridge=DEFAULT_RIDGE, working_memory=None, overwrite=False, sample_weight=None
):
    """Re-fit the kept weights of every layer by regularised least squares.

    Parameters
    ----------
    network : Network
        The original network.
    layers : list of ndarray of shape (n_in + 1, n_out)
        Sparsified weights with the bias as last row; their non-zeros are the
        kept edges and the starting point of the fit. Columns that are all
        zero (removed neurons) stay zero.
    X : {ndarray, sparse matrix} of shape (n_points, n_features)
        Calibration points (densified a chunk of rows at a time).
    ridge : float, default=1e-3
        Ridge strength relative to the mean squared kept input of a neuron.
    working_memory : int, default=None
        Memory budget in MiB for chunks (scikit-learn's setting when None).
    overwrite : bool, default=False
        Re-fit the arrays of ``layers`` themselves (writable arrays the
        caller hands over) instead of copies.
    sample_weight : ndarray of shape (n_points,), default=None
        Weights of the calibration points, as repetitions: a point of weight
        2 counts as two copies of it (weighted least squares).

    Returns
    -------
    list of ndarray
        Re-fitted weights, same shapes and non-zero pattern as ``layers``,
        in their dtype.

    Notes
    -----
    When one chunk of ``working_memory`` holds every calibration row and
    the original's pre-activations of every layer, those are computed first
    (once per scope of :func:`~sklearn_corenet.core._memo.memoizing`: the
    measuring rules re-fit the same network on the same rows many times) and
    the compressed inputs are carried from layer to layer; otherwise each
    chunk's inputs are computed again from X through the layers before it,
    so that memory stays within ``working_memory`` whatever the number of
    rows.

    Per layer, the products are the original pre-activations (the targets,
    and through the activation the next layer's original inputs), the Gram
    matrix of the compressed inputs that have kept edges and its product
    with the targets, and the compressed layer's outputs, which read only
    those inputs. The neurons' systems are then solved in batches of
    similar widths (``algorithm/_lstsq_solve.py``).
    """
    fitted = list(layers) if overwrite else [np.array(W, copy=True) for W in layers]
    needed = max(int(np.count_nonzero(W, axis=0).max()) for W in layers) + 1
    if X.shape[0] < needed:
        warnings.warn(
            f"the least-squares re-fit has {X.shape[0]} calibration points for "
            f"neurons with up to {needed - 1} kept edges; {needed} or more give a "
            "stable fit (the ridge term keeps it finite)",
            UserWarning,
            stacklevel=4,  # the caller of CoreNetCompressor.transform
        )
    originals = network.augmented_weights()
    widest = max(max(W.shape) for W in originals)
    # a chunk's rows of X, both inputs, their augmented copies, the targets and a product
    rows = chunk_rows(8 * widest * 8, X.shape[0], working_memory)
    batches = list(gen_batches(X.shape[0], rows))
    reads = []  # per re-fitted layer, its inputs with kept edges (None: all)
    carried = targets = None
    # every row's original pre-activations of every layer at once, when they fit
    widths = sum(W.shape[1] for W in originals)
    # (within half of working_memory: a measuring rule keeps them while it re-fits)
    if len(batches) == 1 and chunk_rows(16 * (widths + 8 * widest), X.shape[0], working_memory) >= X.shape[0]:
        # the same for every re-fit of this network on these rows (a measuring rule re-fits many times)
        carried, targets = memoized(
            "lstsq targets", (network, X), lambda: _original_targets(X, batches[0], originals, network.activation)
        )
    for layer, weights in enumerate(fitted):
        mask = weights != 0
        # the fit reads only the inputs and neurons with kept edges: a layer
        # that keeps few of them (structured compression) solves a smaller problem
        inputs, neurons = _kept_indices(mask, 0), _kept_indices(mask, 1)
        gram = cross = None
        for batch in batches:
            if targets is not None:
                compressed = carried
                target = targets[layer] if neurons is None else targets[layer][:, neurons]
            else:
                compressed, original = _layer_inputs(X, batch, fitted, originals, reads, network.activation)
                target = _affine(original, originals[layer], columns=neurons)
                del original
            augmented = augment(compressed)
            weight = None if sample_weight is None else sample_weight[batch]
            gram, cross = _accumulate(
                gram,
                cross,
                augmented if inputs is None else augmented[:, inputs],
                target,
                batch.start,
                layer,
                weight,
            )
            del augmented, target
        if inputs is None and neurons is None:
            _solve_neurons(gram, cross, weights, mask, ridge, working_memory)
        else:
            block = _block(inputs, neurons)
            part = weights[block]
            _solve_neurons(gram, cross, part, mask[block], ridge, working_memory)
            weights[block] = part
        del gram, cross, mask
        reads.append(None if inputs is None else inputs[inputs < weights.shape[0] - 1])
        if targets is not None and layer + 1 < len(fitted):
            carried = apply_activation(network.activation, _affine(compressed, weights, reads[-1]))
    return fitted


def _original_targets(X, batch, originals, activation):
    """Rows ``batch`` of X (dense) and the original network's pre-activations of every layer on them."""
    rows = _dense_rows(X, batch)
    targets, inputs = [], rows
    for index, W in enumerate(originals):
        targets.append(_affine(inputs, W))
        if index + 1 < len(originals):
            inputs = apply_activation(activation, targets[-1].copy())
    return rows, targets


def keep_values(network, layers, X, *, ridge=DEFAULT_RIDGE, overwrite=False, sample_weight=None):
    """The kept edges at the values they were chosen with ("unbiased", "none")."""
    return layers


@dataclass(frozen=True)
class ReweightRule:
    """A reweighting rule and where it applies.

    Parameters
    ----------
    function : callable
        ``function(network, layers, X, *, ridge, overwrite, sample_weight)``:
        the layers with
        their final values. :func:`keep_values` for rules set when the edges
        are chosen.
    sampling : bool
        Whether sampling methods may use it.
    selection : bool
        Whether selection (deterministic) methods may use it.
    description : str
        What it does, for the ``reweight`` parameter's documentation.
    """

    function: Callable
    sampling: bool
    selection: bool
    description: str

    @property
    def refits(self):
        """Whether the rule changes the values the edges were chosen with."""
        return self.function is not keep_values


#: The reweighting rules by name: ``CoreNetCompressor(reweight=...)`` accepts
#: these (and "auto"), each method the ones of its kind, and the parameter's
#: documentation lists them. A new rule is one function and one entry here.
REWEIGHT_RULES = {
    "unbiased": ReweightRule(
        keep_values,
        sampling=True,
        selection=False,
        description="the paper's count / (m q) (sampling methods)",
    ),
    "none": ReweightRule(
        keep_values,
        sampling=False,
        selection=True,
        description="the original values (deterministic methods)",
    ),
    "lstsq": ReweightRule(
        lstsq_reweight,
        sampling=True,
        selection=True,
        description=(
            "(beyond the paper) each neuron's kept weights are re-fitted by "
            "ridge-regularised least squares so that the compressed layer "
            "reproduces the original pre-activations on the calibration points, "
            "layer by layer with the compressed earlier layers feeding it"
        ),
    ),
}


class ReweightOption(StrOptions):
    """Parameter constraint of ``reweight``: "auto" or a rule of :data:`REWEIGHT_RULES`.

    The registry is read when a value is checked, so a rule added after
    import is accepted (a :class:`StrOptions` so that scikit-learn's
    parameter validation takes it).
    """

    def __init__(self):
        super().__init__({"auto"})

    def is_satisfied_by(self, val):
        return isinstance(val, str) and (val == "auto" or val in REWEIGHT_RULES)

    def __str__(self):
        names = ", ".join(repr(name) for name in ["auto", *REWEIGHT_RULES])
        return f"a str among {{{names}}}"


def rules_for(sampling):
    """Names of the rules that sampling (True) or selection (False) methods may use."""
    return tuple(
        name for name, rule in REWEIGHT_RULES.items() if (rule.sampling if sampling else rule.selection)
    )


def reweight_doc():
    """The ``reweight`` entry of the compressor's parameter documentation."""
    names = ", ".join(f'"{name}"' for name in ["auto", *REWEIGHT_RULES])
    entries = [
        "Values of the kept weights.",
        *(f'"{name}": {rule.description}.' for name, rule in REWEIGHT_RULES.items()),
        "\"auto\": the method's own rule (\"lstsq\" for \"wanda\").",
    ]
    body = textwrap.fill(" ".join(entries), width=76, initial_indent="    ", subsequent_indent="    ")
    return f"reweight : {{{names}}}, default=\"auto\"\n{body}"
