"""Importance sampling of edges with reweighting (Alg. 2, lines 3-10).

A layer is sparsified by independent sampling problems, its *rows*: for the
CoreNet family a row is one neuron's positive (or negative) incoming edges;
for the whole-matrix baselines of the paper a row is the entire layer. Row r
draws ``m_r`` edges with replacement from its distribution ``q_r`` and every
drawn edge is reweighted by ``count / (m_r q)``, which keeps each neuron's
value an unbiased estimate of the original.

Budgets are met exactly with *draw sequences*: each row's draws are generated
in order, and the row takes the first ``m_r(c) = ceil(c · α_r)`` of them, for
one allocation constant ``c`` shared by all rows (``α_r`` says how the rows
share the draws). Each edge enters the sample at the value of ``c`` where its
first draw is reached, so the number of distinct kept edges is a step function
of ``c`` whose steps are known: choosing ``c`` between two steps keeps exactly
the requested number of edges. For each fixed ``c`` the rows are ordinary
multinomial samples of size ``m_r(c)``.
"""

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

BUDGET_DRAWS_PER_EDGE = 8
"""In budget mode a row is kept whole once it draws this many times its edges.

A uniform row of n edges is whole after about n log(2n) draws under the
half-an-edge rule; rows with far-skewed probabilities would need up to
1/min(q) draws, which a large budget could ask for. The cap bounds the draws
(and their memory) by 8 per candidate edge; it depends on m only, so the
estimate stays unbiased.
"""


@dataclass(frozen=True, eq=False)
class SamplingPlan:
    """The sampling problems of one layer (immutable; derived arrays are cached).

    Parameters
    ----------
    probabilities : ndarray of shape (n_rows, n_cols)
        Row r's distribution q_r over its candidate edges; rows sum to one or
        are all zero (nothing to sample).
    allocation : ndarray of shape (n_rows,)
        α_r ≥ 0: row r gets ``ceil(c · α_r)`` draws for allocation constant c.
    layout : {"neuron", "matrix"}
        "neuron": row ``r = sign · n_out + i`` holds the edges into neuron i
        (column j is input j, the bias last). "matrix": a single row over all
        entries of the layer, in row-major order.
    shape : tuple
        Shape of the layer's weight matrix with the bias row, (n_in + 1, n_out).
    max_draws_per_edge : float, default=inf
        A row with this many draws per edge is kept whole (budget mode uses
        ``BUDGET_DRAWS_PER_EDGE``).
    """

    probabilities: np.ndarray
    allocation: np.ndarray
    layout: str
    shape: tuple
    max_draws_per_edge: float = np.inf

    def for_budget(self, allocation, max_draws_per_edge):
        """The plan of budget mode: this allocation and draw cap, with the
        per-row quantities every trial's draw and every step of the
        allocation solve read computed now (so that a cache of the plan
        holds them)."""
        plan = replace(self, allocation=allocation, max_draws_per_edge=max_draws_per_edge)
        for quantity in ("whole_sizes", "whole_from", "entry_allocation", "shifted_cumulative"):
            getattr(plan, quantity)
        return plan

    @property
    def n_rows(self):
        return self.probabilities.shape[0]

    @property
    def n_cols(self):
        return self.probabilities.shape[1]

    @cached_property
    def support_log_miss(self):
        """Row of every candidate edge and log(1 − q).

        log(1 − q) is floored at −1e300 (q = 1) so that (1 − q)^m is
        exp(m log(1 − q)) for every m without special cases.
        """
        rows, cols = np.nonzero(self.probabilities)
        with np.errstate(divide="ignore"):
            log_miss = np.maximum(np.log1p(-self.probabilities[rows, cols]), -1e300)
        index_type = np.int32 if self.n_rows < 2**31 else np.int64
        return rows.astype(index_type), log_miss

    @cached_property
    def entry_allocation(self):
        """α of the row of every candidate edge (read once the allocation is final).

        With :attr:`support_log_miss`, what
        :func:`~._sample_size.expected_kept` reads at every step of the
        allocation solve.
        """
        return self.allocation[self.support_log_miss[0]]

    @cached_property
    def support_sizes(self):
        """Number of candidate edges of every row."""
        return np.count_nonzero(self.probabilities, axis=1)

    @cached_property
    def shifted_cumulative(self):
        """The rows' cumulative distributions end to end, row r shifted by r (flat).

        A uniform draw u for row r is the first entry above ``r + u``.
        """
        cumulative = np.cumsum(self.probabilities, axis=1)
        last = cumulative[:, -1:]
        np.divide(cumulative, last, out=cumulative, where=last > 0)
        cumulative += np.arange(self.n_rows)[:, np.newaxis]
        return cumulative.ravel()

    @property
    def drawing_rows(self):
        """Rows that draw (candidate edges and a share of the draws)."""
        return (self.support_sizes > 0) & (self.allocation > 0)

    @property
    def capacity(self):
        """Number of edges sampling can keep: the candidate edges of the drawing rows."""
        return int(self.support_sizes[self.drawing_rows].sum())

    def expected_missed(self, m, rows):
        """Σ_j (1 − q_rj)^{m_r} for the rows selected by the mask ``rows``."""
        value, _ = self._missed_and_slope(m, rows, slope=False)
        return value

    def _missed_and_slope(self, m, rows, slope=True):
        """Σ_j (1 − q_rj)^{m_r} and its derivative in m_r, for the rows of the mask."""
        entry_rows, log_miss = self.support_log_miss
        selected = rows[entry_rows]
        entry_rows, log_miss = entry_rows[selected], log_miss[selected]
        with np.errstate(over="ignore"):  # m log(1 − q) below −1e308: (1 − q)^m is 0
            terms = np.exp(m[entry_rows] * log_miss)
        value = np.bincount(entry_rows, weights=terms, minlength=self.n_rows)
        if not slope:
            return value, None
        return value, np.bincount(entry_rows, weights=terms * log_miss, minlength=self.n_rows)

    def complete_rows(self, m):
        """Rows whose sample size keeps them whole: ``m >= whole_sizes``.

        Row r is kept whole (all its edges at their original weights) when
        fewer than half an edge is expected to be missed by its m_r draws,
        Σ_j (1 − q_rj)^{m_r} ≤ 1/2 (which needs m_r ≥ its number of edges),
        or when m_r reaches ``max_draws_per_edge`` times its number of edges.
        The rule depends on m only, never on the draw, so the estimate stays
        unbiased.
        """
        m = np.asarray(m)
        return (m >= self.whole_sizes) & self.drawing_rows

    @cached_property
    def whole_sizes(self):
        """The smallest m that keeps each row whole (:meth:`complete_rows`); 0 for empty rows.

        Newton's method on the convex, decreasing Σ_j (1 − q_rj)^m − 1/2
        from m = (number of edges) approaches the root from below; an
        integer step then makes it exact. Sizes are capped at
        ``max_draws_per_edge`` times the number of edges and at 2**62 (rows
        with edges of q < ~1e-18 are never whole otherwise).
        """
        sizes = self.support_sizes.astype(np.float64)
        rows = sizes > 0
        ceiling = np.minimum(sizes * min(self.max_draws_per_edge, 2.0**62), 2.0**62)
        ceiling = np.maximum(np.ceil(ceiling), sizes)
        x = sizes.copy()
        moving = rows.copy()  # rows whose Newton iterate still moves
        for _ in range(200):
            value, slope = self._missed_and_slope(x, moving)
            moving &= (value > 0.5) & (x < ceiling)
            if not moving.any():
                break
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                step = np.where(moving, (value - 0.5) / -slope, 0.0)
            step = np.where(np.isfinite(step), step, ceiling)
            x = np.where(moving, np.minimum(x + step, ceiling), x)
            moving &= step > np.maximum(0.25, x * 1e-12)
        # integer fix-up: smallest integer m >= size with at most half an edge missed
        m = np.minimum(np.maximum(np.ceil(x), sizes), ceiling)
        for _ in range(64):
            value = self.expected_missed(m, rows)
            short = rows & (value > 0.5) & (m < ceiling)
            if not short.any():
                break
            m = np.where(short, m + np.maximum(1, np.floor(m * 1e-12)), m)
        lower = np.maximum(m - 1, sizes)
        value = self.expected_missed(lower, rows)
        m = np.where(rows & (lower < m) & (value <= 0.5), lower, m)
        return np.where(rows, np.minimum(m, ceiling), 0).astype(np.int64)

    @cached_property
    def whole_from(self):
        """The allocation constant above which each row is whole; inf for rows that do not draw.

        Row r is whole when ``ceil(c α_r) >= whole_sizes[r]``, i.e. when
        ``c > (whole_sizes[r] − 1) / α_r`` (read once the allocation is final).
        """
        drawing = self.drawing_rows
        whole_from = np.full(self.n_rows, np.inf)
        whole_from[drawing] = (self.whole_sizes[drawing] - 1) / self.allocation[drawing]
        return whole_from

    def draws_for(self, c):
        """m_r = ceil(c · α_r), as int64: the draws p with p / α_r < c.

        Computed as the entry thresholds are (``p / α_r``), so that the draws
        taken at c and the entries counted below c agree to the last bit.
        """
        c = np.asarray(c, dtype=np.float64)
        alpha = self.allocation
        m = np.ceil(c * alpha)
        drawing = alpha > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            m = np.where(drawing & (m / alpha < c), m + 1, m)
            m = np.where(drawing & (m >= 1) & ((m - 1) / alpha >= c), m - 1, m)
        return m.astype(np.int64)

    def to_layer(self, values):
        """Map per-(row, col) values of shape (n_rows, n_cols) onto the layer.

        Rows covering the same entry add up (in the neuron layout the positive
        and negative rows of a neuron cover disjoint edges).
        """
        n_in1, n_out = self.shape
        if self.layout == "neuron":
            values = values.reshape(-1, n_out, n_in1).sum(axis=0)
            return values.T
        return values.sum(axis=0).reshape(n_in1, n_out)

    def layer_index(self, rows, cols):
        """Flat index into the layer's (n_in + 1, n_out) matrix of (row, col) pairs."""
        if self.layout == "neuron":
            return cols.astype(np.int64) * self.shape[1] + rows % self.shape[1]
        return cols.astype(np.int64)

    def neuron_of_row(self):
        """The neuron (column of the layer) each row belongs to; neuron layout only."""
        return np.arange(self.n_rows) % self.shape[1]


def neuron_plan(scores, weight_sign, allocation_per_neuron, active=None):
    """A neuron-layout plan: per neuron and sign, q ∝ scores (Alg. 2, line 3).

    Parameters
    ----------
    scores : ndarray of shape (n_in + 1, n_out)
        Non-negative importance of every edge (the empirical sensitivity for
        CoreNet, a constant for the uniform baseline).
    weight_sign : ndarray of shape (n_in + 1, n_out)
        Sign of each edge; zero weights are never sampled.
    allocation_per_neuron : ndarray of shape (2, n_out)
        α for the positive and the negative row of each neuron.
    active : ndarray of bool of shape (n_out,), default=None
        Neurons to sparsify; the rows of the others are empty (CoreNet+
        removes them).
    """
    n_in1, n_out = scores.shape
    rows = []
    for sign in (1, -1):
        part = np.where(weight_sign == sign, scores, 0).T  # (n_out, n_in + 1)
        if active is not None:
            part = part * active[:, np.newaxis]
        rows.append(part)
    probabilities = np.vstack(rows).astype(np.float64)
    totals = probabilities.sum(axis=1)
    np.divide(probabilities, totals[:, np.newaxis], out=probabilities, where=totals[:, np.newaxis] > 0)
    allocation = np.asarray(allocation_per_neuron, dtype=np.float64).reshape(-1).copy()
    allocation[totals == 0] = 0
    return SamplingPlan(probabilities, allocation, "neuron", (n_in1, n_out))


def matrix_plan(probabilities, allocation):
    """A single whole-layer sampling problem over all entries (Appendix B.1)."""
    flat = np.asarray(probabilities, dtype=np.float64)
    total = flat.sum()
    row = (flat / total if total > 0 else flat).reshape(1, -1)
    return SamplingPlan(row, np.array([allocation if total > 0 else 0.0]), "matrix", flat.shape)


@dataclass
class DrawSequence:
    """Ordered draws of every row of a plan, up to ``m_r(c_max)`` draws each.

    Attributes
    ----------
    rows, cols : ndarray of shape (n_draws,)
        Row and column of every draw, ordered by row, then draw order.
    position : ndarray of shape (n_draws,)
        Index of the draw within its row's sequence.
    first : ndarray of int
        Indices (into the draws) of the first draw of each distinct
        (row, col): the edges in the sample.
    c_max : float
        The allocation constant the sequence was drawn for.
    """

    plan: SamplingPlan
    rows: np.ndarray
    cols: np.ndarray
    position: np.ndarray
    first: np.ndarray
    c_max: float

    def entry_thresholds(self):
        """Every edge that can be kept, with the c above which it is kept.

        Computed once per sequence.

        An edge whose first draw has position p in row r is kept when
        ``ceil(c α_r) > p``, i.e. when ``c > p / α_r``. A row that becomes
        whole (``m_r(c) ≥ whole_sizes[r]``) keeps all its edges from
        ``c > (whole_sizes[r] − 1) / α_r`` on, drawn or not.

        Returns
        -------
        rows, thresholds : ndarray
            The row of each such edge and its threshold.
        """
        return self._entries[:2]

    def entry_layer_index(self):
        """Flat index into the layer's (n_in + 1, n_out) matrix of every entry
        of :meth:`entry_thresholds`, in the same order."""
        return self._entries[2]

    @cached_property
    def _entries(self):
        plan = self.plan
        rows = self.rows[self.first]
        thresholds = np.full(plan.n_rows * plan.n_cols, np.inf)
        thresholds[rows * plan.n_cols + self.cols[self.first]] = (
            self.position[self.first] / plan.allocation[rows]
        )
        whole_from = plan.whole_from
        reachable = np.flatnonzero(whole_from < self.c_max)
        if reachable.size:
            # a row that becomes whole keeps every candidate edge from whole_from on
            block = thresholds.reshape(plan.n_rows, plan.n_cols)
            whole = np.where(plan.probabilities[reachable] > 0, whole_from[reachable, np.newaxis], np.inf)
            block[reachable] = np.minimum(block[reachable], whole)
        keys = np.flatnonzero(np.isfinite(thresholds))
        rows, cols = keys // plan.n_cols, keys % plan.n_cols
        return rows, thresholds[keys], plan.layer_index(rows, cols)

    def counts(self, c):
        """Draw counts per (row, col) when rows take their first m_r(c) draws."""
        m = self._sizes(c)
        taken = self.position < m[self.rows]
        keys = self.rows[taken].astype(np.int64) * self.plan.n_cols + self.cols[taken]
        counts = np.bincount(keys, minlength=self.plan.n_rows * self.plan.n_cols)
        return counts.reshape(self.plan.n_rows, self.plan.n_cols), m

    def factors(self, c, rows=None):
        """Reweighting factors of the layer at c; same as
        ``reweighting_factors(plan, *self.counts(c))`` in one pass over the draws.

        ``rows``, a boolean mask over the plan's rows, restricts the factors
        to those rows (the others' entries are zero).
        """
        plan = self.plan
        m = self._sizes(c)
        if rows is not None:
            m = np.where(rows, m, 0)  # a row of no draws takes nothing
        taken = self.position < m[self.rows]
        index, inverse_q = self._layer_draws
        weights = inverse_q[taken] / m[self.rows[taken]]
        size = plan.shape[0] * plan.shape[1]
        factors = np.bincount(index[taken], weights=weights, minlength=size)
        complete = np.flatnonzero(plan.complete_rows(m))
        if complete.size:
            support_rows, support_cols = np.nonzero(plan.probabilities[complete])
            factors[plan.layer_index(complete[support_rows], support_cols)] = 1.0
        return factors.reshape(plan.shape)

    @cached_property
    def _layer_draws(self):
        """Layer index and 1 / q of every draw (read by each :meth:`factors` call)."""
        index = self.plan.layer_index(self.rows, self.cols)
        return index, 1.0 / self.plan.probabilities[self.rows, self.cols]

    def _sizes(self, c):
        if c > self.c_max * (1 + 1e-12):
            raise ValueError("c beyond the drawn sequence")
        return self.plan.draws_for(c)


def draw_sequence(plan, c_max, rng):
    """Draw ``m_r(c_max)`` ordered samples for every row of ``plan``.

    Inverse-CDF sampling of all rows at once: the rows' cumulative
    distributions are laid end to end (row r shifted by r), so one
    ``searchsorted`` serves every draw.
    """
    # draws past the size that keeps a row whole are never used
    m = np.minimum(plan.draws_for(c_max), np.maximum(plan.whole_sizes - 1, 0))
    n_rows, n_cols = plan.probabilities.shape
    index_type = np.int32 if max(n_rows, n_cols, int(m.max(initial=0))) < 2**31 else np.int64
    rows = np.repeat(np.arange(n_rows, dtype=index_type), m)
    starts = np.concatenate([[0], np.cumsum(m)[:-1]])
    position = (np.arange(rows.size) - np.repeat(starts, m)).astype(index_type)
    targets = rows + rng.random(rows.size)
    index = np.searchsorted(plan.shifted_cumulative, targets, side="right")
    cols = np.minimum(index - rows.astype(np.int64) * n_cols, n_cols - 1).astype(index_type)
    keys = rows.astype(np.int64) * n_cols + cols
    # first draw of every (row, col), in key order: a scatter-min, no sort
    first = np.full(n_rows * n_cols, rows.size, dtype=np.int64)
    np.minimum.at(first, keys, np.arange(rows.size))
    first = first[first < rows.size]
    return DrawSequence(plan, rows, cols, position, first, float(c_max))


def multinomial_counts(plan, m, rng):
    """Counts of ``m_r`` draws with replacement per row (Alg. 2, lines 5-7).

    Used when sample sizes come from the theory: ``m_r`` may be huge and the
    multinomial draw costs the same for any size.
    """
    m = np.where(plan.support_sizes > 0, m, 0)
    counts = np.zeros(plan.probabilities.shape, dtype=np.int64)
    # rows kept whole need no draw (their counts are not used)
    drawn = (m > 0) & ~plan.complete_rows(m)
    if drawn.any():
        probabilities = plan.probabilities[drawn]
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        sample = rng.multinomial(m[drawn], probabilities)
        # numpy gives the last category whatever rounding leaves of the mass;
        # with huge m that can be a draw of an edge outside the support
        sample[probabilities == 0] = 0
        counts[drawn] = sample
    return counts, m


def reweighting_factors(plan, counts, m):
    """Factor applied to every original weight: count / (m_r q) (Alg. 2, line 9).

    A row whose sample size keeps it whole (``plan.complete_rows``) keeps its
    edges at their original weights (factor 1). Returns an array of shape
    ``plan.shape``.
    """
    q = plan.probabilities
    factors = np.zeros_like(q)
    denominator = m[:, np.newaxis] * q
    np.divide(counts, denominator, out=factors, where=counts > 0)
    complete = plan.complete_rows(m)
    factors[complete] = q[complete] > 0
    return plan.to_layer(factors)
