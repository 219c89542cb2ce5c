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
when a layer needs them) and the same values, in the same order. It checks
every stored structure first (see :func:`check_packed`): a saved file is
read by scipy's compiled kernels, which do not check their indices, so a
column index beyond its layer would be read out of bounds at ``predict``.
"""

import reprlib
from numbers import Integral

import numpy as np
import scipy.sparse as sp

#: Layer widths from this on are refused before anything is allocated: no
#: network this library compresses is that wide (it held the dense layers
#: once; such a layer's bias vector alone takes 16 GiB).
MAX_WIDTH = 2**31


def _is_float_dtype(dtype):
    """Whether scipy.sparse computes in ``dtype``: float32, float64 or longdouble."""
    return dtype.kind == "f" and dtype.itemsize >= 4


def corrupt_file_error(what):
    """The ValueError for a saved model that this library did not write as it is."""
    return ValueError(
        f"the saved model is corrupt or was not written by sklearn-corenet: {what}. "
        "Load only files written by sklearn_corenet.dump, pickle or joblib from a "
        "compressed estimator"
    )


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


def _is_integer(value):
    return isinstance(value, Integral) and not isinstance(value, (bool, np.bool_))


def packed_shapes(packed):
    """The layer shapes of a :func:`pack_layers` dict, checked (nothing else is read).

    Returns
    -------
    list of tuple of int
        ``(n_in, n_out)`` per layer, each width in ``[1, MAX_WIDTH)``, every
        layer's ``n_in`` the previous layer's ``n_out``.

    Raises
    ------
    ValueError
        If the shapes are missing, malformed or do not chain.
    """
    if not isinstance(packed, dict):
        raise corrupt_file_error(f"the packed layers are a {type(packed).__name__}, not a dict")
    shapes = packed.get("shapes")
    if not isinstance(shapes, (list, tuple)) or len(shapes) == 0:
        raise corrupt_file_error(
            f"the layer shapes are {reprlib.repr(shapes)}, not a non-empty list"
        )
    checked = []
    for layer, shape in enumerate(shapes):
        if (
            not isinstance(shape, (list, tuple))
            or len(shape) != 2
            or not all(_is_integer(n) and 1 <= n < MAX_WIDTH for n in shape)
        ):
            raise corrupt_file_error(
                f"layer {layer} has shape {reprlib.repr(shape)}, not two widths from 1 to "
                f"{MAX_WIDTH - 1}"
            )
        checked.append((int(shape[0]), int(shape[1])))
    for layer in range(1, len(checked)):
        if checked[layer][0] != checked[layer - 1][1]:
            raise corrupt_file_error(
                f"layer {layer} takes {checked[layer][0]} inputs but layer {layer - 1} "
                f"has {checked[layer - 1][1]} outputs"
            )
    return checked


def _floating_dtype(packed, key):
    name = packed.get(key)
    try:
        dtype = np.dtype(name) if isinstance(name, (str, np.dtype)) else None
    except (TypeError, ValueError):
        dtype = None
    if dtype is None or not _is_float_dtype(dtype):
        raise corrupt_file_error(f"{key} is {reprlib.repr(name)}, not a floating-point dtype")
    return dtype


def _array(packed, key, kinds, what):
    """``packed[key]``: a 1-d ndarray of one of the dtype ``kinds`` ("f": float32 or wider)."""
    array = packed.get(key)
    if (
        not isinstance(array, np.ndarray)
        or array.ndim != 1
        or array.dtype.kind not in kinds
        or (kinds == "f" and not _is_float_dtype(array.dtype))
    ):
        found = (
            f"an array of dtype {array.dtype} and shape {array.shape}"
            if isinstance(array, np.ndarray)
            else repr(type(array).__name__)
        )
        raise corrupt_file_error(f"{key} is {found}, not a 1-d array of {what}")
    return array


def check_packed(packed):
    """Check every structure of a :func:`pack_layers` dict against the others.

    Nothing is allocated beyond what the stored arrays take: the widths are
    checked against each other and against the stored pattern before any
    array of their size is made.

    Parameters
    ----------
    packed : dict
        What :func:`pack_layers` returned, as read back from a file.

    Returns
    -------
    shapes : list of tuple of int
    coef_dtype, intercept_dtype : dtype
    values : ndarray
        Floating point, one entry per stored weight or bias.
    columns, counts : ndarray of int64
        The column of every stored entry and the entries of every row (bias
        rows included), each column within its layer's width.

    Raises
    ------
    ValueError
        Naming the first structure found corrupt or inconsistent.
    """
    shapes = packed_shapes(packed)
    coef_dtype = _floating_dtype(packed, "coef_dtype")
    intercept_dtype = _floating_dtype(packed, "intercept_dtype")
    values = _array(packed, "values", "f", "floating-point values")
    n_rows = sum(n_in + 1 for n_in, _ in shapes)
    if "mask" in packed:
        n_entries = sum((n_in + 1) * n_out for n_in, n_out in shapes)
        mask = _array(packed, "mask", "u", "bytes")
        if mask.dtype != np.uint8 or mask.size != (n_entries + 7) // 8:
            raise corrupt_file_error(
                f"the mask holds {mask.size} values of {mask.dtype}; layers of shapes "
                f"{reprlib.repr(shapes)} take {(n_entries + 7) // 8} bytes"
            )
        columns, counts = _mask_pattern(mask, shapes, n_entries)
    else:
        columns = _array(packed, "columns", "iu", "integer column indices")
        counts = _array(packed, "row_counts", "iu", "integer row counts")
        if counts.size != n_rows:
            raise corrupt_file_error(
                f"row_counts has {counts.size} entries; layers of shapes "
                f"{reprlib.repr(shapes)} have {n_rows} rows with their bias rows"
            )
        counts, columns = _checked_columns(counts, columns, shapes)
    if counts.sum() != values.size:
        raise corrupt_file_error(
            f"the pattern holds {int(counts.sum())} entries but {values.size} values are stored"
        )
    return shapes, coef_dtype, intercept_dtype, values, columns, counts


def _mask_pattern(mask, shapes, n_entries):
    """Columns and row counts of the entries a bitmask marks (always within bounds)."""
    bits = np.unpackbits(mask, count=n_entries).astype(bool)
    columns, counts, start = [], [], 0
    for n_in, n_out in shapes:
        layer = bits[start : start + (n_in + 1) * n_out].reshape(n_in + 1, n_out)
        rows, cols = np.nonzero(layer)
        columns.append(cols)
        counts.append(np.bincount(rows, minlength=n_in + 1))
        start += (n_in + 1) * n_out
    return np.concatenate(columns).astype(np.int64), np.concatenate(counts).astype(np.int64)


def _as_int64(array, name, below):
    """``array`` as int64, every entry checked to be in ``[0, below)`` before the cast.

    Checked on the stored dtype: a cast first would wrap a huge unsigned
    index into a negative one.
    """
    if array.size and (int(array.min()) < 0 or int(array.max()) >= below):
        raise corrupt_file_error(
            f"{name} holds {int(array.min()) if int(array.min()) < 0 else int(array.max())}, "
            f"outside 0 .. {below - 1}"
        )
    return array.astype(np.int64)


def _checked_columns(counts, columns, shapes):
    """Row counts and column indices as int64, each within its layer's bounds."""
    widths = np.repeat([n_out for _, n_out in shapes], [n_in + 1 for n_in, _ in shapes])
    counts = _as_int64(counts, "row_counts", MAX_WIDTH)
    too_many = np.flatnonzero(counts > widths)
    if too_many.size:
        row = int(too_many[0])
        raise corrupt_file_error(
            f"row {row} of the stacked layers holds {counts[row]} entries, more than "
            f"its {widths[row]} columns"
        )
    if int(counts.sum()) != columns.size:
        raise corrupt_file_error(
            f"row_counts adds up to {int(counts.sum())} entries but {columns.size} "
            "column indices are stored"
        )
    columns = _as_int64(columns, "columns", MAX_WIDTH)
    limits = np.repeat(widths, counts)
    outside = np.flatnonzero(columns >= limits)
    if outside.size:
        entry = int(outside[0])
        raise corrupt_file_error(
            f"stored entry {entry} has column index {columns[entry]}, beyond its "
            f"layer's {limits[entry]} outputs"
        )
    return counts, columns


def unpack_layers(packed):
    """The ``coefs`` and ``intercepts`` that :func:`pack_layers` stored.

    Every structure is checked first (:func:`check_packed`).

    Returns
    -------
    coefs : list of scipy.sparse.csr_array of shape (n_in, n_out)
    intercepts : list of ndarray of shape (n_out,)

    Raises
    ------
    ValueError
        If ``packed`` is corrupt or was not made by :func:`pack_layers`.
    """
    shapes, coef_dtype, intercept_dtype, values, columns, counts = check_packed(packed)
    coefs, intercepts = [], []
    entry = row = 0
    for n_in, n_out in shapes:
        layer_counts = counts[row : row + n_in + 1]
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
        bias[columns[bias_entries]] = values[bias_entries]
        intercepts.append(bias)
        entry += n_weights + n_biases
        row += n_in + 1
    return coefs, intercepts
