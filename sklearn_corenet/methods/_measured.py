"""Choosing a selection rule by measured error on held-out calibration rows (beyond the paper).

No single rule for which edges to keep is best on every network and
budget: ranking by |w| · ‖a‖ (Wanda) or by |w| alone, and keeping the
output layer dense or giving it global magnitude pruning's share, each win
somewhere by several points of accuracy at small budgets
(``benchmarks/results/selection_ablation.md``). :class:`MeasuredChoice`
compresses with every candidate rule on part of the calibration rows and
keeps the rule whose network is closest to the original on the other rows,
which no candidate was fitted on.
"""

import hashlib
import warnings
from dataclasses import replace

import numpy as np
import scipy.sparse as sp
from sklearn.utils import gen_batches

from ..algorithm._draw import remove_neurons
from ..core._head import probabilities
from ..core._network import chunk_rows
from ..core._rows import LazyRows
from ._base import SelectionMethod

#: Every how many calibration rows one is held out to score the candidates.
HELD_OUT_EVERY = 4

#: Fewest held-out rows worth a choice; with fewer the first candidate is used.
MIN_HELD_OUT = 8

#: How many standard errors of the paired difference a candidate must be
#: better by to replace the one before it. With one, a 40-256-256-256-10
#: network at 20% kept switched to a rule 0.9 points worse on the test set
#: (250 held-out rows); two keep the large gains (a dense output layer at
#: 2-5% kept) and stop such switches.
MARGIN_Z = 2.0


def _rows(X, index):
    """Rows ``index`` of calibration data ``X``, read lazily (sparse rows are copied)."""
    if sp.issparse(X):
        return X[index]
    return (X if isinstance(X, LazyRows) else LazyRows(X, X.dtype)).take(index)


def _dense(X):
    """``X`` (a chunk of rows) as a dense float64 array."""
    if isinstance(X, LazyRows):
        X = X[:]
    return np.asarray(X.toarray() if sp.issparse(X) else X, dtype=np.float64)


def _batches(X, working_memory=None):
    """Chunks of rows of ``X`` for a forward pass within ``working_memory``."""
    return gen_batches(X.shape[0], chunk_rows(8 * max(X.shape[1], 1) * 4, X.shape[0], working_memory))


def held_out_rows(X, every, working_memory=None):
    """Mask of the calibration rows held out to score candidates: about one in ``every``.

    A row is held out by the hash of its values, not its position, so that
    copies of a row fall on the same side: a row of weight 2 and two copies
    of it choose alike (sample weights are repetitions). Rows are read a
    chunk at a time.
    """
    held = np.empty(X.shape[0], dtype=bool)
    for batch in _batches(X, working_memory):
        rows = _dense(X[batch])
        for index, row in enumerate(rows, start=batch.start):
            digest = hashlib.blake2b(row.tobytes(), digest_size=8).digest()
            held[index] = int.from_bytes(digest, "little") % every == 0
    return held


def held_out_differences(network, compressed, X):
    """:func:`output_differences` of ``compressed`` on every row of ``X``, a chunk at a time."""
    differences = np.empty(X.shape[0])
    for batch in _batches(X):
        rows = _dense(X[batch])
        differences[batch] = output_differences(network, network.decision(rows), compressed.decision(rows))
    return differences


def output_differences(network, original, compressed):
    """Per held-out row, how far the compressed output is from the original's.

    For classifiers, whether the predicted label differs (0 or 1: labels
    are what the user sees); for regressors, the mean squared difference of
    the outputs. ``original`` and ``compressed`` are last-layer values
    (before the output activation).
    """
    p = probabilities(network, original)
    if p is None:
        return np.mean((compressed - original) ** 2, axis=1)
    q = probabilities(network, compressed)
    if network.head.kind == "multiclass":
        return (np.argmax(p, axis=1) != np.argmax(q, axis=1)).astype(np.float64)
    # binary and multilabel: per output, above or below the threshold
    threshold = network.head.threshold
    return ((p > threshold) != (q > threshold)).any(axis=1).astype(np.float64)


def clearly_better(challenger, incumbent, sample_weight=None, z=MARGIN_Z):
    """Whether per-row differences ``challenger`` are lower than ``incumbent``'s
    by more than ``z`` standard errors of their paired mean difference.

    A few hundred held-out rows separate rules that differ by a point of
    accuracy only roughly: switching on any lower mean would pick by noise
    as often as not where the rules are close, so the preferred rule stays
    unless another is clearly better.
    """
    gap = challenger - incumbent
    weight = np.ones_like(gap) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    mean = np.average(gap, weights=weight)
    n_eff = weight.sum() ** 2 / np.sum(weight**2)
    spread = np.sqrt(np.average((gap - mean) ** 2, weights=weight) / max(n_eff - 1, 1))
    return mean < 0 and -mean > z * spread


class MeasuredChoice(SelectionMethod):
    """Use the candidate rule that compresses best on held-out calibration rows.

    Every candidate selection method compresses the network on about three
    quarters of the calibration rows (with the compressor's reweighting
    rule, the least-squares re-fit by default); each compressed network is
    compared with the original on the other quarter
    (:func:`output_differences`: label disagreement for classifiers, mean
    squared error of the outputs for regressors). Candidates are taken in
    order, and one replaces the best so far only when it is clearly better
    (:func:`clearly_better`: by more than two standard errors of the paired
    difference), so that the first stays where the held-out rows cannot
    tell them apart. The chosen candidate then compresses with every
    calibration row, as if it had been chosen by name. Candidates that keep
    the same edges on the fitting rows are scored once, and none is scored
    once no candidate could be clearly better (the best so far differs from
    the original on too few held-out rows), so the cost is at most one
    compression of three quarters of the rows per distinct candidate, plus
    one.

    What it chose is the ``selection`` field of the compressed model's
    ``compression_info_``.

    Parameters
    ----------
    name : str, default="measured"
        The registered name.
    candidates : sequence of SelectionMethod
        The rules to choose from, the preferred one first (kept on ties, and
        used alone when too few rows can be held out).
    held_out_every : int, default=4
        About one calibration row in ``held_out_every`` scores the
        candidates (see :func:`held_out_rows`).
    """

    in_paper = False
    default_reweight = "lstsq"

    def __init__(self, name="measured", candidates=(), held_out_every=HELD_OUT_EVERY):
        candidates = tuple(candidates)
        if not candidates or not all(isinstance(c, SelectionMethod) for c in candidates):
            raise ValueError(f"candidates must be one or more SelectionMethod objects; got {candidates!r}")
        if any(c.structured or c.prunes_dead_neurons for c in candidates):
            raise ValueError("MeasuredChoice chooses among methods that keep every neuron")
        if not (isinstance(held_out_every, int) and held_out_every >= 2):
            raise ValueError(f"held_out_every must be an int of at least 2; got {held_out_every!r}")
        self.name = name
        self.candidates = candidates
        self.held_out_every = held_out_every

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r}, candidates={list(self.candidates)!r})"

    def select(self, problem, budget):
        """The first candidate's selection (the compressor calls :meth:`choose` first)."""
        return self.candidates[0].select(problem, budget)

    def choose(self, problem, budget, refit):
        """The candidate whose network is closest to the original on held-out rows.

        Parameters
        ----------
        problem : CompressionProblem
        budget : int
        refit : callable
            ``refit(network, layers, X, *, overwrite, sample_weight)``: the
            compressor's reweighting rule.

        Returns
        -------
        SelectionMethod
        """
        if len(self.candidates) == 1:
            return self.candidates[0]
        held = held_out_rows(problem.X, self.held_out_every)
        if np.count_nonzero(held) < MIN_HELD_OUT or np.count_nonzero(~held) < MIN_HELD_OUT:
            return self.candidates[0]
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
        network = problem.network
        best, best_differences, seen = None, None, []
        for candidate in self.candidates:
            if best is not None and not clearly_better(np.zeros_like(best_differences), best_differences, test_weight):
                break  # not even a network equal to the original would replace the best
            layers = candidate.select(fitting, budget)
            masks = [W != 0 for W in layers]
            if any(all(np.array_equal(a, b) for a, b in zip(masks, other, strict=True)) for other in seen):
                continue  # the same edges as a candidate already scored
            seen.append(masks)
            active = candidate.neurons_kept(layers, fitting)
            with warnings.catch_warnings():
                # what the re-fit warns of, the compression with every row says
                warnings.simplefilter("ignore", UserWarning)
                fitted = refit(network, layers, fitting.X, overwrite=True, sample_weight=fitting.sample_weight)
            differences = held_out_differences(network, remove_neurons(network, fitted, active), X_test)
            if best is None or clearly_better(differences, best_differences, test_weight):
                best, best_differences = candidate, differences
        return best
