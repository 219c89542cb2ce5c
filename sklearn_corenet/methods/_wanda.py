"""Wanda (Sun et al., 2024): an edge's importance is its weight's magnitude times the norm of its input over the calibration points."""

import numpy as np
import scipy.sparse as sp
from sklearn.utils import gen_batches

from ..core._memo import memoized
from ..core._network import chunk_rows
from ..core._validation import overflow_error
from ._base import SelectionMethod
from ._budget import (
    DENSE_OUTPUT_SHARE,
    OUTPUT_EDGES_PER_NEURON,
    dense_output_if_cheap,
    output_floor,
    top_edges,
    within_capacity,
)
from ._magnitude import global_magnitude_counts


def input_power(network, X, working_memory=None, sample_weight=None):
    """Mean square of every input of every layer over ``X`` (bias input last).

    One chunked forward pass of the original network. ``sample_weight``
    weighs the rows as repetitions (a weighted mean).
    """
    # a chunk's activations of every layer at once, and a product
    widths = sum(W.shape[0] for W in network.coefs) + max(W.shape[1] for W in network.coefs)
    rows = chunk_rows(2 * widths * 8, X.shape[0], working_memory)
    sums = [np.zeros(W.shape[0] + 1) for W in network.coefs]
    for batch in gen_batches(X.shape[0], rows):
        weight = None if sample_weight is None else sample_weight[batch]
        for layer, A in enumerate(network.hidden_activations(X[batch])):
            with np.errstate(over="ignore"):
                if weight is not None:
                    squares = A.multiply(A).T @ weight if sp.issparse(A) else np.einsum("ij,ij,i->j", A, A, weight)
                    sums[layer][:-1] += np.asarray(squares).ravel()
                elif sp.issparse(A):
                    sums[layer][:-1] += np.asarray(A.multiply(A).sum(axis=0)).ravel()
                else:
                    sums[layer][:-1] += np.einsum("ij,ij->j", A, A)
            if not np.isfinite(sums[layer]).all():
                raise overflow_error("the mean squares of the inputs", A, batch.start, layer)
            sums[layer][-1] += A.shape[0] if weight is None else weight.sum()
    total_weight = X.shape[0] if sample_weight is None else sample_weight.sum()
    return [total / total_weight for total in sums]


class ActivationMagnitude(SelectionMethod):
    """Keep the edges with the largest |w_ij| · ‖a_j‖ (beyond the paper).

    A deterministic rule: an edge's importance is its weight times the
    root-mean-square of its input over the calibration points, its typical
    contribution to the neuron (the score of Wanda, Sun et al. 2023). The
    budget is split across layers as global magnitude pruning splits it,
    with a floor of edges for the output layer or, on request, a dense output
    layer where it is cheap (``output_layer``); then each layer keeps its
    highest-scoring edges.

    Why this rule (measured on MNIST 784-300-300-10, see "Choosing a method"
    in the docs): the empirical sensitivity is a *maximum* over points of a
    relative contribution, dominated by points where a weak edge meets a
    near-zero sum, so as a ranking it keeps many edges that matter on one
    point only; the RMS-weighted magnitude ranks by typical contribution and
    drops inputs that are rarely active (MNIST's border pixels). Ranking it
    globally across layers starves the first layer, while the layer split of
    global magnitude pruning is the best of the splits we measured
    (uniform per layer, global by score, global by normalised score).

    Parameters
    ----------
    output_layer : {"floor", "dense-if-cheap"}, default="floor"
        The output layer's budget. Every prediction goes through the output
        layer, and at small budgets global magnitude pruning's split can
        leave it a few edges per output neuron.

        - "floor": the split of global magnitude pruning with at least 16
          edges per output neuron, never more than an equal share of the
          budget (see :func:`output_floor`); what ``method="wanda"`` and
          ``method="auto"`` do.
        - "dense-if-cheap": the output layer keeps all its weights and biases
          when they are at most ``dense_output_share`` of the budget (the
          other layers give up those edges in proportion to their counts),
          otherwise as "floor" (see :func:`dense_output_if_cheap`).

        Measured one-shot with the least-squares re-fit, 2-20% kept, 12
        networks (``python -m benchmarks.output_layer --large --seeds 0 1 2``,
        results in ``benchmarks/results/output_layer.md``), "dense-if-cheap"
        lost 4.8 points less on average at 2-5% and much less where the floor
        starves the output layer (MNIST 784-1000-1000-1000-10: 3.2 against
        17.8 points at 2%, 0.9 against 5.8 at 5%), but 0.9 points more on one
        40-256-256-256-10 network at 20% kept, where the split already keeps
        half the output layer and the re-fit had 1,000 calibration points
        (with 3,000 it lost less there too); so it is not the default. With
        the re-fit, a dense output layer needs more calibration points than
        the last hidden layer has neurons, or the re-fit warns (its ridge
        term keeps the fit finite).
    dense_output_share : float, default=0.5
        With "dense-if-cheap": the largest share of the budget, in (0, 1],
        that a dense output layer may take.
    score : {"activation", "magnitude"}, default="activation"
        How a layer ranks its edges: "activation" by |w_ij| · ‖a_j‖ (Wanda),
        "magnitude" by |w_ij| alone (then, with the same layer split, the
        edges of global magnitude pruning, plus the output layer's floor).
        With the least-squares re-fit, magnitude ranks better on some
        networks (``benchmarks/results/selection_ablation.md``);
        ``method="auto"`` measures which (:class:`~._measured.MeasuredChoice`).

    Examples
    --------
    >>> from sklearn_corenet import CoreNetCompressor
    >>> from sklearn_corenet.methods import ActivationMagnitude
    >>> method = ActivationMagnitude(output_layer="dense-if-cheap")
    >>> method
    ActivationMagnitude('wanda', output_layer='dense-if-cheap')
    >>> compressor = CoreNetCompressor(keep_ratio=0.05, method=method)
    """

    name = "wanda"
    in_paper = False
    default_reweight = "lstsq"

    #: Rules for the output layer's budget (``output_layer``).
    OUTPUT_LAYER_RULES = ("floor", "dense-if-cheap")

    #: How edges are ranked within a layer (``score``).
    SCORES = ("activation", "magnitude")

    def __init__(self, output_layer="floor", dense_output_share=DENSE_OUTPUT_SHARE, score="activation"):
        if output_layer not in self.OUTPUT_LAYER_RULES:
            raise ValueError(f"output_layer must be one of {self.OUTPUT_LAYER_RULES}; got {output_layer!r}")
        if not 0 < dense_output_share <= 1:
            raise ValueError(f"dense_output_share must be in (0, 1]; got {dense_output_share!r}")
        if score not in self.SCORES:
            raise ValueError(f"score must be one of {self.SCORES}; got {score!r}")
        self.output_layer = output_layer
        self.dense_output_share = dense_output_share
        self.score = score

    def layer_counts(self, weights, budget):
        """How many edges each layer keeps out of ``budget`` (before capacities)."""
        counts = global_magnitude_counts(weights, budget)
        if self.output_layer == "floor":
            return output_floor(counts, weights)
        return dense_output_if_cheap(counts, weights, self.dense_output_share)

    def __repr__(self):
        options = []
        if self.output_layer != "floor":
            options.append(f"output_layer={self.output_layer!r}")
        if self.dense_output_share != DENSE_OUTPUT_SHARE:
            options.append(f"dense_output_share={self.dense_output_share!r}")
        if self.score != "activation":
            options.append(f"score={self.score!r}")
        return f"{type(self).__name__}({', '.join([repr(self.name), *options])})"

    def select(self, problem, budget):
        weights, active = problem.weights, problem.active
        if self.score == "activation":
            # the same for every rule a measuring rule compares on these rows
            power = memoized(
                "input power",
                (problem.network, problem.X, problem.sample_weight),
                lambda: input_power(problem.network, problem.X, sample_weight=problem.sample_weight),
            )
        else:
            power = [None] * len(weights)
        counts = self.layer_counts(weights, budget)
        # a layer cannot keep more non-zero weights than its active neurons have
        capacity = [int(np.count_nonzero(W[:, alive])) for W, alive in zip(weights, active, strict=True)]
        counts = within_capacity(counts, capacity)
        layers = []
        for index, (W, count, p, alive) in enumerate(zip(weights, counts, power, active, strict=True)):
            # one layer's scores at a time, computed in place
            score = np.abs(W, dtype=np.float64)
            if p is not None:
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
