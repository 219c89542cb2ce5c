"""Compression to a target: the sparsest budget whose certificate holds.

The user states what the compressed network must do, (ε, δ) at a confidence
or a tolerance on a score, and the budget is searched for. The calibration
data is split once: the compression part is all the compression ever sees,
the held-out part only certifies. Every budget tried is one plan and one draw
(:func:`~._compression.plan_compression`, :func:`~._compression.draw_compression`);
what does not depend on the budget is computed once per search: the
calibration statistics and the sampling plans (through in-process caches
handed to the planner), and the original network's outputs and predictions on
the held-out points.

The search runs over a geometric grid of budgets (each ``1 + search_step``
times the one below, up to ``1 / (1 + search_step)`` of the parameters) and
returns the smallest grid budget that holds whose grid neighbour below does
not: a bracket [fails, holds] narrowed by interpolation, safeguarded by
bisection (see :func:`smallest_passing`); by bisection alone for agreement and
score targets, whose margins are flat and noisy near the target.
"""

from dataclasses import dataclass

import numpy as np

from ._evaluator import BudgetTrial

#: The smallest kept fraction searched: below a thousandth of the
#: parameters a network keeps too few edges per neuron to be of use.
SMALLEST_KEEP_RATIO = 1e-3

#: The first budget tried, as a kept fraction; the next ones follow from
#: what it gives.
START_KEEP_RATIO = 0.1

#: Farthest an extrapolated guess may go from the nearest budget tried, as a
#: factor on the odds r / (1 − r) of the kept fraction r.
MAX_JUMP = 4.0


# -- the grid and the search ---------------------------------------------------


def budget_grid(n_params, search_step, smallest=SMALLEST_KEEP_RATIO):
    """The budgets searched, increasing: ``round(n_params / (1 + search_step)^j)``, j ≥ 1.

    Down to ``smallest`` of the parameters (at least one parameter);
    repeated budgets of small networks appear once.

    Returns
    -------
    ndarray of int
    """
    n_steps = int(np.floor(np.log(1 / smallest) / np.log1p(search_step)))
    ratios = (1 + search_step) ** -np.arange(max(n_steps, 1), 0, -1, dtype=np.float64)
    budgets = np.unique(np.maximum(np.round(ratios * n_params), 1).astype(np.int64))
    return budgets[budgets < n_params]


def positions_of(keep_ratios):
    """Where the search places kept fractions r: their log-odds, log(r / (1 − r)).

    The certified ε of a budget falls roughly as a power of r at small
    budgets and to 0 as r reaches 1 (the whole network); its logarithm is
    then close to linear in the log-odds over the whole range, which is what
    the interpolation of :func:`smallest_passing` assumes.
    """
    keep_ratios = np.asarray(keep_ratios, dtype=np.float64)
    return np.log(keep_ratios) - np.log1p(-keep_ratios)


def smallest_passing(evaluate, positions, start, slope=None, interpolate=True, gallop=False):
    """The smallest index whose evaluation passes, assuming passing is monotone.

    Index ``len(positions)`` (beyond the grid) is taken to pass and index −1
    to fail. The search keeps a bracket (largest index seen failing, smallest
    seen passing) and stops when they are neighbours, so the answer passes
    and the index below it fails (or is −1).

    Each step guesses where the margin crosses zero, linear in ``positions``:
    between the bracket's ends when both were evaluated (regula falsi), else
    by extrapolating from the two nearest evaluated points (the steeper of
    their slope and ``slope`` upwards, the shallower downwards; ``slope``
    alone when only one point is known), no further than ``MAX_JUMP`` in the
    odds of the kept fraction. A guess is
    rounded towards the passing side, so that a good guess is confirmed by
    evaluating its neighbour below; when two steps have not halved the
    bracket, the step bisects. Without ``interpolate``, every step between
    two evaluated ends bisects.

    Parameters
    ----------
    evaluate : callable
        ``evaluate(index) -> (passes, margin)``: ``margin`` ≤ 0 when it
        passes, and roughly linear in ``positions`` near zero (NaN or
        infinite when unknown).
    positions : ndarray of shape (n_grid,)
        Increasing abscissae of the grid (log kept fractions).
    start : int
        First index to evaluate.
    slope : float, default=None
        Assumed d margin / d position when a single point is known; None
        jumps by ``MAX_JUMP`` instead.
    interpolate : bool, default=True
        Whether a bracket is narrowed by interpolating the margins of its
        ends (False: by bisection, for margins that are far from linear).
    gallop : bool, default=False
        Until both ends of the bracket are evaluated, step away from
        ``start`` by 1, 2, 4, ... grid steps (exponential search) instead of
        extrapolating: for an answer expected a few steps from ``start``.

    Returns
    -------
    index : int or None
        The smallest passing index, None when none of the grid passes.
    evaluated : list of int
        Indices evaluated, in order.
    """
    n_grid = positions.size
    failing, passing = -1, n_grid
    margins, widths = {}, []  # widths of the bracket once both ends were evaluated
    kept = [None, 0]  # the end of the bracket the last steps left in place, and how many times
    while passing - failing > 1:
        if not margins:
            index = start
        elif gallop and (failing < 0 or passing >= n_grid):
            # double the distance from the start, on the side not yet bounded
            index = passing - max(1, start - passing) if failing < 0 else failing + max(1, failing - start)
        elif (widths and not interpolate) or (len(widths) >= 3 and widths[-1] >= widths[-3] / 2):
            index = (failing + passing) // 2
        else:
            index = _guess(positions, _illinois(margins, kept), failing, passing, slope)
        index = int(np.clip(index, failing + 1, passing - 1))
        passes, margin = evaluate(index)
        margins[index] = float(margin)
        end = failing if passes else passing  # the end this step leaves in place
        kept = [end, kept[1] + 1 if kept[0] == end else 1]
        if passes:
            passing = index
        else:
            failing = index
        if failing >= 0 and passing < n_grid:
            widths.append(passing - failing)
    return (passing if passing < n_grid else None), list(margins)


def _illinois(margins, kept):
    """The margins the next guess interpolates: the Illinois rule of regula falsi.

    An end of the bracket that two steps in a row have left in place has its
    margin halved (once more for every further step): interpolation then
    moves toward it instead of creeping from the other end one grid step at
    a time, which a noisy or curved margin otherwise makes it do.
    """
    end, times = kept
    if end is None or times < 2 or end not in margins:
        return margins
    return {**margins, end: margins[end] * 0.5 ** (times - 1)}


def _guess(positions, margins, failing, passing, slope):
    """Index where the margin is expected to cross zero (see :func:`smallest_passing`)."""
    known = {i: m for i, m in margins.items() if np.isfinite(m)}
    x, jump = positions, np.log(MAX_JUMP)
    if failing in known and passing in known:
        (x0, m0), (x1, m1) = (x[failing], known[failing]), (x[passing], known[passing])
        target = x0 + m0 * (x1 - x0) / (m0 - m1) if m0 != m1 else (x0 + x1) / 2
    else:
        side = failing if failing in known else passing if passing in known else None
        if side is None:
            return (failing + passing) // 2
        # the two evaluated points nearest the bracket on that side
        if side == failing:
            near = sorted(i for i in known if i <= failing)[-2:]
        else:
            near = sorted(i for i in known if i >= passing)[:2]
        fitted = None
        if len(near) == 2 and x[near[1]] != x[near[0]]:
            fitted = (known[near[1]] - known[near[0]]) / (x[near[1]] - x[near[0]])
        step_slope = fitted if fitted is not None and fitted < 0 else slope
        if slope is not None and fitted is not None and fitted < 0:
            # the certified ε falls faster the closer the budget is to the
            # whole network: a slope fitted below the crossing is too shallow
            # to extrapolate upwards, one fitted above it too steep to go down
            step_slope = min(fitted, slope) if side == failing else max(fitted, slope)
        if step_slope is None or step_slope >= 0:
            target = x[side] + (jump if side == failing else -jump)
        else:
            target = x[side] - known[side] / step_slope
        target = np.clip(target, x[side] - jump, x[side] + jump)
    # rounded towards the passing side: the smallest index at or past target
    return int(np.searchsorted(positions, target - 1e-12))


# -- the target ----------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What a compressed network must meet on the held-out points.

    Attributes
    ----------
    epsilon, delta, confidence : float
        The certified statement: error ≤ ε with probability ≥ 1 − δ, at
        this confidence.
    error : {"l1", "entrywise"}
    output_floor : float
    score_tolerance : float or None
        When set, the target is a score drop of at most this much instead
        (accuracy for classifiers, R² for regressors, measured on the
        held-out points).
    agreement : float or None
        When set (classifiers), the target is instead a lower confidence
        bound of at least this much on the share of new points where the
        compressed network predicts the original's label.
    error_on : {"outputs", "probabilities"}
        What the error of a point compares (see :func:`certify`).
    """

    epsilon: float
    delta: float
    confidence: float
    error: str
    output_floor: float
    score_tolerance: float | None = None
    agreement: float | None = None
    error_on: str = "outputs"

    def margin(self, certificate):
        """≤ 0 when ``certificate`` meets the target.

        (ε, δ): log(ε certified / ε), roughly linear in the log-odds of the
        kept fraction. Score: drop − tolerance. Agreement: target − certified
        lower bound. These two are flat and noisy near the target: the search
        bisects them.
        """
        if self.agreement is not None:
            return self.agreement - certificate.label_agreement_lower
        if self.score_tolerance is not None:
            return certificate.score_drop - self.score_tolerance
        with np.errstate(divide="ignore"):
            return float(np.log(certificate.epsilon_certified) - np.log(self.epsilon))

    def met(self, certificate):
        if self.agreement is not None:
            return bool(certificate.label_agreement_lower >= self.agreement)
        if self.score_tolerance is not None:
            return bool(certificate.score_drop <= self.score_tolerance)
        return certificate.holds

    def describe(self):
        if self.agreement is not None:
            return (
                f"the original's label on at least {self.agreement:g} of new points "
                f"(confidence={self.confidence:g})"
            )
        if self.score_tolerance is not None:
            return f"a score drop of at most {self.score_tolerance:g} on the held-out points"
        on = " of the probabilities" if self.error_on == "probabilities" else ""
        return (
            f"error ≤ epsilon={self.epsilon:g} with probability ≥ 1 - delta = {1 - self.delta:g} "
            f"({self.error} error{on}, confidence={self.confidence:g})"
        )


# -- the compression search ----------------------------------------------------


@dataclass(frozen=True)
class TargetResult:
    """What :func:`compress_to_target` found.

    Attributes
    ----------
    trial : BudgetTrial
        The chosen budget, its plan, network and certificate.
    trials : list of BudgetTrial
        Every budget tried, in order.
    grid : ndarray of int
        The budgets searched.
    """

    trial: BudgetTrial
    trials: list
    grid: np.ndarray

    def table(self):
        """Every budget tried, in order: the compressor's ``search_results_``."""
        trials = self.trials
        certificates = [t.certificate for t in trials]
        return {
            "keep_ratio": np.array([t.keep_ratio for t in trials]),
            "budget": np.array([t.budget for t in trials]),
            "nnz": np.array([t.nnz for t in trials]),
            "meets_target": np.array([t.passes for t in trials]),
            "epsilon_certified": np.array([c.epsilon_certified for c in certificates]),
            "output_epsilon_certified": np.array([c.output_epsilon_certified for c in certificates]),
            "probability_epsilon_certified": np.array(
                [np.nan if c.probability_epsilon_certified is None else c.probability_epsilon_certified for c in certificates]
            ),
            "coverage": np.array([c.coverage for c in certificates]),
            "coverage_lower": np.array([c.coverage_lower for c in certificates]),
            "label_agreement_lower": np.array(
                [np.nan if c.label_agreement_lower is None else c.label_agreement_lower for c in certificates]
            ),
            "score_drop": np.array([np.nan if c.score_drop is None else c.score_drop for c in certificates]),
            "fine_tuned": np.array([t.fine_tune_history is not None for t in trials]),
            "fine_tune_epochs": np.array(
                [0 if t.fine_tune_history is None else t.fine_tune_history.best_epoch for t in trials]
            ),
            "seconds": np.array([t.seconds for t in trials]),
            "fine_tune_seconds": np.array([t.fine_tune_seconds for t in trials]),
        }


def compress_to_target(evaluate, n_params, target, search_step, verbose=0):
    """The sparsest grid budget whose certificate meets ``target`` (see :func:`smallest_passing`).

    Parameters
    ----------
    evaluate : BudgetEvaluator
        Gives the :class:`BudgetTrial` of a budget.
    n_params : int
        Parameters of the original network.
    target : Target
    search_step : float
        Relative step of the grid (:func:`budget_grid`).
    verbose : int, default=0
        Print a line per budget tried when > 0.

    Returns
    -------
    TargetResult

    Raises
    ------
    ValueError
        When no budget of the grid meets the target; the message gives the
        best one found.
    """
    grid = budget_grid(n_params, search_step)
    if grid.size == 0:
        raise ValueError(f"the network has {n_params} parameters: too few to search budgets")
    tried = []

    def passes(index, fine_tune=True):
        trial = evaluate(int(grid[index]), fine_tune=fine_tune)
        tried.append(trial)
        if verbose > 0:
            certificate = trial.certificate
            print(
                f"[certified] keep_ratio={trial.keep_ratio:.4f}: "
                f"{'meets' if trial.passes else 'misses'} the target "
                f"(epsilon certified {certificate.epsilon_certified:.4g}, "
                f"coverage >= {certificate.coverage_lower:.4f}"
                + (f", score drop {certificate.score_drop:.4g}" if certificate.score_drop is not None else "")
                + (
                    ""
                    if trial.fine_tune_history is None
                    else f", fine-tuned {trial.fine_tune_history.n_epochs} epochs"
                )
                + f"; {trial.seconds:.2f} s)",
                flush=True,
            )
        return trial.passes, trial.margin

    ratios = grid / n_params
    positions = positions_of(ratios)
    start = int(np.argmin(np.abs(ratios - START_KEEP_RATIO)))
    # (ε, δ): the log of the certified ε falls roughly as minus the log-odds;
    # a lower bound on the agreement or a score drop is flat and noisy where it
    # crosses its target (an accuracy or agreement moves in steps of one held-out
    # row), and interpolating it creeps along the bracket
    interpolate = target.score_tolerance is None and target.agreement is None
    slope = -1.0 if interpolate else None
    index = None
    if getattr(evaluate, "fidelity", None) is not None:
        # fine-tuning costs more than a compression and lowers the budget that
        # passes: search without it first, then fine-tune only below what passed
        index, _ = smallest_passing(lambda i: passes(i, fine_tune=False), positions, start, slope, interpolate)
    if index is None:
        index, _ = smallest_passing(passes, positions, start, slope, interpolate)
    elif index > 0:
        # fine-tuning lowers the budget by a few grid steps: a flat margin
        # (agreement, a score) gives no slope to extrapolate, so step down
        # 1, 2, 4, ... steps rather than jump (a jump of MAX_JUMP fine-tuned
        # a budget far below the answer, then bisected back up)
        tuned, _ = smallest_passing(
            passes, positions[:index], index - 1, slope, interpolate, gallop=not interpolate
        )
        index = index if tuned is None else tuned
    if index is None:
        best = min(tried, key=lambda t: t.margin)
        raise ValueError(
            f"no budget up to keep_ratio={ratios[-1]:.3g} meets the target, "
            f"{target.describe()}. The best found, keep_ratio={best.keep_ratio:.3g}, "
            + _shortfall(best.certificate, target)
            + ". Loosen the target (a larger epsilon, delta or score_tolerance, a lower agreement or "
            "confidence), hold out more rows (validation_fraction, more calibration data), "
            "or keep the whole network (keep_ratio=1)"
        )
    # the last trial of the budget found passed (a fine-tuned one, when fine-tuned last)
    chosen = next(t for t in reversed(tried) if t.budget == int(grid[index]) and t.passes)
    return TargetResult(trial=chosen, trials=tried, grid=grid)


def _shortfall(certificate, target):
    if target.agreement is not None:
        return f"certifies the original's label on ≥ {certificate.label_agreement_lower:.4f} of new points"
    if target.score_tolerance is not None:
        return f"drops the {certificate.score_name} by {certificate.score_drop:.4g}"
    return (
        f"certifies epsilon={certificate.epsilon_certified:.4g} at delta={target.delta:g} "
        f"(coverage at epsilon={target.epsilon:g}: ≥ {certificate.coverage_lower:.4f} certified)"
    )


