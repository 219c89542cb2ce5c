"""Draws from a sampling plan: the ordered draw sequences of a budget, and the multinomial counts and reweighting factors of one sample (Alg. 2, lines 6-10 of Baykal et al. 2019).

Every drawn edge is reweighted by ``count / (m_r q)``, which keeps each
neuron's value an unbiased estimate of the original. A row's draw sequence
lists its draws in order, so that the first ``m_r(c)`` of them are a
multinomial sample of that size for any allocation constant ``c``."""

from dataclasses import dataclass

import numpy as np
from sklearn.utils import gen_batches

from ..core._network import chunk_rows
from ._sampling import SamplingPlan


@dataclass
class DrawSequence:
    """Ordered draws of every row of a plan, up to ``m_r(c_max)`` draws each.

    What is kept is what later steps read, compactly: the entry of every
    draw (rows and positions follow from the sizes) and the thresholds of
    the entries that can be kept (see :meth:`entry_thresholds`).

    Attributes
    ----------
    sizes : ndarray of int of shape (n_rows,)
        Draws of every row.
    entries : ndarray of shape (n_draws,)
        Entry (index into the plan's candidate edges) of every draw,
        ordered by row, then draw order.
    kept, thresholds : ndarray
        The entries that can be kept (in entry order) and the allocation
        constant above which each is kept.
    c_max : float
        The allocation constant the sequence was drawn for.
    """

    plan: SamplingPlan
    sizes: np.ndarray
    entries: np.ndarray
    kept: np.ndarray
    thresholds: np.ndarray
    c_max: float

    @property
    def rows(self):
        """Row of every draw."""
        return np.repeat(np.arange(self.plan.n_rows, dtype=self.entries.dtype), self.sizes)

    @property
    def position(self):
        """Index of every draw within its row's sequence."""
        starts = np.cumsum(self.sizes) - self.sizes
        return (np.arange(self.entries.size) - np.repeat(starts, self.sizes)).astype(self.entries.dtype)

    @property
    def cols(self):
        """Column of every draw in its row."""
        return self.plan.probabilities.indices[self.entries]

    def entry_thresholds(self):
        """Every edge that can be kept, with the c above which it is kept.

        An edge whose first draw has position p in row r is kept when
        ``ceil(c α_r) > p``, i.e. when ``c > p / α_r``. A row that becomes
        whole (``m_r(c) ≥ whole_sizes[r]``) keeps all its edges from
        ``c > (whole_sizes[r] − 1) / α_r`` on, drawn or not.

        Returns
        -------
        rows, thresholds : ndarray
            The row of each such edge and its threshold.
        """
        rows = np.searchsorted(self.plan.probabilities.indptr, self.kept, side="right") - 1
        return rows, self.thresholds

    def entry_layer_index(self):
        """Flat index into the layer's (n_in + 1, n_out) matrix of every entry
        of :meth:`entry_thresholds`, in the same order."""
        rows, _ = self.entry_thresholds()
        return self.plan.layer_index(rows, self.plan.probabilities.indices[self.kept])

    def counts(self, c):
        """Draw counts per entry when rows take their first m_r(c) draws."""
        m = self._sizes(c)
        taken = self.position < m[self.rows]
        return np.bincount(self.entries[taken], minlength=self.plan.nnz), m

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
        drawn_rows = self.rows
        taken = self.position < m[drawn_rows]
        entries = self.entries[taken]
        drawn_rows = drawn_rows[taken]
        weights = (1.0 / plan.q[entries]) / m[drawn_rows]
        index = plan.layer_index(drawn_rows, plan.probabilities.indices[entries])
        factors = np.bincount(index, weights=weights, minlength=plan.shape[0] * plan.shape[1])
        complete = np.flatnonzero(plan.complete_rows(m))
        if complete.size:
            entries = plan.row_entries(complete)
            complete_rows = np.repeat(complete, plan.support_sizes[complete])
            factors[plan.layer_index(complete_rows, plan.probabilities.indices[entries])] = 1.0
        return factors.reshape(plan.shape)

    def _sizes(self, c):
        if c > self.c_max * (1 + 1e-12):
            raise ValueError("c beyond the drawn sequence")
        return self.plan.draws_for(c)


def draw_sequence(plan, c_max, rng, cumulative=None):
    """Draw ``m_r(c_max)`` ordered samples for every row of ``plan``.

    Inverse-CDF sampling of all rows at once: the rows' cumulative
    distributions are laid end to end (row r shifted by r), so one
    ``searchsorted`` serves every draw. ``cumulative``, the plan's
    :meth:`~SamplingPlan.shifted_cumulative`, is computed when None (pass it
    to draw several sequences of one plan).
    """
    # draws past the size that keeps a row whole are never used
    m = np.minimum(plan.draws_for(c_max), np.maximum(plan.whole_sizes - 1, 0))
    n_rows, n_entries = plan.n_rows, plan.nnz
    index_type = np.int32 if max(n_rows, n_entries, int(m.sum())) < 2**31 else np.int64
    rows = np.repeat(np.arange(n_rows, dtype=index_type), m)
    targets = rows + rng.random(rows.size)
    if cumulative is None:
        cumulative = plan.shifted_cumulative()
    entries = np.searchsorted(cumulative, targets, side="right")
    del targets
    # a draw that round-off puts past its row's last entry takes that entry
    entries = np.minimum(entries, plan.probabilities.indptr[1:][rows] - 1).astype(index_type)
    # first draw of every entry, in entry order
    if rows.size < n_entries:
        _, first = np.unique(entries, return_index=True)
    else:  # a scatter-min: no sort of the many draws
        first = np.full(n_entries, rows.size, dtype=np.int64)
        np.minimum.at(first, entries, np.arange(rows.size))
        first = first[first < rows.size]
    first_rows = rows[first]
    del rows
    starts = np.cumsum(m) - m
    position = first - starts[first_rows]
    # thresholds of every entry: its first draw's, or its row's when the row turns whole
    thresholds = np.full(n_entries, np.inf)
    thresholds[entries[first]] = position.astype(index_type) / plan.allocation[first_rows]
    del first, first_rows, position
    whole_from = plan.whole_from
    reachable = np.flatnonzero(whole_from < c_max)
    if reachable.size:
        # a row that becomes whole keeps every candidate edge from whole_from on
        row_entries = plan.row_entries(reachable)
        whole = np.repeat(whole_from[reachable], plan.support_sizes[reachable])
        thresholds[row_entries] = np.minimum(thresholds[row_entries], whole)
    kept = np.flatnonzero(np.isfinite(thresholds)).astype(index_type)
    return DrawSequence(plan, m, entries, kept, thresholds[kept], float(c_max))


def multinomial_counts(plan, m, rng, working_memory=None):
    """Counts of ``m_r`` draws with replacement per row (Alg. 2, lines 5-7).

    Used when sample sizes come from the theory: ``m_r`` may be huge and the
    multinomial draw costs the same for any size. Returns the count of
    every entry (candidate edge) and the sizes used; rows are drawn in
    order, in blocks that fit ``working_memory``.
    """
    m = np.where(plan.support_sizes > 0, m, 0)
    counts = np.zeros(plan.nnz, dtype=np.int64)
    # rows kept whole need no draw (their counts are not used)
    drawn = np.flatnonzero((m > 0) & ~plan.complete_rows(m))
    rows_per_block = chunk_rows(3 * plan.n_cols * 8, drawn.size, working_memory)
    indices = plan.probabilities.indices
    for block in gen_batches(drawn.size, rows_per_block) if drawn.size else ():
        rows = drawn[block]
        probabilities = plan.probabilities[rows].toarray()
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        sample = rng.multinomial(m[rows], probabilities)
        entries = plan.row_entries(rows)
        local = np.repeat(np.arange(rows.size), plan.support_sizes[rows])
        # numpy gives the last category whatever rounding leaves of the mass;
        # with huge m that can be a draw of an edge outside the support: only
        # the entries are read
        counts[entries] = sample[local, indices[entries]]
    return counts, m


def reweighting_factors(plan, counts, m):
    """Factor applied to every original weight: count / (m_r q) (Alg. 2, line 9).

    ``counts`` are per entry (see :func:`multinomial_counts`). A row whose
    sample size keeps it whole (``plan.complete_rows``) keeps its edges at
    their original weights (factor 1). Returns an array of shape
    ``plan.shape``.
    """
    rows = plan.entry_rows
    factors = np.zeros(plan.nnz)
    np.divide(counts, m[rows] * plan.q, out=factors, where=counts > 0)
    factors[plan.complete_rows(m)[rows]] = 1.0
    return plan.entries_to_layer(factors)
