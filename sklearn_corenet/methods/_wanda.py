"""Wanda (Sun et al., 2024): an edge's importance is its weight's magnitude times the norm of its input over the calibration points."""

import numpy as np
import scipy.sparse as sp
from sklearn.utils import gen_batches

from ..core._network import chunk_rows
from ..core._validation import overflow_error
from ._base import SelectionMethod
from ._budget import OUTPUT_EDGES_PER_NEURON, output_floor, top_edges, within_capacity
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
    default_reweight = "lstsq"

    def select(self, problem, budget):
        weights, active = problem.weights, problem.active
        power = input_power(problem.network, problem.X, sample_weight=problem.sample_weight)
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
