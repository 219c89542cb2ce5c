"""Held-out points: which rows a compression has seen, and splits that respect it.

A certificate is only worth something on points that played no part in the
compression. Rows are recognised by a 64-bit key of their values, so that a
compressor can remember which rows it saw without keeping them, and so that a
row given twice (a duplicate in the data) never lands on both sides of a
split.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.utils import gen_batches

from ._network import chunk_rows
from ._rows import LazyRows

#: Seeds the per-column salts of :func:`row_keys` (fixed: keys must agree
#: between a fit and a later certificate).
_KEY_SEED = 20190501


def _mix(bits):
    """The splitmix64 finaliser, in place on a uint64 array: a bijection that
    spreads every input bit over the whole word."""
    bits ^= bits >> np.uint64(30)
    bits *= np.uint64(0xBF58476D1CE4E5B9)
    bits ^= bits >> np.uint64(27)
    bits *= np.uint64(0x94D049BB133111EB)
    bits ^= bits >> np.uint64(31)
    return bits


def _salts(n_features):
    return np.random.default_rng(_KEY_SEED).integers(
        1, 2**63, size=n_features, dtype=np.uint64
    )


def _contributions(values, columns, salts):
    """Each entry's share of its row's key; a zero entry contributes 0, so
    that dense and sparse copies of a row get the same key."""
    bits = (np.asarray(values, dtype=np.float64) + 0.0).view(np.uint64)  # -0.0 is 0.0
    salted = salts[columns]
    return _mix(bits ^ salted) - _mix(salted.copy())


def row_keys(X, working_memory=None):
    """A 64-bit key per row of ``X``, equal for rows with equal values.

    Two different rows share a key with probability about 2⁻⁶⁴ (each value's
    bits are salted by its column and mixed, then summed modulo 2⁶⁴).

    Parameters
    ----------
    X : {ndarray, sparse matrix, LazyRows} of shape (n_samples, n_features)
        Numeric rows; float32 values are compared as float32.
    working_memory : int, default=None
        Memory budget in MiB for one chunk of rows.

    Returns
    -------
    ndarray of uint64 of shape (n_samples,)
    """
    salts = _salts(X.shape[1])
    if sp.issparse(X):
        X = sp.csr_array(X, copy=True)
        X.sum_duplicates()
        X.eliminate_zeros()
        parts = _contributions(X.data, X.indices, salts)
        totals = np.concatenate([[np.uint64(0)], np.cumsum(parts, dtype=np.uint64)])
        return totals[X.indptr[1:]] - totals[X.indptr[:-1]]
    if not isinstance(X, LazyRows):  # read a chunk at a time, never whole
        X = np.asarray(X)
    keys = np.empty(X.shape[0], dtype=np.uint64)
    columns = np.arange(X.shape[1])
    # a chunk's rows (and, read lazily, as stored), their bits, the mixed bits
    rows = chunk_rows(5 * 8 * max(X.shape[1], 1), X.shape[0], working_memory)
    for batch in gen_batches(X.shape[0], rows):
        keys[batch] = _contributions(X[batch], columns, salts).sum(axis=1, dtype=np.uint64)
    return keys


def split_held_out(keys, fraction, random):
    """Rows to compress with and rows held out, copies of a row kept together.

    Parameters
    ----------
    keys : ndarray of uint64 of shape (n_samples,)
        :func:`row_keys` of the rows.
    fraction : float
        Share of the distinct rows held out, in (0, 1).
    random : numpy.random.RandomState
        Chooses the held-out rows.

    Returns
    -------
    fit_rows, held_out_rows : ndarray of int
        Row indices, each in increasing order; a row and its copies are all
        on the same side.
    """
    distinct, group = np.unique(keys, return_inverse=True)
    n_held_out = int(round(fraction * distinct.size))
    held_out_groups = np.zeros(distinct.size, dtype=bool)
    held_out_groups[random.permutation(distinct.size)[:n_held_out]] = True
    held_out = held_out_groups[group]
    return np.flatnonzero(~held_out), np.flatnonzero(held_out)


def seen_rows(keys, seen_keys):
    """Boolean mask of the rows whose key is among ``seen_keys``."""
    return np.isin(keys, seen_keys)
