"""Draw sparsified layers: exact budgets and amplification (Alg. 1, line 12).

Works on the :class:`~._sampling.SamplingPlan` of every layer. In budget mode
the draws are sequences and the allocation constant is chosen so that the
number of kept parameters equals the budget; in theory mode every row draws
its theoretical sample size. CoreNet++ draws several candidates per neuron
and keeps, per neuron, the one closest to the original on held-out points T.
"""

import numpy as np

from ..core._network import augment
from ._draw_sequence import draw_sequence, multinomial_counts, reweighting_factors


def count_threshold(thresholds, count, ceiling):
    """A c for which exactly ``count`` entries have a threshold below c.

    When ``count`` is out of reach (fewer entries), ``ceiling`` is returned.
    """
    if count >= thresholds.size:
        return ceiling
    if count <= 0:
        return 0.0
    ordered = np.partition(thresholds, (count - 1, count))
    below, above = ordered[count - 1], ordered[count]
    middle = (below + above) / 2
    if below < middle < above:
        return float(middle)
    # neighbouring floats (no float strictly between them), or a tie
    return float(above if above > below else np.nextafter(below, np.inf))


def _relative_error(estimate, reference):
    """Mean over points of |ẑ − z| / |z| per neuron (0/0 := 0)."""
    error = np.abs(estimate - reference)
    scale = np.abs(reference)
    ratio = np.zeros_like(error)
    np.divide(error, scale, out=ratio, where=scale > 0)
    ratio[(scale == 0) & (error > 0)] = np.inf
    return ratio.mean(axis=0)


class LayerSampler:
    """Trials of one layer's sampling problems and their reweighted weights."""

    def __init__(self, plan, weights, trials, inputs=None):
        self.plan = plan
        self.weights = weights
        self.trials = trials  # list of DrawSequence (budget) or (counts, m) (theory)
        self.inputs = None if inputs is None else augment(inputs)
        self.reference = None if inputs is None else self.inputs @ weights

    def candidate(self, trial, c=None):
        sample = self.trials[trial]
        if c is None:
            factors = reweighting_factors(self.plan, *sample)
        else:
            factors = sample.factors(c)
        return self.weights * factors.astype(self.weights.dtype, copy=False)

    def choose(self, c=None):
        """Per neuron, the trial whose candidate has the lowest mean relative
        error on T (one candidate at a time: only their errors are kept)."""
        if len(self.trials) == 1:
            return np.zeros(self.weights.shape[1], dtype=int)
        errors = np.vstack(
            [_relative_error(self.inputs @ self.candidate(t, c), self.reference) for t in range(len(self.trials))]
        )
        return np.argmin(errors, axis=0)

    def best(self, c=None):
        """Per neuron, the candidate with the lowest mean relative error on T."""
        choice = self.choose(c)
        chosen = self.candidate(0, c)
        for t in range(1, len(self.trials)):
            columns = choice == t
            if columns.any():
                chosen[:, columns] = self.candidate(t, c)[:, columns]
        return chosen, choice

    @staticmethod
    def combine(candidates, choice):
        """The matrix whose column i comes from candidate ``choice[i]``."""
        chosen = np.array(candidates[0], copy=True)
        for t in range(1, len(candidates)):
            columns = choice == t
            chosen[:, columns] = candidates[t][:, columns]
        return chosen

    def chosen(self, choice, c):
        """``combine`` of the candidates at c, computing each trial's factors
        only for the neurons that chose it."""
        if self.plan.layout != "neuron":
            return self.combine([self.candidate(t, c) for t in range(len(self.trials))], choice)
        trial_of_row = choice[self.plan.neuron_of_row()]
        factors = sum(sequence.factors(c, trial_of_row == t) for t, sequence in enumerate(self.trials))
        return self.weights * factors.astype(self.weights.dtype, copy=False)

    def thresholds(self, choice):
        """Entry thresholds of the chosen trial of every neuron."""
        return self.entries(choice)[0]

    def entries(self, choice):
        """Thresholds and flat layer indices of the entries of the chosen
        trial of every neuron (column of the layer)."""
        thresholds, indices = [], []
        n_out = self.weights.shape[1]
        for t, sequence in enumerate(self.trials):
            _, values = sequence.entry_thresholds()
            index = sequence.entry_layer_index()
            chosen = choice[index % n_out] == t
            thresholds.append(values[chosen])
            indices.append(index[chosen])
        if not thresholds:
            return np.empty(0), np.empty(0, dtype=np.int64)
        return np.concatenate(thresholds), np.concatenate(indices)


def sparsify_theory(plans, weights, sample_sizes, rng, n_trials=1, inputs=None):
    """Sparsify every layer with fixed sample sizes (theory mode).

    Parameters
    ----------
    plans : list of SamplingPlan
    weights : list of ndarray of shape (n_in + 1, n_out)
        Original weights with the bias row.
    sample_sizes : list of ndarray of shape (n_rows,)
        m_r per row of each plan.
    rng : numpy.random.Generator
    n_trials : int
        Candidates per neuron (CoreNet++ when > 1).
    inputs : list of ndarray or None
        Original activations on T feeding each layer (needed when
        ``n_trials > 1``).
    """
    layers = []
    for index, (plan, W, m) in enumerate(zip(plans, weights, sample_sizes, strict=True)):
        # when every row is kept whole there is nothing random to amplify
        sampled = ((m > 0) & ~plan.complete_rows(m)).any()
        trials = [multinomial_counts(plan, m, rng) for _ in range(n_trials if sampled else 1)]
        plan.release_solve_cache()  # read by the whole sizes only
        sampler = LayerSampler(plan, W, trials, None if inputs is None else inputs[index])
        layers.append(sampler.best()[0])
    return layers


#: Budget mode draws the sequences for this multiple of the allocation
#: constant of the expected budget: the realised count of kept edges at that
#: constant is within a few standard deviations (√budget) of the budget, far
#: below this margin; when the draws still hold too few edges, the constant is
#: doubled and the draw repeated.
DRAW_MARGIN = 1.1


def sparsify_to_budget(plans, weights, budget, c_hint, rng, n_trials=1, inputs=None):
    """Sparsify every layer so that exactly ``budget`` entries are kept.

    The draw sequences are drawn for an allocation constant slightly above
    ``c_hint`` (``DRAW_MARGIN``; doubled until they hold enough distinct
    entries), then the constant is set between two entry thresholds. With
    amplification, the candidates are compared at that constant, and the
    constant is then set again for the chosen candidates, so the budget holds
    exactly.

    Returns the list of sparsified weight matrices and the constant used.
    """
    if not np.isfinite(c_hint):
        c_hint = 1.0
    # below one edge per drawing row the budget cannot be met: every such row
    # keeps its first draw (the floor the compressor warns about)
    budget = max(budget, sum(int(np.count_nonzero(plan.drawing_rows)) for plan in plans))
    target = min(budget, sum(plan.capacity for plan in plans))
    # above this constant every row is whole: enough entries for any budget
    c_whole = max(float(np.max(p.whole_from[p.drawing_rows], initial=0.0)) for p in plans)
    c_max = max(c_hint, 1e-12) * DRAW_MARGIN
    while True:
        c_max = min(c_max, c_whole * (1 + 1e-9) + 1e-300)
        samplers = []
        for index, (plan, W) in enumerate(zip(plans, weights, strict=True)):
            cumulative = plan.shifted_cumulative()
            trials = [draw_sequence(plan, c_max, rng, cumulative) for _ in range(n_trials)]
            del cumulative
            samplers.append(LayerSampler(plan, W, trials, None if inputs is None else inputs[index]))
        # past c_whole every edge is in: keep what there is
        chosen = _choose(samplers, budget, c_max, n_trials, None if c_max >= c_whole else target)
        if chosen is not None:
            return chosen
        c_max *= 2


def _choose(samplers, budget, c_max, n_trials, needed=None):
    """The layers and the constant that keeps ``budget`` entries of the drawn sequences.

    None when a trial, or the mix of trials chosen per neuron, holds fewer
    than ``needed`` entries below ``c_max`` (the sequences must be drawn
    further).
    """

    def solve(choices):
        thresholds = np.concatenate([s.thresholds(ch) for s, ch in zip(samplers, choices, strict=True)])
        if needed is not None and thresholds.size < needed:
            return None
        return count_threshold(thresholds, budget, c_max)

    if needed is not None:
        # every trial must hold enough entries: the chosen candidates mix them
        held = min(sum(s.trials[t].entry_thresholds()[1].size for s in samplers) for t in range(n_trials))
        if held < needed:
            return None
    choices = [np.zeros(s.weights.shape[1], dtype=int) for s in samplers]
    c = solve(choices)
    if n_trials == 1:
        layers = [s.candidate(0, c) for s in samplers]
    else:
        choices = [s.choose(c) for s in samplers]
        c = solve(choices)
        if c is None:
            return None
        layers = [s.chosen(ch, c) for s, ch in zip(samplers, choices, strict=True)]
    return _trim_tie(layers, samplers, choices, c, budget), c


def _trim_tie(layers, samplers, choices, c, budget):
    """Keep exactly ``budget`` entries when the last ones entered together.

    A row that becomes whole adds all its not yet drawn edges at one value
    of the allocation constant; when they take the count past the budget,
    the row keeps its largest of them (at their original weights, as a
    whole row does) and drops the smallest.
    """
    surplus = sum(int(np.count_nonzero(W)) for W in layers) - budget
    if surplus <= 0:
        return layers
    parts = [s.entries(ch) for s, ch in zip(samplers, choices, strict=True)]
    last = max(float(np.max(t[t < c], initial=-np.inf)) for t, _ in parts)
    if last <= 0:
        # every row's first draw enters at 0: below one edge per row the
        # budget cannot be met (the compressor warns, and keeps them all)
        return layers
    candidates = [(layer, index[thresholds == last]) for layer, (thresholds, index) in enumerate(parts)]
    magnitude = np.concatenate([np.abs(layers[layer].ravel()[index]) for layer, index in candidates])
    owner = np.concatenate([np.full(index.size, layer) for layer, index in candidates])
    flat = np.concatenate([index for _, index in candidates])
    drop = np.argsort(magnitude, kind="stable")[:surplus]
    for layer in np.unique(owner[drop]):
        layers[layer].ravel()[flat[drop][owner[drop] == layer]] = 0
    return layers
