"""How the selection methods spend a layer's budget: per-layer edge counts, the output layer's floor and the top edges by score."""

import numpy as np

#: Edges every output neuron keeps under "wanda" (when the budget allows).
OUTPUT_EDGES_PER_NEURON = 16

#: Largest share of the budget a dense output layer may take under
#: ``output_layer="dense-if-cheap"``: of 0.1, 0.25 and 0.5, measured with
#: ``benchmarks/output_layer.py``, the one that lost least on average at 2-5%
#: kept, and never more than 0.1 point more than a smaller share in any cell.
DENSE_OUTPUT_SHARE = 0.5


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
    return _raise_output_layer(counts, target)


def dense_output_if_cheap(counts, weights, share=DENSE_OUTPUT_SHARE, per_neuron=OUTPUT_EDGES_PER_NEURON):
    """Per-layer edge counts that keep the output layer whole when it is cheap.

    When the output layer's parameters (weights and biases) are at most
    ``share`` of the budget (the sum of ``counts``), it keeps all of them,
    the edges taken from the other layers in proportion to their counts;
    otherwise :func:`output_floor` applies. Every prediction goes through the
    output layer, and global magnitude pruning's split can leave it a few
    percent of its weights while it is a small part of the network: on a
    784-1000-1000-1000-10 MNIST network at 5% kept, 3.1% of its weights for
    7.2% of the budget; dense, the one-shot accuracy drop with the
    least-squares re-fit fell from 5.8 to 0.9 points
    (``benchmarks/results/output_layer.md``).
    """
    counts = np.asarray(counts, dtype=np.int64)
    if counts.size < 2:
        return counts.tolist()
    size = weights[-1].size
    if size <= share * int(counts.sum()):
        return _raise_output_layer(counts, size)
    return output_floor(counts, weights, per_neuron)


def _raise_output_layer(counts, target):
    """``counts`` with the output layer raised to ``target`` edges (never
    lowered), the edges taken from the other layers in proportion to their
    counts; the total is unchanged."""
    deficit = target - int(counts[-1])
    if deficit <= 0:
        return counts.tolist()
    others = counts[:-1]
    take = np.floor(deficit * others / others.sum()).astype(np.int64)
    # the remainder from the largest layers, one edge each
    take[np.argsort(-others, kind="stable")[: deficit - int(take.sum())]] += 1
    return np.append(others - take, counts[-1] + deficit).tolist()


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
