"""Neuron-level (structured) compression: remove whole hidden neurons (beyond the paper).

Removing a hidden neuron removes its column of its layer (weights and bias)
and its row of the next layer: the compressed network's layers are narrower
and stay dense, so the fastest kernel (dense BLAS) runs on fewer numbers.
Edge-level sparsity at the same parameter count needs sparse kernels, which
beat dense BLAS only at low densities.

Neurons are ranked by a score and every hidden layer keeps the same fraction
of its neurons, the largest fraction whose dense parameter count fits the
budget. The default score is a neuron's empirical sensitivity, its largest
relative contribution to a neuron of the next layer over the calibration
points (Provable Filter Pruning, Liebenwein, Baykal, Lang, Feldman and Rus,
ICLR 2020): the largest CoreNet sensitivity among its outgoing edges. The
least-squares re-fit of the kept weights (``reweight="lstsq"``) then repairs
what the removal breaks, layer by layer.
"""

import warnings
from dataclasses import replace

import numpy as np

from ._base import SelectionMethod
from ._wanda import input_power

#: Scores a neuron can be ranked by.
NEURON_SCORES = ("sensitivity", "activation", "norm")


def dense_parameters(n_features, hidden_widths, n_outputs):
    """Weights and biases of a dense network with these widths."""
    widths = [n_features, *hidden_widths, n_outputs]
    return int(sum((n_in + 1) * n_out for n_in, n_out in zip(widths[:-1], widths[1:], strict=True)))


def narrowed_widths(n_features, hidden_widths, n_outputs, budget):
    """Hidden widths that keep one fraction of every hidden layer within ``budget``.

    Every hidden layer keeps ``max(1, round(r · width))`` neurons for the
    largest fraction r whose dense parameter count is at most ``budget``
    (at least one neuron per layer, whatever the budget).
    """
    hidden_widths = np.asarray(hidden_widths, dtype=np.int64)

    def widths_at(fraction):
        return np.maximum(1, np.round(fraction * hidden_widths)).astype(np.int64)

    if dense_parameters(n_features, hidden_widths, n_outputs) <= budget:
        return hidden_widths.tolist()
    low, high = 0.0, 1.0
    for _ in range(60):  # bisection to well below one neuron of the widest layer
        middle = (low + high) / 2
        if dense_parameters(n_features, widths_at(middle), n_outputs) <= budget:
            low = middle
        else:
            high = middle
    return widths_at(low).tolist()


def neuron_scores(problem, score):
    """Importance of every hidden neuron, one array per hidden layer.

    "sensitivity": the largest empirical sensitivity among the neuron's
    outgoing edges (needs the calibration statistics); "activation": the
    root-mean-square of its activation over the calibration points times the
    ℓ2 norm of its outgoing weights (its typical contribution to the next
    layer); "norm": the ℓ2 norm of its incoming weights, bias and outgoing
    weights together (the group magnitude of Torch-Pruning).
    """
    weights = problem.weights
    scores = []
    if score == "activation":
        # the mean square of each hidden neuron is that of an input of the next layer
        power = input_power(problem.network, problem.X, sample_weight=problem.sample_weight)[1:]
    for layer in range(len(weights) - 1):
        outgoing = weights[layer + 1][:-1]
        if score == "sensitivity":
            scores.append(problem.statistics[layer + 1].sensitivity[:-1].max(axis=1))
        elif score == "activation":
            rms = np.sqrt(power[layer][:-1])
            scores.append(rms * np.linalg.norm(outgoing, axis=1))
        else:
            incoming = weights[layer]
            scores.append(np.sqrt(np.square(incoming).sum(axis=0) + np.square(outgoing).sum(axis=1)))
    return scores


class NeuronPruning(SelectionMethod):
    """Keep the highest-scoring hidden neurons; narrower dense layers (beyond the paper).

    Parameters
    ----------
    name : str
        The name the method is registered under.
    score : {"sensitivity", "activation", "norm"}, default="sensitivity"
        How neurons are ranked (see :func:`neuron_scores`).
    edges : SelectionMethod, default=None
        Structured, then sparse: after the neurons are removed, this method
        keeps ``budget`` edges of the narrowed network. None keeps every
        edge of the kept neurons (structured only: fastest).
    edge_density : float, default=1.0
        With ``edges``: the narrowed network holds ``budget / edge_density``
        parameters, of which ``edges`` keeps ``budget``.
    """

    in_paper = False
    structured = True
    default_reweight = "lstsq"

    def __init__(self, name, score="sensitivity", edges=None, edge_density=1.0):
        if score not in NEURON_SCORES:
            raise ValueError(f"score must be one of {NEURON_SCORES}; got {score!r}")
        self.name = name
        self.score = score
        self.edges = edges
        self.edge_density = edge_density
        self.needs_statistics = score == "sensitivity"

    def kept_neurons(self, problem, budget):
        """Per layer, a mask of the neurons kept (the output layer keeps all)."""
        return self._ranked_neurons(problem, budget)[0]

    def _ranked_neurons(self, problem, budget):
        """The masks of :meth:`kept_neurons`, and every hidden layer's best neuron."""
        network = problem.network
        if network.n_layers < 2:
            raise ValueError(
                f"method={self.name!r} removes hidden neurons, but the network has no "
                "hidden layer; compress it with an edge method such as 'wanda'"
            )
        dense_budget = budget if self.edges is None else budget / self.edge_density
        widths = narrowed_widths(
            network.n_features_in, network.hidden_layer_sizes, network.n_outputs, dense_budget
        )
        floor = dense_parameters(network.n_features_in, [1] * len(widths), network.n_outputs)
        # with an edge method, select says what is kept once the edges are chosen
        if dense_budget < floor and self.edges is None:
            warnings.warn(
                f"a budget of {budget} parameters is below one neuron per hidden layer "
                f"for method={self.name!r}; the compressed network keeps {floor}",
                UserWarning,
                stacklevel=5,
            )
        kept, best = [], []
        for width, score, alive in zip(widths, neuron_scores(problem, self.score), problem.active, strict=False):
            mask = np.zeros(score.size, dtype=bool)
            # neurons already removed (never firing, CoreNet+) rank last
            order = np.argsort(-np.where(alive, score, -np.inf), kind="stable")
            mask[order[:width]] = True
            kept.append(mask)
            best.append(int(order[0]))
        return [*kept, np.ones(network.n_outputs, dtype=bool)], best

    def select(self, problem, budget):
        kept, best = self._ranked_neurons(problem, budget)
        layers = []
        for layer, (W, mask) in enumerate(zip(problem.weights, kept, strict=True)):
            rows = np.append(kept[layer - 1], True) if layer else np.ones(W.shape[0], dtype=bool)
            layers.append(np.where(rows[:, np.newaxis] & mask[np.newaxis, :], W, 0).astype(W.dtype, copy=False))
        if self.edges is None:
            return layers
        # the edge method may overwrite the narrowed layers (this draw's own):
        # a hidden layer it empties takes its best neuron back from a copy
        narrowed = replace(problem, weights=layers, active=kept, weights_owned=True)
        restore = {
            layer: (neuron, layers[layer][:, neuron].copy(), layers[layer + 1][neuron].copy())
            for layer, neuron in enumerate(best)
        }
        del layers
        selected = self.edges.select(narrowed, budget)
        emptied = _restore_emptied_layers(selected, restore, kept)
        active = self.neurons_kept(selected, problem)
        nnz = _nonzeros_kept(selected, active)
        if emptied or nnz > budget:
            widths = tuple(int(alive.sum()) for alive in active[:-1])
            if emptied:
                many = len(emptied) > 1
                what = (
                    f"leaves no neuron of hidden layer{'s' if many else ''} "
                    f"{', '.join(str(layer + 1) for layer in emptied)} with both an incoming weight "
                    "(or a bias) and an outgoing weight, so the best neuron of "
                    f"{'each' if many else 'that layer'} is kept with its incoming and outgoing weights: "
                )
            else:
                what = "is too small for its edges: "
            warnings.warn(
                f"a budget of {budget} parameters for method={self.name!r} {what}the compressed "
                f"network keeps {nnz} parameters, in hidden layers of {widths} neurons. Keep more "
                "parameters (a larger keep_ratio).",
                UserWarning,
                stacklevel=4,
            )
        return selected

    def neurons_kept(self, layers, problem):
        """A neuron whose column (weights and bias) is all zero is removed."""
        return [np.any(W != 0, axis=0) & alive for W, alive in zip(layers, problem.active, strict=True)]



def _restore_emptied_layers(layers, restore, kept):
    """Give back its best neuron to every hidden layer left with no neuron on a path.

    A hidden neuron is on a path when it has an incoming weight or a bias,
    and an outgoing weight. ``restore`` maps each hidden layer to its best
    neuron, with that neuron's column (incoming weights and bias) and
    outgoing row as the structured step kept them; ``layers`` are updated
    in place. Returns the hidden layers restored.
    """
    emptied = []
    for layer, (neuron, column, row) in restore.items():
        fed = np.any(layers[layer] != 0, axis=0) & kept[layer]
        if np.any(layers[layer + 1][:-1][fed] != 0):
            continue
        layers[layer][:, neuron] = column
        layers[layer + 1][neuron] = row
        emptied.append(layer)
    return emptied


def _nonzeros_kept(layers, active):
    """Non-zero weights and biases once the neurons not ``active`` are removed."""
    total, inputs = 0, np.ones(layers[0].shape[0] - 1, dtype=bool)
    for W, alive in zip(layers, active, strict=True):
        rows = np.append(inputs, True)
        total += int(np.count_nonzero(W[np.ix_(rows, alive)]))
        inputs = alive
    return total
