"""Compression methods: what ``CoreNetCompressor(method=...)`` can do.

The paper's sampling methods and baselines, the edge-selection methods
beyond it, and the registry of names. A method (see :mod:`sklearn_corenet.methods._base`) is
passed to the compressor by name (a registered method) or as an object.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.utils import gen_batches
from sklearn.utils._param_validation import StrOptions

from ..algorithm._sampling import matrix_plan, neuron_plan
from ..algorithm._sensitivity import sensitivity_row_sums
from ..core._network import chunk_rows
from ..core._validation import overflow_error
from ._base import Method, SamplingMethod, SelectionMethod
from ._neurons import NeuronPruning

__all__ = ["METHODS", "Method", "SamplingMethod", "SelectionMethod", "get_method", "register_method"]


class CoreNet(SamplingMethod):
    """Alg. 2 with empirical-sensitivity probabilities (CoreNet, CoreNet+, CoreNet++)."""

    needs_statistics = True
    theory_mode = True

    def __init__(self, name, prunes_dead_neurons=False, amplifies=False):
        self.name = name
        self.prunes_dead_neurons = prunes_dead_neurons
        self.amplifies = amplifies

    def scores(self, W, stats):
        """Importance of every edge: its empirical sensitivity (Alg. 2, line 2)."""
        return stats.sensitivity

    def allocation(self, scores, W, stats):
        """α per neuron and sign: the row sums S_i+ and S_i- (m_i ∝ S_i, Alg. 2, line 6)."""
        return sensitivity_row_sums(scores, W)

    def plans(self, problem, layer_scale):
        plans = []
        statistics = problem.statistics or [None] * len(problem.weights)
        layers = zip(problem.weights, statistics, problem.active, layer_scale, strict=True)
        for W, stats, alive, scale in layers:
            scores = self.scores(W, stats)
            allocation = self.allocation(scores, W, stats) * scale
            plans.append(neuron_plan(scores, np.sign(W), allocation, alive))
        return plans


class Uniform(CoreNet):
    """Alg. 2 with q uniform over each neuron's edges of one sign (Appendix B.1).

    Data-oblivious: each row's sample size is proportional to its number of
    edges.
    """

    needs_statistics = False
    theory_mode = False

    def __init__(self):
        super().__init__("uniform")

    def scores(self, W, stats):
        return (W != 0).astype(np.float64)


class MatrixSampling(SamplingMethod):
    """Entry-wise sampling over a whole layer (Appendix B.1).

    "l1": p ∝ |w| (Achlioptas et al. 2013); "l2": p ∝ w² (Drineas & Zouzias
    2011); "l1+l2": p = ½ (w²/‖W‖_F² + |w|/‖W‖₁) (Kundu & Drineas 2014). Each
    layer draws a number of entries proportional to its size.
    """

    def __init__(self, name):
        self.name = name

    def probabilities(self, W):
        magnitude = np.abs(W).astype(np.float64)
        if self.name == "l1":
            return magnitude
        if self.name == "l2":
            return magnitude**2
        l1 = magnitude / max(magnitude.sum(), 1e-300)
        l2 = magnitude**2 / max((magnitude**2).sum(), 1e-300)
        return (l1 + l2) / 2

    def plans(self, problem, layer_scale):
        return [
            matrix_plan(self.probabilities(W), W.size * scale)
            for W, scale in zip(problem.weights, layer_scale, strict=True)
        ]


class Magnitude(SelectionMethod):
    """Weight thresholding (Han et al. 2015): keep the largest |w| globally.

    Weights and biases of all layers are ranked together; kept entries keep
    their values (no reweighting).
    """

    name = "magnitude"

    def select(self, problem, budget):
        threshold, ties = global_magnitude_threshold(problem.weights, budget)
        layers = []
        for W in problem.weights:
            keep, ties = _above(W, threshold, ties)
            layers.append(np.where(keep, W, 0).astype(W.dtype, copy=False))
        return layers


def global_magnitude_threshold(weights, budget):
    """The smallest |w| kept among the ``budget`` largest over all layers, and
    how many weights of exactly that magnitude are kept.

    The budget keeps every weight above the threshold and the first
    ``ties`` of those equal to it, in layer order then row-major order.
    One copy of the magnitudes is partitioned in place: no index array.
    """
    size = sum(W.size for W in weights)
    budget = int(min(max(budget, 0), size))
    if budget == 0:
        return np.inf, 0
    # the non-zero magnitudes (the others rank last, in order)
    magnitudes = np.concatenate([np.abs(W[W != 0]) for W in weights])
    if budget > magnitudes.size:
        return magnitudes.dtype.type(0), budget - magnitudes.size
    magnitudes.partition(magnitudes.size - budget)
    threshold = magnitudes[magnitudes.size - budget]
    del magnitudes
    above = sum(int(np.count_nonzero(np.abs(W) > threshold)) for W in weights)
    return threshold, budget - above


def _above(W, threshold, ties):
    """Mask of the entries of W above ``threshold`` and its first ``ties``
    entries equal to it; the ties left for the next layers."""
    magnitude = np.abs(W)
    keep = magnitude > threshold
    if ties > 0:
        equal = np.flatnonzero(magnitude == threshold)[:ties]
        keep.ravel()[equal] = True
        ties -= equal.size
    return keep, ties


def global_magnitude_masks(weights, budget):
    """Masks keeping the ``budget`` largest |w| over all layers together
    (ties at the threshold: the first in layer order, then row-major order)."""
    threshold, ties = global_magnitude_threshold(weights, budget)
    masks = []
    for W in weights:
        keep, ties = _above(W, threshold, ties)
        masks.append(keep)
    return masks


def global_magnitude_counts(weights, budget):
    """How many of the ``budget`` largest |w| over all layers each layer holds."""
    threshold, ties = global_magnitude_threshold(weights, budget)
    counts = []
    for W in weights:
        above = int(np.count_nonzero(np.abs(W) > threshold))
        equal = min(ties, int(np.count_nonzero(np.abs(W) == threshold)))
        counts.append(above + equal)
        ties -= equal
    return counts


def input_power(network, X, working_memory=None):
    """Mean square of every input of every layer over ``X`` (bias input last).

    One chunked forward pass of the original network.
    """
    # a chunk's activations of every layer at once, and a product
    widths = sum(W.shape[0] for W in network.coefs) + max(W.shape[1] for W in network.coefs)
    rows = chunk_rows(2 * widths * 8, X.shape[0], working_memory)
    sums = [np.zeros(W.shape[0] + 1) for W in network.coefs]
    for batch in gen_batches(X.shape[0], rows):
        for layer, A in enumerate(network.hidden_activations(X[batch])):
            with np.errstate(over="ignore"):
                if sp.issparse(A):
                    sums[layer][:-1] += np.asarray(A.multiply(A).sum(axis=0)).ravel()
                else:
                    sums[layer][:-1] += np.einsum("ij,ij->j", A, A)
            if not np.isfinite(sums[layer]).all():
                raise overflow_error("the mean squares of the inputs", A, batch.start, layer)
            sums[layer][-1] += A.shape[0]
    return [total / X.shape[0] for total in sums]


class ActivationMagnitude(SelectionMethod):
    """Keep the edges with the largest |w_ij| · ‖a_j‖ (beyond the paper).

    A deterministic rule: an edge's importance is its weight times the
    root-mean-square of its input over the calibration points, its typical
    contribution to the neuron (the score of Wanda, Sun et al. 2023). The
    budget is split across layers as global magnitude pruning splits it
    (with at least 16 edges per output neuron, see :func:`output_floor`),
    then each layer keeps its highest-scoring edges.

    Why this rule (measured on MNIST 784-300-300-10, see "Choosing a method"
    in the docs): the empirical sensitivity is a *maximum* over points of a
    relative contribution, dominated by points where a weak edge meets a
    near-zero sum, so as a ranking it keeps many edges that matter on one
    point only; the RMS-weighted magnitude ranks by typical contribution and
    drops inputs that are rarely active (MNIST's border pixels). Ranking it
    globally across layers starves the first layer, while the layer split of
    global magnitude pruning is the best of the splits we measured
    (uniform per layer, global by score, global by normalised score).
    """

    name = "wanda"
    in_paper = False
    reweights = ("lstsq", "none")

    def select(self, problem, budget):
        weights, active = problem.weights, problem.active
        power = input_power(problem.network, problem.X)
        counts = output_floor(global_magnitude_counts(weights, budget), weights)
        # a layer cannot keep more non-zero weights than its active neurons have
        capacity = [int(np.count_nonzero(W[:, alive])) for W, alive in zip(weights, active, strict=True)]
        counts = within_capacity(counts, capacity)
        layers = []
        for index, (W, count, p, alive) in enumerate(zip(weights, counts, power, active, strict=True)):
            # one layer's scores at a time, computed in place
            score = np.abs(W, dtype=np.float64)
            score *= np.sqrt(p)[:, np.newaxis]
            score *= alive[np.newaxis, :]
            per_neuron = OUTPUT_EDGES_PER_NEURON if index == len(weights) - 1 else 0
            keep = top_edges(score, count, per_neuron)
            del score
            if problem.weights_owned:  # this draw's arrays: pruned in place
                W[~keep] = 0
                layers.append(W)
            else:
                layers.append(np.where(keep, W, 0).astype(W.dtype, copy=False))
        return layers


#: Edges every output neuron keeps under "wanda" (when the budget allows).
OUTPUT_EDGES_PER_NEURON = 16


def output_floor(counts, weights, per_neuron=OUTPUT_EDGES_PER_NEURON):
    """Per-layer edge counts with up to ``per_neuron`` edges per output neuron.

    At small budgets global magnitude pruning's layer split leaves the output
    layer a handful of edges (34 for the 10 classes of a 784-500-350-200-10
    MNIST network at 2% kept): a class reached by 1-3 edges from neurons
    that rarely fire is lost, one-shot and after fine-tuning. The output
    layer is raised to ``per_neuron`` edges per neuron, but never beyond an
    equal share of the budget (the total over the number of layers); the
    edges come from the other layers in proportion to their counts.
    """
    counts = np.asarray(counts, dtype=np.int64)
    if counts.size < 2:
        return counts.tolist()
    n_in1, n_out = weights[-1].shape
    target = min(min(per_neuron, n_in1) * n_out, int(counts.sum()) // counts.size)
    deficit = target - int(counts[-1])
    if deficit > 0:
        others = counts[:-1]
        take = np.floor(deficit * others / others.sum()).astype(np.int64)
        # the remainder from the largest layers, one edge each
        take[np.argsort(-others, kind="stable")[: deficit - int(take.sum())]] += 1
        counts = np.append(others - take, counts[-1] + deficit)
    return counts.tolist()


def within_capacity(counts, capacity):
    """Per-layer counts no larger than what each layer can keep, same total.

    A layer asked for more edges than it has (neurons removed, zero weights)
    hands the rest to the layers with room, in proportion to their room; the
    total is kept while there is room.
    """
    counts = np.asarray(counts, dtype=np.int64)
    capacity = np.asarray(capacity, dtype=np.int64)
    excess = int(np.maximum(counts - capacity, 0).sum())
    counts = np.minimum(counts, capacity)
    while excess > 0:
        room = capacity - counts
        if room.sum() == 0:
            break
        give = np.minimum(np.floor(excess * room / room.sum()).astype(np.int64), room)
        if give.sum() == 0:  # the last few edges, one per layer with room
            give = np.zeros_like(room)
            give[np.flatnonzero(room)[:excess]] = 1
        counts += give
        excess -= int(give.sum())
    return counts.tolist()


def top_edges(score, count, per_neuron=0):
    """Mask of the ``count`` highest-scoring edges of a layer.

    With ``per_neuron``, every neuron first keeps its ``per_neuron`` best
    edges of non-zero score (fewer when ``count`` cannot cover them all).
    """
    keep = np.zeros(score.size, dtype=bool)
    if count <= 0:
        return keep.reshape(score.shape)
    key = score.astype(np.float64, copy=True)
    per_neuron = min(per_neuron, count // score.shape[1], score.shape[0])
    if per_neuron > 0:
        best = np.argpartition(-score, per_neuron - 1, axis=0)[:per_neuron]
        columns = np.broadcast_to(np.arange(score.shape[1]), best.shape)
        boost = np.where(score[best, columns] > 0, float(key.max()) + 1.0, 0.0)
        key[best, columns] += boost
    # the count-th largest key, from a partitioned copy (no index array);
    # ties at it are kept in row-major order
    flat = key.ravel()
    count = min(count, flat.size)
    threshold = np.partition(flat, flat.size - count)[flat.size - count]
    keep = flat > threshold
    ties = count - int(np.count_nonzero(keep))
    keep[np.flatnonzero(flat == threshold)[:ties]] = True
    return keep.reshape(score.shape)


METHODS = {}


def register_method(method):
    """Make ``method`` available as ``CoreNetCompressor(method=method.name)``.

    Parameters
    ----------
    method : SamplingMethod or SelectionMethod
        The method object; its ``name`` must be a new, non-empty string.

    Returns
    -------
    method
        The same object, so that the call can decorate an instance.
    """
    if not isinstance(method, (SamplingMethod, SelectionMethod)):
        raise TypeError(
            f"register_method takes a SamplingMethod or SelectionMethod instance; got {method!r}"
        )
    if not isinstance(method.name, str) or not method.name or method.name == "auto":
        raise ValueError(f"a method needs a name other than 'auto'; got {method.name!r}")
    METHODS[method.name] = method
    return method


for _method in (
    CoreNet("corenet"),
    CoreNet("corenet+", prunes_dead_neurons=True),
    CoreNet("corenet++", prunes_dead_neurons=True, amplifies=True),
    Uniform(),
    MatrixSampling("l1"),
    MatrixSampling("l2"),
    MatrixSampling("l1+l2"),
    Magnitude(),
    ActivationMagnitude(),
    NeuronPruning("neurons"),
    NeuronPruning("neurons-activation", score="activation"),
    NeuronPruning("neuron-norm", score="norm"),
    NeuronPruning("neurons+wanda", edges=ActivationMagnitude(), edge_density=0.5),
):
    register_method(_method)


def get_method(method):
    """The method object for ``method``: a registered name or a method object."""
    if isinstance(method, (SamplingMethod, SelectionMethod)):
        return method
    name = method
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(
            f"unknown method {name!r}; valid methods: {', '.join(sorted(METHODS))}"
        ) from None


class MethodOption(StrOptions):
    """Parameter constraint of ``method``: "auto", a registered name or a method object.

    The registry is read when a value is checked, so methods registered after
    import are accepted. (A :class:`StrOptions` so that scikit-learn's
    parameter validation takes it.)
    """

    def __init__(self):
        super().__init__({"auto"})

    def is_satisfied_by(self, val):
        if isinstance(val, (SamplingMethod, SelectionMethod)):
            return True
        return isinstance(val, str) and (val == "auto" or val in METHODS)

    def __str__(self):
        names = ", ".join(repr(name) for name in ["auto", *sorted(METHODS)])
        return f"a str among {{{names}}} or a SamplingMethod or SelectionMethod instance"
