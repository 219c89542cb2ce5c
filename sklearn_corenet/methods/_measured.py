"""Choosing a selection rule by measured error on held-out calibration rows (beyond the paper).

No single rule for which edges to keep is best on every network and
budget: ranking by |w| · ‖a‖ (Wanda) or by |w| alone, and keeping the
output layer dense or giving it global magnitude pruning's share, each win
somewhere by several points of accuracy at small budgets
("Choosing a method" in the docs: the selection ablation). :class:`MeasuredChoice`
compresses with every candidate rule on part of the calibration rows and
keeps the rule whose network is closest to the original on the other rows,
which no candidate was fitted on.
"""

from numbers import Integral

import numpy as np

from ..core._memo import memoizing
from ._base import SelectionMethod
from ._held_out import (
    MIN_MEASURED_ROWS,
    check_held_out_every,
    held_out_folds,
    label_differences,
    probability_distance,
)

#: Every how many calibration rows one is held out to score the candidates.
HELD_OUT_EVERY = 4

#: How many standard errors of the paired difference a candidate must be
#: better by to replace the one before it. With one, a 40-256-256-256-10
#: network at 20% kept switched to a rule 0.9 points worse on the test set
#: (250 held-out rows); two keep the large gains (a dense output layer at
#: 2-5% kept) and stop such switches.
MARGIN_Z = 2.0


def clearly_better(challenger, incumbent, sample_weight=None, z=MARGIN_Z):
    """Whether per-row differences ``challenger`` are lower than ``incumbent``'s
    by more than ``z`` standard errors of their paired mean difference.

    A few hundred held-out rows separate rules that differ by a point of
    accuracy only roughly: switching on any lower mean would pick by noise
    as often as not where the rules are close, so the preferred rule stays
    unless another is clearly better. Sample weights weigh the rows in the
    means, and their sum is the number of rows of the standard error. The
    compressor hands on weights scaled to mean 1, so a row of weight 2
    counts as two copies of it in the means but the rows are counted as
    given: weights and copies choose alike except near the margin.
    """
    gap = challenger - incumbent
    weight = np.ones_like(gap) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    mean = np.average(gap, weights=weight)
    spread = np.sqrt(np.average((gap - mean) ** 2, weights=weight) / max(weight.sum() - 1, 1))
    return bool(mean < 0 and -mean > z * spread)


class MeasuredChoice(SelectionMethod):
    """Use the candidate rule that compresses best on held-out calibration rows.

    Every candidate selection method compresses the network on about three
    quarters of the calibration rows (at most 15,000; see
    :func:`~._held_out.split_rows`) (with the compressor's reweighting
    rule, the least-squares re-fit by default); each compressed network is
    compared with the original on the other quarter (at most 5,000)
    (:func:`~._held_out.probability_distance`: the total variation distance
    of the predicted probabilities for classifiers, the mean squared error
    of the outputs for regressors). Candidates are taken in
    order, and one replaces the best so far only when it is clearly better
    (:func:`clearly_better`: by more than two standard errors of the paired
    difference), so that the first stays where the held-out rows cannot
    tell them apart. When a quarter holds fewer than ``min_measured_rows``
    rows (400), the other quarters are held out in turn until that many rows
    are measured (cross-fitting: each candidate compresses once per quarter,
    never on the rows it is measured on), and the comparison pools them; a
    candidate clearly worse than the best so far on the quarters measured
    (by the same two standard errors) is not compressed on the others. The
    chosen candidate then compresses with every calibration row, as if it
    had been chosen by name. Candidates that keep
    the same edges on the fitting rows are scored once, and none is scored
    once the best so far predicts the original's label on so many held-out
    rows that no candidate could be clearly better on the labels, so the
    cost is at most one compression of three quarters of the rows per
    distinct candidate and quarter measured, plus one.

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
        candidates (see :func:`~._held_out.held_out_rows`).
    distance : callable, default=None
        ``distance(network, original, compressed)``: per held-out row, a
        non-negative distance of the compressed network's last-layer values
        from the original's, lower is better; it must not modify its
        arguments (the original's values are shared by every candidate, and
        read-only). None: :func:`~._held_out.probability_distance`. The compressor's certified
        search with an (ε, δ) target measures what the certificate reads
        (:class:`~._held_out.CertificateError`, see :meth:`measuring`).
    min_measured_rows : int, default=400
        When one share of ``1 / held_out_every`` of the calibration rows
        holds fewer rows than this, the candidates are compared by
        cross-fitting: further shares are held out in turn (each candidate
        compressing on the other rows each time) until this many rows are
        measured or every share is (:func:`~._held_out.held_out_folds`).
        Each further share costs one more compression per candidate, of
        small data. 0 measures one share.
    certified_candidates : sequence of SelectionMethod, default=None
        The candidates of the certified search (:meth:`measuring`), a subset
        of ``candidates``; None: all of them.
    """

    in_paper = False
    default_reweight = "lstsq"
    # objects saved before these options take their defaults
    min_measured_rows = MIN_MEASURED_ROWS
    certified_candidates = None

    def __init__(
        self, name="measured", candidates=(), held_out_every=HELD_OUT_EVERY, distance=None,
        min_measured_rows=MIN_MEASURED_ROWS, certified_candidates=None,
    ):
        candidates = tuple(candidates)
        if not candidates or not all(isinstance(c, SelectionMethod) for c in candidates):
            raise ValueError(f"candidates must be one or more SelectionMethod objects; got {candidates!r}")
        if any(c.structured or c.prunes_dead_neurons for c in candidates):
            raise ValueError("MeasuredChoice chooses among methods that keep every neuron")
        check_held_out_every(held_out_every)
        if distance is not None and not callable(distance):
            raise ValueError(f"distance must be callable or None; got {distance!r}")
        if not (isinstance(min_measured_rows, Integral) and min_measured_rows >= 0):
            raise ValueError(f"min_measured_rows must be an int >= 0; got {min_measured_rows!r}")
        if certified_candidates is not None:
            certified_candidates = tuple(certified_candidates)
            if not certified_candidates or not all(c in candidates for c in certified_candidates):
                raise ValueError(
                    f"certified_candidates must be some of the candidates; got {certified_candidates!r}"
                )
        self.name = name
        self.candidates = candidates
        self.certified_candidates = certified_candidates
        self.held_out_every = held_out_every
        self.distance = distance
        self.min_measured_rows = int(min_measured_rows)

    def __repr__(self):
        distance = getattr(self.distance, "__name__", repr(self.distance))
        options = "" if self.distance is None else f", distance={distance}"
        if self.min_measured_rows != MIN_MEASURED_ROWS:
            options += f", min_measured_rows={self.min_measured_rows}"
        return f"{type(self).__name__}({self.name!r}, candidates={list(self.candidates)!r}{options})"

    def measuring(self, distance):
        """The choice the certified search makes: by ``distance`` (None: the
        default), among ``certified_candidates``, on one held-out share.

        The certified search measures at every budget it tries, on the
        certificate's continuous error: one share, without cross-fitting.
        """
        candidates = self.candidates if self.certified_candidates is None else self.certified_candidates
        return type(self)(self.name, candidates, self.held_out_every, distance, min_measured_rows=0)

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
        folds = held_out_folds(problem, self.held_out_every, self.min_measured_rows)
        if not folds:
            return self.candidates[0]
        # the original's values on both sides of every split are computed once
        with memoizing():
            return self._best(folds, budget, refit)

    def _best(self, folds, budget, refit):
        """The best candidate on the splits ``folds`` (see :meth:`choose`), their rows pooled."""
        problem = folds[0].fitting
        weight = None if folds[0].sample_weight is None else np.concatenate([f.sample_weight for f in folds])
        distance = probability_distance if self.distance is None else self.distance
        # labels: no challenger can be clearly better on them than a network
        # that agrees with the original on (nearly) every held-out row; the
        # gains left there are too small to pay for more candidates
        labels = self.distance is None and problem.network.head.kind != "regression"
        distances = (distance, label_differences) if labels else (distance,)
        best, best_differences, best_labels, seen = None, None, None, []
        for candidate in self.candidates:
            if best is not None and labels and not clearly_better(np.zeros_like(best_labels), best_labels, weight):
                break  # the best so far changes the original's label on too few rows
            layers = [fold.select(candidate, budget) for fold in folds]
            masks = [W != 0 for part in layers for W in part]
            if any(all(np.array_equal(a, b) for a, b in zip(masks, other, strict=True)) for other in seen):
                continue  # the same edges as a candidate already scored
            seen.append(masks)
            measured = []  # per fold: the distance and, for the early stop, the labels
            for fold, part in zip(folds, layers, strict=True):
                # both from one pass over the held-out rows
                measured.append(fold.measure_each(fold.refitted(candidate, part, refit), distances))
                if best is not None and len(measured) < len(folds) and _ruled_out(measured, best_differences, weight):
                    break
            else:
                differences, *rest = (np.concatenate(parts) for parts in zip(*measured, strict=True))
                if best is None or clearly_better(differences, best_differences, weight):
                    best, best_differences, best_labels = candidate, differences, rest[0] if labels else None
            del layers
        return best


def _ruled_out(measured, best_differences, weight):
    """Whether the folds measured so far show a challenger clearly worse than the best.

    Cross-fitting measures a candidate one fold at a time: one clearly worse
    (by :data:`MARGIN_Z` standard errors) on the first folds is not
    compressed on the others. This is a rule of thumb, not a bound: to be
    chosen, it would have had to turn that deficit into a lead of as many
    standard errors on the pooled rows, which can happen, so the choice can
    differ from the one that measures every fold (it did not in the
    benchmarks).
    """
    differences = np.concatenate([parts[0] for parts in measured])
    n = differences.size  # the folds' rows (and weights) are pooled in order: the first n
    return clearly_better(best_differences[:n], differences, None if weight is None else weight[:n])
