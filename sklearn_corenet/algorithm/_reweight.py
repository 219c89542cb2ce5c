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

from ..core._network import augment, chunk_rows, forward_pass
from ..core._validation import overflow_error

#: Default ridge strength, relative to the mean squared input of a neuron's
#: kept edges (a scale-free choice).
DEFAULT_RIDGE = 1e-3


def _dense_rows(X, batch):
    """Rows ``batch`` of X as a dense float64 array."""
    rows = X[batch]
    return np.asarray(rows.toarray() if sp.issparse(rows) else rows, dtype=np.float64)


def _advance(inputs, W_aug, activation):
    """The activations of the layer ``W_aug`` for the rows ``inputs``."""
    return forward_pass(inputs, [W_aug[:-1]], [W_aug[-1]], activation, hidden_only=True)


def _layer_inputs(X, batch, fitted, originals, layer, activation):
    """The compressed and the original inputs of ``layer`` for rows ``batch``
    of X, computed through the layers before it (the compressed ones as
    re-fitted)."""
    compressed = original = _dense_rows(X, batch)
    for earlier in range(layer):
        compressed = _advance(compressed, fitted[earlier], activation)
        original = _advance(original, originals[earlier], activation)
    return compressed, original


def _accumulate(gram, cross, compressed, original, original_layer, first_row, layer, kept=None, weight=None):
    """Add a chunk's Gram matrix of the compressed inputs and their cross
    product with the original pre-activations (None before the first chunk);
    return the sums. ``kept``, (inputs, neurons), restricts both to those
    inputs (the bias last) and neurons. ``weight``, the chunk's sample
    weights, counts each row that many times (weighted least squares).

    Raises a ValueError naming the calibration row whose values overflow
    them (inputs whose squares are beyond the range of float64).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        inputs = augment(compressed)
        target = augment(original) @ original_layer
        if kept is not None:
            inputs, target = inputs[:, kept[0]], target[:, kept[1]]
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


def _solve(system, rhs):
    """``solve(system, rhs)``, or the least-norm solution of a singular system.

    With ``ridge=0`` a neuron with fewer calibration points than kept edges
    has a singular system; its pseudo-inverse solution is finite.
    """
    try:
        return np.linalg.solve(system, rhs)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(system, hermitian=True) @ rhs


def _solve_shared_masks(gram, cross, weights, mask, ridge, diagonal):
    """Solve together the neurons that keep the same edges; return the others' mask.

    Neurons with one kept set K share their system (A_Kᵀ A_K + λ I, with the
    same λ since it scales with the mean kept diagonal): one factorisation
    serves them all. Whole kept neurons of structured compression share
    every layer's system. The solutions replace the neurons' kept weights,
    which are their starting values.
    """
    keys = np.packbits(mask, axis=0).T
    _, group_of, sizes = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    group_of = group_of.ravel()
    alone = sizes[group_of] < 2
    for group in np.flatnonzero(sizes >= 2):
        neurons = np.flatnonzero(group_of == group)
        kept = np.flatnonzero(mask[:, neurons[0]])
        if kept.size == 0:
            continue
        scale = diagonal[kept].sum() / kept.size
        strength = ridge * (scale if scale > 0 else 1.0)
        system = gram[np.ix_(kept, kept)]
        system[np.diag_indices_from(system)] += strength
        rhs = cross[np.ix_(kept, neurons)] + strength * weights[np.ix_(kept, neurons)]
        weights[np.ix_(kept, neurons)] = _solve(system, rhs)
    return alone


def _solve_neurons(gram, cross, weights, mask, ridge, working_memory):
    """Per neuron k: argmin_w ‖A_K w − z_k‖² + λ_k ‖w − w0_K‖² over kept edges K.

    ``weights`` holds the starting values w0 and receives the solutions (in
    place, its dtype). Neurons that keep the same edges share one solve;
    the others are solved in batches of similar kept counts (sorted by
    count, so little padding): their kept index sets are padded to the
    batch's longest, padded slots get an identity row so that they solve
    to 0.
    """
    n_in, n_out = mask.shape
    counts = mask.sum(axis=0)
    if n_out == 0 or counts.max() == 0:
        return
    diagonal = np.diag(gram)
    alone = _solve_shared_masks(gram, cross, weights, mask, ridge, diagonal)
    counts = np.where(alone, counts, 0)
    by_count = np.argsort(-counts, kind="stable")
    by_count = by_count[counts[by_count] > 0]
    first = 0
    while first < by_count.size:
        width = int(counts[by_count[first]])
        size = chunk_rows(3 * width * width * 8, by_count.size - first, working_memory)
        neurons = by_count[first : first + size]
        first += size
        valid = np.arange(width)[np.newaxis, :] < counts[neurons, np.newaxis]
        # kept input indices of every neuron, kept ones first (stable order);
        # padded slots are edges not kept, their rows and columns zeroed
        index = np.argsort(~mask[:, neurons], axis=0, kind="stable").T[:, :width]
        system = gram[index[:, :, np.newaxis], index[:, np.newaxis, :]]
        np.copyto(system, 0.0, where=~(valid[:, :, np.newaxis] & valid[:, np.newaxis, :]))
        kept_diagonal = np.where(valid, diagonal[index], 0)
        scale = kept_diagonal.sum(axis=1) / np.maximum(valid.sum(axis=1), 1)
        strength = ridge * np.where(scale > 0, scale, 1.0)
        initial = weights[index, neurons[:, np.newaxis]]
        rhs = cross[index, neurons[:, np.newaxis]] + strength[:, np.newaxis] * initial
        rhs[~valid] = 0
        diagonal_slots = np.arange(width)
        system[:, diagonal_slots, diagonal_slots] += np.where(valid, strength[:, np.newaxis], 1.0)
        solution = _solve(system, rhs[:, :, np.newaxis])[:, :, 0]
        weights[index, neurons[:, np.newaxis]] = np.where(valid, solution, initial)


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
    The inputs of a layer, compressed and original, are carried from layer
    to layer when one chunk of ``working_memory`` holds every calibration
    row; otherwise each chunk's are computed again from X through the
    layers before it, so that memory stays within ``working_memory``
    whatever the number of rows.
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
    widest = max(W.shape[0] for W in originals)
    # a chunk's rows of X, both inputs, their augmented copies, the targets and a product
    rows = chunk_rows(8 * widest * 8, X.shape[0], working_memory)
    batches = list(gen_batches(X.shape[0], rows))
    carried = _layer_inputs(X, batches[0], fitted, originals, 0, network.activation) if len(batches) == 1 else None
    for layer, weights in enumerate(fitted):
        mask = weights != 0
        # the fit reads only the inputs and neurons with kept edges: a layer
        # that keeps few of them (structured compression) solves a smaller problem
        kept = (np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0)))
        if 2 * kept[0].size > mask.shape[0] and 2 * kept[1].size > mask.shape[1]:
            kept = None
        gram = cross = None
        for batch in batches:
            if carried is not None:
                compressed, original = carried
            else:
                compressed, original = _layer_inputs(X, batch, fitted, originals, layer, network.activation)
            weight = None if sample_weight is None else sample_weight[batch]
            gram, cross = _accumulate(
                gram, cross, compressed, original, originals[layer], batch.start, layer, kept, weight
            )
        if kept is None:
            _solve_neurons(gram, cross, weights, mask, ridge, working_memory)
        else:
            block = np.ix_(*kept)
            part = weights[block]
            _solve_neurons(gram, cross, part, mask[block], ridge, working_memory)
            weights[block] = part
        del gram, cross, mask
        if carried is not None and layer + 1 < len(fitted):
            compressed, original = carried
            carried = (
                _advance(compressed, weights, network.activation),
                _advance(original, originals[layer], network.activation),
            )
    return fitted


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
