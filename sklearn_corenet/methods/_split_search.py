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

import numpy as np

from ..core._memo import memoizing
from ._base import SelectionMethod
from ._budget import within_capacity
from ._held_out import check_held_out_every, output_loss, split_problem
from ._wanda import ActivationMagnitude


class FixedSplit(ActivationMagnitude):
    """Edges chosen as "wanda" chooses them, with given per-layer counts.

    What :class:`LayerSplitSearch` finds; pass it as ``method=`` to compress
    again with the same split. The counts are scaled to the budget (their
    proportions are kept); the output layer still keeps its best edges per
    output neuron first.

    Parameters
    ----------
    counts : sequence of int
        Edges (weights and biases) each layer keeps, input layer first; not
        all zero.
    score : {"activation", "magnitude"}, default="activation"
        How a layer ranks its edges (see :class:`ActivationMagnitude`).

    Examples
    --------
    >>> from sklearn_corenet import CoreNetCompressor
    >>> from sklearn_corenet.methods import FixedSplit
    >>> FixedSplit([2000, 1500, 300])
    FixedSplit(counts=[2000, 1500, 300])
    >>> compressor = CoreNetCompressor(keep_ratio=0.1, method=FixedSplit([2000, 1500, 300]))
    """

    def __init__(self, counts, score="activation"):
        super().__init__(score=score)
        counts = [int(c) for c in counts]
        if not counts or min(counts) < 0 or sum(counts) == 0:
            raise ValueError(f"counts must be non-negative edge counts, not all zero; got {counts!r}")
        self.counts = counts

    def layer_counts(self, weights, budget):
        counts = np.asarray(self.counts, dtype=np.int64)
        if counts.size != len(weights):
            raise ValueError(f"{counts.size} layer counts for a network of {len(weights)} layers")
        # the proportions at the budget: floors, then the rest to the largest layers
        scaled = np.floor(counts * (budget / counts.sum())).astype(np.int64)
        scaled[np.argsort(-counts, kind="stable")[: budget - int(scaled.sum())]] += 1
        return scaled.tolist()

    def __repr__(self):
        options = [f"counts={self.counts!r}"]
        if self.score != "activation":
            options.append(f"score={self.score!r}")
        return f"{type(self).__name__}({', '.join(options)})"


class LayerSplitSearch(SelectionMethod):
    """Search how many edges each layer keeps, by measured error (an option).

    Starting from half the budget split as ``base`` splits it, ``rounds``
    rounds each give ``budget / (2 · rounds)`` more edges to one layer: the
    one whose extra edges, chosen by ``base``'s score and re-fitted with the
    compressor's reweighting rule on about three quarters of the calibration
    rows (at most 15,000), bring the network closest to the original on the
    other rows (at most 5,000) (the
    cross-entropy of the compressed network's probabilities against the
    original's; the squared error of the outputs for regressors). The split
    found then compresses with every row, unless ``base``'s own split of
    the budget is closer on the held-out rows. A layer never keeps more
    edges than it has.

    What it found is the ``selection`` field of the compressed model's
    ``compression_info_`` (a :class:`FixedSplit` with the counts).
    The held-out rows are measured by
    :func:`~._held_out.output_loss`.

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

    Examples
    --------
    >>> from sklearn_corenet import CoreNetCompressor
    >>> from sklearn_corenet.methods import LayerSplitSearch
    >>> compressor = CoreNetCompressor(keep_ratio=0.05, method="wanda-search")
    >>> compressor = CoreNetCompressor(keep_ratio=0.05, method=LayerSplitSearch("mine", rounds=4))
    """

    in_paper = False
    default_reweight = "lstsq"

    def __init__(self, name="wanda-search", base=None, rounds=8, held_out_every=4):
        base = ActivationMagnitude() if base is None else base
        if not isinstance(base, ActivationMagnitude):
            raise ValueError(f"base must be an ActivationMagnitude; got {base!r}")
        if not (isinstance(rounds, int) and rounds >= 1):
            raise ValueError(f"rounds must be a positive int; got {rounds!r}")
        check_held_out_every(held_out_every)
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
        held_out = split_problem(problem, self.held_out_every) if len(problem.weights) > 1 else None
        if held_out is None:
            return self.base
        # the original's values on both sides of the split are computed once
        with memoizing():
            return self._search(problem, held_out, budget, refit)

    def _search(self, problem, held_out, budget, refit):
        """The :class:`FixedSplit` found on the split ``held_out`` (see :meth:`choose`)."""
        weights = problem.weights
        capacity = np.array(
            [np.count_nonzero(W[:, alive]) for W, alive in zip(weights, problem.active, strict=True)]
        )
        start = np.array(within_capacity(self.base.layer_counts(weights, budget), capacity), dtype=np.int64)
        step = max(int(start.sum()) // (2 * self.rounds), 1)
        # half the budget as the base splits it, the other half by rounds
        counts = start // 2
        measured = {}
        for _ in range(self.rounds):
            best = None
            for layer in np.flatnonzero(counts < capacity):
                trial = counts.copy()
                trial[layer] = min(trial[layer] + step, capacity[layer])
                loss = self._loss(held_out, refit, trial, measured)
                if best is None or loss < best[0]:
                    best = (loss, trial)
            if best is None:
                break
            counts = best[1]
        counts = np.array(within_capacity(
            np.floor(counts * start.sum() / max(counts.sum(), 1)).astype(np.int64), capacity
        ))
        # never worse on the held-out rows than the split it started from
        if self._loss(held_out, refit, start, measured) < self._loss(held_out, refit, counts, measured):
            counts = start
        return FixedSplit(counts, score=self.base.score)

    def _loss(self, held_out, refit, counts, measured):
        """Held-out loss of the network compressed with ``counts`` (memoised in ``measured``)."""
        key = tuple(int(c) for c in counts)
        if key not in measured:
            method = FixedSplit(counts, score=self.base.score)
            layers = held_out.select(method, int(counts.sum()))
            loss = held_out.measure(held_out.refitted(method, layers, refit), output_loss)
            measured[key] = float(np.average(loss, weights=held_out.sample_weight))
        return measured[key]
