"""How a compressed network's weights are saved: a few packed arrays.

A compressed estimator keeps its layers as ``scipy.sparse.csr_array``
(values in the model's dtype, int32 indices: what scipy computes with). What
pickle, joblib and skops write is :func:`pack_layers`' form instead:

- every layer's bias vector is its last row, so removed biases cost nothing;
- all layers share three arrays (values, then column indices and row counts,
  or a bitmask), so that the fixed cost per array is paid three times, not
  three times per layer;
- the pattern takes whichever is smaller: column indices in the smallest
  unsigned type that holds the widest layer's (1 byte up to 256 outputs, 2
  up to 65,536) with per-row counts, or one bit per entry of the dense
  matrices (smaller above a density of 1/8 or 1/16).

:func:`unpack_layers` gives the CSR arrays back, with int32 indices (int64
when a layer needs them) and the same values, in the same order.
"""

import numpy as np
import scipy.sparse as sp


def smallest_unsigned_dtype(largest):
    """The smallest unsigned integer dtype that holds ``0 .. largest``."""
    return np.min_scalar_type(max(int(largest), 0))


def _augmented_rows(W, b):
    """Columns and values of ``W`` with ``b`` as last row, in CSR row order."""
    W = sp.csr_array(W)
    if not W.has_canonical_format:  # sorted and without duplicates: bitmask order
        W = W.copy()
        W.sum_duplicates()
    b = np.asarray(b)
    kept = np.flatnonzero(b)
    counts = np.append(np.diff(W.indptr), kept.size)
    return W.indices, kept, W.data, b[kept], counts


def pack_layers(coefs, intercepts):
    """The layers of a network as a dict of a few plain arrays.

    Parameters
    ----------
    coefs : list of scipy.sparse array of shape (n_in, n_out)
        Weight matrices (stored entries are kept, explicit zeros included).
    intercepts : list of ndarray of shape (n_out,)
        Bias vectors (zeros are removed biases and are not stored).

    Returns
    -------
    dict
        ``shapes`` (list of [n_in, n_out]), ``coef_dtype`` and
        ``intercept_dtype`` (names), ``values`` (every stored entry, layer
        by layer, row by row, the bias row last, in the weights' dtype) and
        either ``columns`` and ``row_counts`` or ``mask`` (see the module
        docstring).
    """
    rows = [_augmented_rows(W, b) for W, b in zip(coefs, intercepts, strict=True)]
    shapes = [[int(n) for n in W.shape] for W in coefs]
    coef_dtype = np.result_type(*(W.dtype for W in coefs))
    intercept_dtype = np.result_type(*(b.dtype for b in intercepts))
    value_dtype = np.result_type(coef_dtype, intercept_dtype)
    values = np.concatenate(
        [np.concatenate([data, bias]).astype(value_dtype) for _, _, data, bias, _ in rows]
    )
    columns = [np.concatenate([indices, kept]) for indices, kept, _, _, _ in rows]
    counts = np.concatenate([count for *_, count in rows])
    n_columns = sum(c.size for c in columns)
    column_dtype = smallest_unsigned_dtype(max(n_out for _, n_out in shapes) - 1)
    count_dtype = smallest_unsigned_dtype(counts.max(initial=0))
    index_bytes = n_columns * column_dtype.itemsize + counts.size * count_dtype.itemsize
    n_entries = sum((n_in + 1) * n_out for n_in, n_out in shapes)
    packed = {
        "shapes": shapes,
        "coef_dtype": coef_dtype.str,
        "intercept_dtype": intercept_dtype.str,
        "values": values,
    }
    if (n_entries + 7) // 8 < index_bytes:
        packed["mask"] = np.packbits(_mask(columns, counts, shapes))
    else:
        packed["columns"] = np.concatenate(columns).astype(column_dtype)
        packed["row_counts"] = counts.astype(count_dtype)
    return packed


def _mask(columns, counts, shapes):
    """One boolean per entry of every augmented layer, row-major, layer after layer."""
    offsets, start, row = [], 0, 0
    for layer, (n_in, n_out) in enumerate(shapes):
        layer_counts = counts[row : row + n_in + 1]
        row_of_entry = np.repeat(np.arange(n_in + 1), layer_counts)
        offsets.append(start + row_of_entry * n_out + columns[layer].astype(np.int64))
        start += (n_in + 1) * n_out
        row += n_in + 1
    mask = np.zeros(start, dtype=bool)
    mask[np.concatenate(offsets)] = True
    return mask


def unpack_layers(packed):
    """The ``coefs`` and ``intercepts`` that :func:`pack_layers` stored.

    Returns
    -------
    coefs : list of scipy.sparse.csr_array of shape (n_in, n_out)
    intercepts : list of ndarray of shape (n_out,)
    """
    shapes = [tuple(int(n) for n in shape) for shape in packed["shapes"]]
    coef_dtype = np.dtype(packed["coef_dtype"])
    intercept_dtype = np.dtype(packed["intercept_dtype"])
    values = np.asarray(packed["values"])
    if "mask" in packed:
        n_entries = sum((n_in + 1) * n_out for n_in, n_out in shapes)
        mask = np.unpackbits(np.asarray(packed["mask"]), count=n_entries).astype(bool)
        columns, counts, start = [], [], 0
        for n_in, n_out in shapes:
            layer = mask[start : start + (n_in + 1) * n_out].reshape(n_in + 1, n_out)
            rows, cols = np.nonzero(layer)
            columns.append(cols)
            counts.append(np.bincount(rows, minlength=n_in + 1))
            start += (n_in + 1) * n_out
        columns, counts = np.concatenate(columns), np.concatenate(counts)
    else:
        columns = np.asarray(packed["columns"])
        counts = np.asarray(packed["row_counts"])
    coefs, intercepts = [], []
    entry = row = 0
    for n_in, n_out in shapes:
        layer_counts = counts[row : row + n_in + 1].astype(np.int64)
        n_weights = int(layer_counts[:-1].sum())
        n_biases = int(layer_counts[-1])
        largest = max(n_in, n_out, n_weights)
        index_dtype = np.int32 if largest < np.iinfo(np.int32).max else np.int64
        indptr = np.zeros(n_in + 1, dtype=index_dtype)
        np.cumsum(layer_counts[:-1], out=indptr[1:])
        coefs.append(
            sp.csr_array(
                (
                    values[entry : entry + n_weights].astype(coef_dtype, copy=False),
                    columns[entry : entry + n_weights].astype(index_dtype),
                    indptr,
                ),
                shape=(n_in, n_out),
                copy=False,
            )
        )
        bias = np.zeros(n_out, dtype=intercept_dtype)
        bias_entries = slice(entry + n_weights, entry + n_weights + n_biases)
        bias[columns[bias_entries].astype(np.int64)] = values[bias_entries]
        intercepts.append(bias)
        entry += n_weights + n_biases
        row += n_in + 1
    return coefs, intercepts
