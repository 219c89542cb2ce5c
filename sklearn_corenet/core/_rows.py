"""Calibration data read a chunk of rows at a time, converted as it is read.

Compression reads its calibration data in row chunks (statistics on a
subsample, the forward passes that check it, the least-squares re-fit).
Data that is not an in-memory array of the network's dtype (a float32
``numpy.memmap`` for a float64 network, a Dask array) is therefore never
converted or computed whole: :class:`LazyRows` hands out the rows asked for,
in the network's dtype, and holds nothing else. The values are those a
whole conversion gives (the same ``astype``, row by row), so compression
results do not depend on which path the data took.
"""

import numpy as np
import scipy.sparse as sp


def _floating(part):
    """``part`` as scikit-learn's ``check_array`` makes it float: float32 and
    float64 stay, every other real dtype becomes float64."""
    part = np.asarray(part)
    if part.dtype in (np.float32, np.float64):
        return part
    return part.astype(np.float64)


class LazyRows:
    """Rows of a 2-D array, converted to ``dtype`` when they are read.

    Indexing with a slice, an array of row indices or a boolean mask returns
    a new ``ndarray`` of those rows (never a view of ``data``); nothing is
    read before.

    Parameters
    ----------
    data : array-like of shape (n_samples, n_features)
        A numpy array (a ``numpy.memmap`` included), a Dask array, or any
        2-D array whose ``data[rows]`` reads rows (``numpy.asarray``
        computes the result); read, never modified.
    dtype : dtype
        The dtype rows are returned in.
    rows : ndarray of int, default=None
        The rows of ``data`` this object stands for, in order (all of them
        when None): see :meth:`take`.
    """

    ndim = 2

    def __init__(self, data, dtype, rows=None):
        self.data = data
        self.dtype = np.dtype(dtype)
        self.rows = None if rows is None else np.asarray(rows, dtype=np.intp)
        n_rows = data.shape[0] if rows is None else self.rows.size
        self.shape = (int(n_rows), int(data.shape[1]))

    def __len__(self):
        return self.shape[0]

    def __repr__(self):
        return f"LazyRows(shape={self.shape}, dtype={self.dtype}, data={type(self.data).__name__})"

    def take(self, rows):
        """The rows ``rows`` (indices into this object), still read lazily."""
        rows = np.asarray(rows, dtype=np.intp)
        return LazyRows(self.data, self.dtype, rows if self.rows is None else self.rows[rows])

    def raw(self, key):
        """Rows ``key`` as stored in ``data`` (not converted)."""
        if isinstance(key, (int, np.integer)):
            return self.raw(np.array([key]))[0]
        if self.rows is not None:
            return self._fetch(self.rows[key])
        if isinstance(key, slice):
            return np.asarray(self.data[key])
        key = np.asarray(key)
        return self._fetch(np.flatnonzero(key) if key.dtype == bool else key)

    def convert(self, part):
        """Rows read by :meth:`raw`, in ``dtype``: a new array."""
        floating = _floating(part)
        # a copy even when the dtype already agrees: rows handed out never
        # alias the user's data
        aliased = isinstance(self.data, np.ndarray) and np.may_share_memory(floating, self.data)
        return floating.astype(self.dtype, copy=aliased)

    def __getitem__(self, key):
        return self.convert(self.raw(key))

    def __array__(self, dtype=None, copy=None):
        # every row at once: what code that needs the whole array gets
        whole = self[:]
        return whole if dtype is None else whole.astype(dtype, copy=False)

    def _fetch(self, index):
        """Rows ``index`` of ``data``, in the order given."""
        if isinstance(self.data, np.ndarray):
            return self.data[index]
        # other arrays read (and Dask computes) increasing rows best; some
        # (h5py) read no other
        unique, inverse = np.unique(index, return_inverse=True)
        return np.asarray(self.data[unique])[inverse]


def take_rows(X, rows):
    """Rows ``rows`` of ``X``: a :class:`LazyRows` stays lazy, anything else is indexed."""
    if isinstance(X, LazyRows):
        return X.take(rows)
    return X[rows]


def stack_rows(X, extra):
    """The rows of ``X`` followed by those of ``extra``, in memory.

    Rows read lazily are read; either side sparse gives a CSR array,
    otherwise an array of ``X``'s dtype.
    """
    X, extra = (part if isinstance(part, np.ndarray) or sp.issparse(part) else part[:] for part in (X, extra))
    if sp.issparse(X) or sp.issparse(extra):
        return sp.vstack([sp.csr_array(X), sp.csr_array(extra)], format="csr")
    return np.vstack([X, np.asarray(extra, dtype=X.dtype)])
