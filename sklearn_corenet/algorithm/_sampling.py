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

A plan stores its rows' distributions sparsely (the *entries* of a row are
its candidate edges): every edge of a layer is a candidate of one row at
most, so the plan takes about what the layer's weights take, and the
per-entry quantities of the budget solve are released once it is solved.
"""

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import scipy.sparse as sp
from sklearn.utils import gen_batches

from ..core._network import chunk_rows

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
    probabilities : {sparse matrix, ndarray} of shape (n_rows, n_cols)
        Row r's distribution q_r over its candidate edges; rows sum to one or
        are all zero (nothing to sample). Stored as a ``csr_array`` whose
        non-zeros are the candidate edges, the *entries*, in row-major order
        (a dense array is converted).
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

    probabilities: sp.csr_array
    allocation: np.ndarray
    layout: str
    shape: tuple
    max_draws_per_edge: float = np.inf

    def __post_init__(self):
        q = self.probabilities
        if not isinstance(q, sp.csr_array):
            q = sp.csr_array(q if sp.issparse(q) else np.asarray(q, dtype=np.float64))
            q.eliminate_zeros()
            q.sort_indices()
            object.__setattr__(self, "probabilities", q)

    def for_budget(self, allocation, max_draws_per_edge):
        """The plan of budget mode: this allocation and draw cap, with the
        per-row quantities every trial's draw and every step of the
        allocation solve read computed now (so that a cache of the plan
        holds them)."""
        plan = replace(self, allocation=allocation, max_draws_per_edge=max_draws_per_edge)
        for quantity in ("whole_sizes", "whole_from"):
            getattr(plan, quantity)
        return plan

    @property
    def n_rows(self):
        return self.probabilities.shape[0]

    @property
    def n_cols(self):
        return self.probabilities.shape[1]

    @property
    def q(self):
        """q of every entry (candidate edge), row by row."""
        return self.probabilities.data

    @property
    def nnz(self):
        """Number of entries (candidate edges) of all rows."""
        return self.probabilities.nnz

    @property
    def entry_rows(self):
        """The row of every entry (computed on demand)."""
        index_type = np.int32 if self.n_rows < 2**31 else np.int64
        return np.repeat(np.arange(self.n_rows, dtype=index_type), self.support_sizes)

    def row_entries(self, rows):
        """Indices of the entries of ``rows`` (row indices, increasing), row by row."""
        indptr = self.probabilities.indptr
        sizes = self.support_sizes[rows]
        starts = np.repeat(indptr[rows].astype(np.int64) - np.cumsum(sizes) + sizes, sizes)
        return starts + np.arange(int(sizes.sum()))

    @cached_property
    def _log_miss(self):
        """log(1 − q) of every entry, floored at −1e300 (q = 1) so that
        (1 − q)^m is exp(m log(1 − q)) for every m without special cases.

        Cached for the budget solve and the whole sizes, and released by
        :meth:`release_solve_cache` once they are done.
        """
        with np.errstate(divide="ignore"):
            return np.maximum(np.log1p(-self.q), -1e300)

    def release_solve_cache(self):
        """Forget the per-entry quantities only the budget solve reads."""
        self.__dict__.pop("_log_miss", None)

    @property
    def support_log_miss(self):
        """Row of every entry and log(1 − q) (see :attr:`_log_miss`)."""
        return self.entry_rows, self._log_miss

    @property
    def entry_allocation(self):
        """α of the row of every entry (read by
        :func:`~._sample_size.expected_kept` at every step of the solve)."""
        return self.allocation[self.entry_rows]

    @cached_property
    def support_sizes(self):
        """Number of candidate edges of every row."""
        return np.diff(self.probabilities.indptr).astype(np.int64)

    def shifted_cumulative(self, working_memory=None):
        """The rows' cumulative distributions at their entries, row r shifted by r.

        A uniform draw u for row r is the first entry above ``r + u``. The
        sums run over each row in full (its other columns add zero), blocks
        of rows at a time within ``working_memory``.
        """
        out = np.empty(self.nnz)
        indptr, indices = self.probabilities.indptr, self.probabilities.indices
        rows_per_block = chunk_rows(3 * self.n_cols * 8, self.n_rows, working_memory)
        for block in gen_batches(self.n_rows, rows_per_block):
            cumulative = np.cumsum(self.probabilities[block].toarray(), axis=1)
            last = cumulative[:, -1:]
            np.divide(cumulative, last, out=cumulative, where=last > 0)
            cumulative += np.arange(block.start, block.stop)[:, np.newaxis]
            lo, hi = indptr[block.start], indptr[block.stop]
            local = np.repeat(np.arange(block.stop - block.start), self.support_sizes[block])
            out[lo:hi] = cumulative[local, indices[lo:hi]]
        return out

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

    def _missed_and_slope(self, m, rows, slope=True, working_memory=None):
        """Σ_j (1 − q_rj)^{m_r} and its derivative in m_r, for the rows of the mask.

        Summed over blocks of whole rows that fit ``working_memory`` (each
        row's terms add up in entry order, as in one pass).
        """
        value = np.zeros(self.n_rows)
        derivative = np.zeros(self.n_rows) if slope else None
        selected = np.flatnonzero(rows)
        if selected.size == 0:
            return value, derivative
        # blocks of rows holding about the entries that fit working_memory
        ends = np.cumsum(self.support_sizes[selected])
        per_block = chunk_rows(40, int(ends[-1]), working_memory)
        cuts = np.searchsorted(ends, np.arange(per_block, int(ends[-1]), per_block), side="left")
        for block in np.split(selected, np.unique(cuts + 1)):
            if block.size == 0:
                continue
            entries = self.row_entries(block)
            entry_rows = np.repeat(block, self.support_sizes[block])
            log_miss = self._log_miss[entries]
            with np.errstate(over="ignore"):  # m log(1 − q) below −1e308: (1 − q)^m is 0
                terms = np.exp(m[entry_rows] * log_miss)
            value += np.bincount(entry_rows, weights=terms, minlength=self.n_rows)
            if slope:
                derivative += np.bincount(entry_rows, weights=terms * log_miss, minlength=self.n_rows)
        return value, derivative

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


    def entries_to_layer(self, values):
        """Per-entry values on the layer's (n_in + 1, n_out) matrix, zero elsewhere.

        Every edge is an entry of one row at most (in the neuron layout the
        positive and negative rows of a neuron cover disjoint edges).
        """
        layer = np.zeros(self.shape[0] * self.shape[1], dtype=np.asarray(values).dtype)
        layer[self.layer_index(self.entry_rows, self.probabilities.indices)] = values
        return layer.reshape(self.shape)


def neuron_plan(scores, weight_sign, allocation_per_neuron, active=None, working_memory=None):
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
    working_memory : int, default=None
        The rows are normalised in blocks that fit this many MiB.
    """
    n_in1, n_out = scores.shape
    if active is None:
        active = np.ones(n_out, dtype=bool)
    # at most one entry per edge: its sign's row (upper bound, exact unless q underflows)
    candidates = (weight_sign != 0) & (scores > 0) & active[np.newaxis, :]
    data = np.empty(int(np.count_nonzero(candidates)))
    index_type = np.int32 if max(n_in1, data.size) < 2**31 else np.int64
    indices = np.empty(data.size, dtype=index_type)
    del candidates
    totals = np.empty(2 * n_out)
    counts = np.empty(2 * n_out, dtype=np.int64)
    filled = 0
    neurons_per_block = chunk_rows(6 * n_in1 * 8, n_out, working_memory)
    for sign_index, sign in enumerate((1, -1)):
        for block in gen_batches(n_out, neurons_per_block):
            part = np.where(weight_sign[:, block] == sign, scores[:, block], 0) * active[np.newaxis, block]
            # the rows of the block, contiguous: each row sums as a whole row does
            rows = np.ascontiguousarray(part.T, dtype=np.float64)
            row_totals = rows.sum(axis=1)
            np.divide(rows, row_totals[:, np.newaxis], out=rows, where=row_totals[:, np.newaxis] > 0)
            local, columns = np.nonzero(rows)
            end = filled + local.size
            data[filled:end] = rows[local, columns]
            indices[filled:end] = columns
            filled = end
            first = sign_index * n_out
            totals[first + block.start : first + block.stop] = row_totals
            counts[first + block.start : first + block.stop] = np.bincount(local, minlength=rows.shape[0])
    # indices and pointers of one integer type: scipy would copy them to match
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(index_type)
    probabilities = sp.csr_array((data[:filled], indices[:filled], indptr), shape=(2 * n_out, n_in1))
    allocation = np.asarray(allocation_per_neuron, dtype=np.float64).reshape(-1).copy()
    allocation[totals == 0] = 0
    return SamplingPlan(probabilities, allocation, "neuron", (n_in1, n_out))


def matrix_plan(probabilities, allocation):
    """A single whole-layer sampling problem over all entries (Appendix B.1)."""
    flat = np.asarray(probabilities, dtype=np.float64)
    total = flat.sum()
    row = sp.csr_array((flat / total if total > 0 else flat).reshape(1, -1))
    row.eliminate_zeros()
    return SamplingPlan(row, np.array([allocation if total > 0 else 0.0]), "matrix", flat.shape)


