"""Neuron-level (structured) compression: remove whole hidden neurons (beyond the paper).

Removing a hidden neuron removes its column of its layer (weights and bias)
and its row of the next layer: the compressed network's layers are narrower
and stay dense, so the fastest kernel (dense BLAS) runs on fewer numbers.
Edge-level sparsity at the same parameter count needs sparse kernels, which
beat dense BLAS only at low densities.

Neurons are ranked by a score and every hidden layer keeps the same fraction
of its neurons, the largest fraction whose dense parameter count fits the
budget (``widths="uniform"``), or as many as the error measured on the
calibration points gives it (``widths="error"``, see
:func:`~._reconstruction.allocate_widths`). The default score is a neuron's empirical sensitivity, its largest
relative contribution to a neuron of the next layer over the calibration
points (Provable Filter Pruning, Liebenwein, Baykal, Lang, Feldman and Rus,
ICLR 2020): the largest CoreNet sensitivity among its outgoing edges. The
least-squares re-fit of the kept weights (``reweight="lstsq"``) then repairs
what the removal breaks, layer by layer. ``score="reconstruction"`` (method
"neurons-thinet") chooses the neurons for that re-fit directly: greedily,
those from which it best reconstructs the next layer's input (ThiNet, Luo
et al. 2017; see :mod:`~._reconstruction`).
"""

import warnings
from dataclasses import replace

import numpy as np

from ._base import SelectionMethod
from ._reconstruction import activation_grams, allocate_widths, greedy_selection
from ._wanda import input_power

#: Scores a neuron can be ranked by; "reconstruction" chooses them greedily
#: (see :mod:`sklearn_corenet.methods._reconstruction`).
NEURON_SCORES = ("sensitivity", "activation", "norm", "reconstruction")

#: How the budget is split over the hidden layers.
NEURON_WIDTHS = ("uniform", "error")

#: widths="error" measures a layer's error curve up to this many times its uniform width.
WIDEST_FACTOR = 4


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
    score : {"sensitivity", "activation", "norm", "reconstruction"}, default="sensitivity"
        How neurons are ranked (see :func:`neuron_scores`). "reconstruction"
        chooses them greedily, as ThiNet (Luo et al. 2017): each hidden
        layer keeps the neurons from which the least-squares re-fit best
        reconstructs the pre-activations of the next layer's kept neurons
        on the calibration points (see :func:`greedy_selection`), the last
        hidden layer first.
    edges : SelectionMethod, default=None
        Structured, then sparse: after the neurons are removed, this method
        keeps ``budget`` edges of the narrowed network. None keeps every
        edge of the kept neurons (structured only: fastest).
    edge_density : float, default=1.0
        With ``edges``: the narrowed network holds ``budget / edge_density``
        parameters, of which ``edges`` keeps ``budget``.
    widths : {"uniform", "error"}, default="uniform"
        How many neurons each hidden layer keeps. "uniform": the same
        fraction of every hidden layer (:func:`narrowed_widths`). "error":
        by the error measured on the calibration points: for every hidden
        layer, the relative residual of the least-squares reconstruction of
        the next layer's pre-activations from its first k neurons (in the
        order of ``score``), for k up to four times its uniform width; then
        the budget goes, a few neurons at a time, to the layer whose error
        falls most per parameter (:func:`allocate_widths`).

    References
    ----------
    Luo, J.-H., Wu, J. and Lin, W. "ThiNet: A filter level pruning method
    for deep neural network compression", ICCV 2017.
    """

    in_paper = False
    structured = True
    default_reweight = "lstsq"

    def __init__(self, name, score="sensitivity", edges=None, edge_density=1.0, widths="uniform"):
        if score not in NEURON_SCORES:
            raise ValueError(f"score must be one of {NEURON_SCORES}; got {score!r}")
        if widths not in NEURON_WIDTHS:
            raise ValueError(f"widths must be one of {NEURON_WIDTHS}; got {widths!r}")
        if edges is not None and type(edges).choose is not SelectionMethod.choose:
            raise ValueError(
                f"edges={edges!r} chooses among rules by measuring them, which the edges of "
                "narrowed layers do not do; pass a rule that selects directly, e.g. ActivationMagnitude()"
            )
        self.name = name
        self.score = score
        self.edges = edges
        self.edge_density = edge_density
        self.widths = widths
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
        grams = orders = None
        if self.score == "reconstruction" or self.widths == "error":
            grams = activation_grams(network, problem.X, sample_weight=problem.sample_weight)
        if self.score != "reconstruction":
            # neurons already removed (never firing, CoreNet+) rank last
            orders = [
                np.argsort(-np.where(alive, score, -np.inf), kind="stable")
                for score, alive in zip(neuron_scores(problem, self.score), problem.active, strict=False)
            ]
        if self.widths == "error" and floor < dense_budget and widths != list(network.hidden_layer_sizes):
            widths = self._widths_by_error(problem, grams, orders, widths, dense_budget)
        if self.score == "reconstruction":
            orders = _greedy_orders(problem, grams, widths)
        kept = []
        for n_neurons, width, order in zip(network.hidden_layer_sizes, widths, orders, strict=True):
            mask = np.zeros(n_neurons, dtype=bool)
            mask[order[:width]] = True
            kept.append(mask)
        best = [int(order[0]) for order in orders]
        return [*kept, np.ones(network.n_outputs, dtype=bool)], best

    def _widths_by_error(self, problem, grams, orders, uniform, budget):
        """Widths by :func:`allocate_widths` on every hidden layer's error curve."""
        network = problem.network
        curves = []
        for layer, width in enumerate(uniform):
            n_neurons = network.hidden_layer_sizes[layer]
            longest = min(n_neurons, WIDEST_FACTOR * width)
            _, residuals = greedy_selection(
                grams[layer],
                problem.weights[layer + 1],
                longest,
                allowed=problem.active[layer],
                order=None if orders is None else orders[layer],
            )
            curves.append(residuals / residuals[0] if residuals[0] > 0 else np.zeros_like(residuals))
        return allocate_widths(network.n_features_in, curves, network.n_outputs, budget)

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


def _greedy_orders(problem, grams, widths):
    """Per hidden layer, the neurons chosen by :func:`greedy_selection`, last layer first.

    A layer's targets are the pre-activations of the next layer's kept
    neurons only (all outputs for the last hidden layer): the neurons
    removed there need not be reconstructed. Forward selection is not
    optimal, so the neurons of largest RMS activation × outgoing norm (the
    "activation" score, read from the same Gram matrix) are measured by the
    same residual and kept instead when they reconstruct better: the choice
    is never worse than that ranking's.
    """
    orders = [None] * len(widths)
    kept_next = np.ones(problem.network.n_outputs, dtype=bool)
    for layer in reversed(range(len(widths))):
        gram, alive = grams[layer], problem.active[layer]
        outgoing = problem.weights[layer + 1][:, kept_next]
        greedy, residuals = greedy_selection(gram, outgoing, widths[layer], allowed=alive)
        score = np.sqrt(np.diag(gram)[:-1]) * np.linalg.norm(problem.weights[layer + 1][:-1], axis=1)
        ranking = np.argsort(-np.where(alive, score, -np.inf), kind="stable")
        ranked, ranked_residuals = greedy_selection(gram, outgoing, widths[layer], order=ranking, allowed=alive)
        orders[layer] = ranked if ranked_residuals[-1] < residuals[-1] else greedy
        kept_next = np.zeros(gram.shape[0] - 1, dtype=bool)
        kept_next[orders[layer]] = True
    return orders
