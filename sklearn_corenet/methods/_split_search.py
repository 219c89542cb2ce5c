"""Layer budgets searched by measured error (beyond the paper).

A fixed rule for how many edges each layer keeps (global magnitude
pruning's split, with the output layer's floor) cannot know which layer the
network's output depends on most at a given budget. :class:`LayerSplitSearch`
measures it: the budget is handed out in rounds, each round to the layer
whose extra edges bring the compressed network closest to the original on
held-out calibration rows, the edges chosen and re-fitted as the compressor
does. It costs about ``rounds × n_layers`` compressions of three quarters of
the calibration rows.
"""

import warnings
from dataclasses import replace

import numpy as np

from ..algorithm._draw import remove_neurons
from ..core._head import probabilities
from ._base import SelectionMethod
from ._budget import within_capacity
from ._measured import MIN_HELD_OUT, _batches, _dense, _rows, held_out_rows
from ._wanda import ActivationMagnitude


class FixedSplit(ActivationMagnitude):
    """Wanda-style selection with given per-layer edge counts (what a search found)."""

    def __init__(self, counts, output_layer="floor", score="activation"):
        super().__init__(output_layer=output_layer, score=score)
        self.counts = [int(c) for c in counts]

    def layer_counts(self, weights, budget):
        counts = np.asarray(self.counts, dtype=np.int64)
        if counts.size != len(weights):
            raise ValueError(f"{len(self.counts)} layer counts for a network of {len(weights)} layers")
        # the total is the budget: a search's split is rescaled to it
        scaled = np.floor(counts * (budget / max(counts.sum(), 1))).astype(np.int64)
        scaled[np.argsort(-counts, kind="stable")[: budget - int(scaled.sum())]] += 1
        return scaled.tolist()

    def __repr__(self):
        options = [f"counts={self.counts!r}"]
        if self.score != "activation":
            options.append(f"score={self.score!r}")
        return f"{type(self).__name__}({', '.join(options)})"


def held_out_loss(network, compressed, X, sample_weight=None):
    """Mean distance of ``compressed`` from the original on rows ``X``, a chunk at a time.

    For classifiers the cross-entropy of the compressed probabilities
    against the original's (smooth in the weights, so that small
    differences between splits are seen), for regressors the mean squared
    difference of the outputs.
    """
    total = np.empty(X.shape[0])
    tiny = np.finfo(np.float64).tiny
    for batch in _batches(X):
        rows = _dense(X[batch])
        original, ours = network.decision(rows), compressed.decision(rows)
        p = probabilities(network, original)
        if p is None:
            total[batch] = np.mean((ours - original) ** 2, axis=1)
        else:
            q = probabilities(network, ours)
            total[batch] = -np.sum(p * np.log(np.maximum(q, tiny)), axis=1)
    return float(np.average(total, weights=sample_weight))


class LayerSplitSearch(SelectionMethod):
    """Search how many edges each layer keeps, by measured error (an option).

    Starting from half the budget split as ``base`` splits it, ``rounds``
    rounds each give ``budget / (2 · rounds)`` more edges to one layer: the
    one whose extra edges, chosen by ``base``'s score and re-fitted with the
    compressor's reweighting rule on about three quarters of the calibration
    rows, bring the network closest to the original on the other rows (the
    cross-entropy of the compressed network's probabilities against the
    original's; the squared error of the outputs for regressors). The split
    found then compresses with every row, unless ``base``'s own split of
    the budget is closer on the held-out rows. A layer never keeps more
    edges than it has.

    What it found is the ``selection`` field of the compressed model's
    ``compression_info_`` (a :class:`FixedSplit` with the counts).

    Parameters
    ----------
    name : str, default="wanda-search"
        The registered name.
    base : ActivationMagnitude, default=None
        The score, output-layer rule and starting split (``ActivationMagnitude()``
        when None).
    rounds : int, default=8
        Rounds of the search; the cost is about ``rounds × n_layers``
        compressions.
    held_out_every : int, default=4
        About one calibration row in ``held_out_every`` measures the error.
    """

    in_paper = False
    default_reweight = "lstsq"

    def __init__(self, name="wanda-search", base=None, rounds=8, held_out_every=4):
        base = ActivationMagnitude() if base is None else base
        if not isinstance(base, ActivationMagnitude):
            raise ValueError(f"base must be an ActivationMagnitude; got {base!r}")
        if not (isinstance(rounds, int) and rounds >= 1):
            raise ValueError(f"rounds must be a positive int; got {rounds!r}")
        if not (isinstance(held_out_every, int) and held_out_every >= 2):
            raise ValueError(f"held_out_every must be an int of at least 2; got {held_out_every!r}")
        self.name = name
        self.base = base
        self.rounds = rounds
        self.held_out_every = held_out_every

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r}, base={self.base!r}, rounds={self.rounds})"

    def select(self, problem, budget):
        """``base``'s selection (the compressor calls :meth:`choose` first)."""
        return self.base.select(problem, budget)

    def choose(self, problem, budget, refit):
        """A :class:`FixedSplit` with the per-layer counts the search found."""
        held = held_out_rows(problem.X, self.held_out_every)
        weights = problem.weights
        if len(weights) < 2 or np.count_nonzero(held) < MIN_HELD_OUT or np.count_nonzero(~held) < MIN_HELD_OUT:
            return self.base
        fit_rows, test_rows = np.flatnonzero(~held), np.flatnonzero(held)
        weight = problem.sample_weight
        fitting = replace(
            problem,
            X=_rows(problem.X, fit_rows),
            sample_weight=None if weight is None else weight[fit_rows],
            weights_owned=False,
        )
        X_test = _rows(problem.X, test_rows)
        test_weight = None if weight is None else weight[test_rows]
        capacity = np.array(
            [np.count_nonzero(W[:, alive]) for W, alive in zip(weights, problem.active, strict=True)]
        )
        start = np.array(within_capacity(self.base.layer_counts(weights, budget), capacity), dtype=np.int64)
        step = max(int(start.sum()) // (2 * self.rounds), 1)
        # half the budget as the base splits it, the other half by rounds
        counts = start // 2
        measured = {}
        context = (problem.network, fitting, X_test, test_weight, refit)
        for _ in range(self.rounds):
            best = None
            for layer in np.flatnonzero(counts < capacity):
                trial = counts.copy()
                trial[layer] = min(trial[layer] + step, capacity[layer])
                loss = self._loss(*context, trial, measured)
                if best is None or loss < best[0]:
                    best = (loss, trial)
            if best is None:
                break
            counts = best[1]
        counts = np.array(within_capacity(
            np.floor(counts * start.sum() / max(counts.sum(), 1)).astype(np.int64), capacity
        ))
        # never worse on the held-out rows than the split it started from
        if self._loss(*context, start, measured) < self._loss(*context, counts, measured):
            counts = start
        return FixedSplit(counts, output_layer=self.base.output_layer, score=self.base.score)

    def _loss(self, network, fitting, X_test, test_weight, refit, counts, measured):
        """Held-out loss of the network compressed with ``counts`` (memoised)."""
        key = tuple(int(c) for c in counts)
        if key not in measured:
            method = FixedSplit(counts, output_layer=self.base.output_layer, score=self.base.score)
            total = int(counts.sum())
            layers = method.select(fitting, total)
            active = method.neurons_kept(layers, fitting)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                fitted = refit(network, layers, fitting.X, overwrite=True, sample_weight=fitting.sample_weight)
            measured[key] = held_out_loss(network, remove_neurons(network, fitted, active), X_test, test_weight)
        return measured[key]
