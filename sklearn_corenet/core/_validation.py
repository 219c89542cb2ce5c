"""Checks of what users pass in, and of what compression computes from it.

The model's weights, the calibration data and the activations the model
computes on it are checked before compression starts; the compressed
weights before a model is returned. Every check names what is wrong and
where (layer, row, column), as a ValueError.
"""

import warnings
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_array, gen_batches
from sklearn.utils.validation import _check_feature_names

from ._activations import apply_activation
from ._network import chunk_rows, layer_product, stack_layers
from ._rows import LazyRows


def _describe(value):
    """"NaN", "infinity" or "-infinity"."""
    if np.isnan(value):
        return "NaN"
    return "infinity" if value > 0 else "-infinity"


def _first_non_finite(array):
    """Index (tuple) of the first entry of ``array`` that is NaN or infinite, or None."""
    bad = np.argwhere(~np.isfinite(array))
    return None if bad.size == 0 else tuple(int(i) for i in bad[0])


def check_network(network):
    """The network in a dtype compression computes in, with finite weights.

    Parameters
    ----------
    network : Network
        As an adapter read it.

    Returns
    -------
    Network
        ``network`` itself when its layers are stacked float32 or float64
        arrays of one dtype (see :func:`~._network.stack_layers`), else a
        stacked copy: float16 weights are widened to float32 (with a
        warning: the compressed model is float32), integer ones to float64,
        layers of mixed precision to the widest.

    Raises
    ------
    ValueError
        If a weight or a bias is NaN or infinite, naming the layer and the
        entry; or if the weights are complex.
    """
    arrays = [*network.coefs, *network.intercepts]
    dtype = np.result_type(*arrays)
    if np.issubdtype(dtype, np.complexfloating):
        raise ValueError(f"the model's weights are complex ({dtype}); compression needs real weights")
    if dtype == np.float16:
        warnings.warn(
            f"the model's weights are float16: {network.source or 'it'} is compressed in float32, "
            "and the compressed model's weights are float32",
            UserWarning,
            stacklevel=3,
        )
        dtype = np.dtype(np.float32)
    elif not np.issubdtype(dtype, np.floating) or dtype.itemsize > 8:
        dtype = np.dtype(np.float64)
    for layer, (W, b) in enumerate(zip(network.coefs, network.intercepts, strict=True)):
        where = _first_non_finite(W)
        if where is not None:
            raise ValueError(
                f"the model's weights are not finite: layer {layer} has {_describe(W[where])} "
                f"on the edge from input {where[0]} to neuron {where[1]}; a model with NaN or "
                "infinite weights cannot be compressed (did its training diverge?)"
            )
        where = _first_non_finite(b)
        if where is not None:
            raise ValueError(
                f"the model's biases are not finite: layer {layer} has {_describe(b[where])} "
                f"as the bias of neuron {where[0]}; a model with NaN or infinite weights "
                "cannot be compressed (did its training diverge?)"
            )
    if network.is_stacked and all(a.dtype == dtype for a in arrays):
        return network
    coefs, intercepts = stack_layers(network.coefs, network.intercepts, dtype)
    return replace(network, coefs=coefs, intercepts=intercepts, extra=dict(network.extra))


def check_calibration_data(X, network, model=None):
    """Validate calibration data against ``network``; return a float array.

    Parameters
    ----------
    X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
        The calibration data as the user gave it.
    network : Network
        The network it belongs to.
    model : estimator, default=None
        The scikit-learn model ``network`` was read from: its feature names
        are checked as scikit-learn checks them (a warning for a DataFrame
        given to a model fitted without feature names and for an array
        given to one fitted with them, an error for other names).

    Returns
    -------
    {ndarray, sparse matrix, LazyRows}
        The data in the network's dtype: ``X`` itself when it is an array
        of that dtype, a :class:`~._rows.LazyRows` that converts the rows
        compression reads when it is an array of another real dtype (a
        float32 ``numpy.memmap`` included) or a Dask array (computed a
        chunk of rows at a time, once per pass over the data: persist an
        expensive one first), else a converted copy.

    Raises
    ------
    ValueError
        For NaN or infinite values (naming the row and column), values
        beyond the range of the network's dtype, no rows, a wrong number of
        features, feature names other than the model's, or non-numeric data.
    """
    if _reads_lazily(X, network):
        return _check_lazy_data(X, network, model)
    names = getattr(X, "columns", None)
    try:
        array = check_array(
            X,
            accept_sparse=["csr", "csc"],
            dtype=[np.float64, np.float32],
            ensure_all_finite=False,
            ensure_min_samples=1,
            input_name="X",
        )
    except (TypeError, ValueError) as error:
        message = str(error)
        if "convert" in message:
            raise ValueError(f"calibration data X must be numeric: {message}") from error
        raise
    if sp.issparse(array) and array.format != "csr":
        array = array.tocsr()  # compression reads rows
    if array.shape[1] != network.n_features_in:
        raise ValueError(
            f"X has {array.shape[1]} features, but the model expects "
            f"{network.n_features_in}"
        )
    if model is not None:
        _check_feature_names(model, X, reset=False)
    elif names is not None and network.feature_names_in is not None:
        given = np.asarray([str(n) for n in names])
        if not np.array_equal(given, np.asarray(network.feature_names_in, dtype=str)):
            raise ValueError(
                "the feature names of X differ from those the model was fitted with"
            )
    _check_finite_data(array, "X contains {value} at row {row}, column {column}: calibration data must be finite")
    if array.dtype != network.dtype:
        original = array
        with np.errstate(over="ignore"):
            array = array.astype(network.dtype)
        _check_finite_data(
            array,
            f"X has a value at row {{row}}, column {{column}} beyond the range of "
            f"{network.dtype}, the model's dtype ({{original:.3g}})",
            original,
        )
    return array


def _reads_lazily(X, network):
    """Whether ``X`` is a 2-D array of real numbers that a whole conversion would copy.

    Arrays of the network's dtype are used as they are; sparse matrices,
    DataFrames, lists and other inputs take scikit-learn's ``check_array``.
    """
    dtype = getattr(X, "dtype", None)
    if (
        sp.issparse(X)
        or isinstance(X, np.matrix)
        or not isinstance(dtype, np.dtype)
        or dtype.kind not in "biuf"
        or len(getattr(X, "shape", ())) != 2
        or min(X.shape) == 0
    ):
        return False
    return not isinstance(X, np.ndarray) or dtype != network.dtype


def _check_lazy_data(X, network, model):
    """:func:`check_calibration_data` for arrays read a chunk of rows at a time.

    One pass over the rows checks them as a whole conversion would (NaN and
    infinity first, wherever they are, then values beyond the range of the
    network's dtype), holding one chunk of ``working_memory`` at a time.
    """
    if X.shape[1] != network.n_features_in:
        raise ValueError(f"X has {X.shape[1]} features, but the model expects {network.n_features_in}")
    if model is not None:
        _check_feature_names(model, X, reset=False)
    rows = LazyRows(X, network.dtype)
    # a chunk as stored, as float64 and in the network's dtype
    row_bytes = X.shape[1] * (X.dtype.itemsize + 8 + network.dtype.itemsize)
    beyond_range = None
    for batch in gen_batches(X.shape[0], chunk_rows(row_bytes, X.shape[0])):
        original = rows.raw(batch)
        _check_finite_data(
            original,
            "X contains {value} at row {row}, column {column}: calibration data must be finite",
            first_row=batch.start,
        )
        if beyond_range is None:
            try:
                with np.errstate(over="ignore"):
                    converted = rows.convert(original)
                _check_finite_data(
                    converted,
                    f"X has a value at row {{row}}, column {{column}} beyond the range of "
                    f"{network.dtype}, the model's dtype ({{original:.3g}})",
                    original,
                    first_row=batch.start,
                )
            except ValueError as error:  # raised once no row is NaN or infinite
                beyond_range = error
    if beyond_range is not None:
        raise beyond_range
    return rows


def _check_finite_data(array, message, original=None, first_row=0):
    """Raise ValueError(``message``) naming the first non-finite entry of a data matrix.

    ``first_row`` is the row of the whole data that row 0 of ``array`` is.
    """
    values = array.data if sp.issparse(array) else array
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(values.sum()):
            return
    if sp.issparse(array):
        csr = sp.csr_array(array)
        entry = int(np.flatnonzero(~np.isfinite(csr.data))[0])
        row = int(np.searchsorted(csr.indptr, entry, side="right") - 1)
        column = int(csr.indices[entry])
        value = csr.data[entry]
    else:
        where = None
        for rows in gen_batches(array.shape[0], chunk_rows(array.shape[1], array.shape[0])):
            where = _first_non_finite(array[rows])
            if where is not None:
                row, column = rows.start + where[0], where[1]
                break
        if where is None:  # a finite sum overflowed: every value is finite
            return
        value = array[row, column]
    before = original[row, column] if original is not None else value
    raise ValueError(
        message.format(value=_describe(value), row=first_row + row, column=column, original=float(before))
    )


def check_activations(network, X, working_memory=None):
    """Raise a ValueError naming the row and layer where ``network`` overflows on ``X``.

    Runs the forward pass over row chunks that fit ``working_memory`` and
    checks every layer's pre-activations: a calibration row that drives the
    network past the range of its dtype (values far from the scale it was
    trained on) would give NaN statistics and weights.
    """
    last = network.n_layers - 1
    rows = chunk_rows(3 * network.widest * network.dtype.itemsize, X.shape[0], working_memory)
    with np.errstate(over="ignore", invalid="ignore"):
        for batch in gen_batches(X.shape[0], rows):
            A = X[batch]
            for layer, (W, b) in enumerate(zip(network.coefs, network.intercepts, strict=True)):
                Z = layer_product(A, W)
                Z += b
                if not np.isfinite(Z).all():
                    where = _first_non_finite(Z)
                    row = batch.start + where[0]
                    scale = np.abs(A[where[0]].toarray() if sp.issparse(A) else A[where[0]]).max()
                    raise ValueError(
                        f"calibration row {row} of X overflows the model: the pre-activation of "
                        f"neuron {where[1]} of layer {layer} is {_describe(Z[where])} (the row's "
                        f"inputs to that layer reach {scale:.3g}); calibration data must be on the "
                        "scale the model was trained on"
                    )
                A = Z if layer == last else apply_activation(network.activation, Z)


def overflow_error(what, values, first_row, layer):
    """The ValueError for sums of squares that overflow on a chunk of calibration rows.

    Names the row of ``values`` (rows ``first_row, first_row + 1, ...`` of
    X) with the largest magnitude: its squares are what overflowed.
    """
    if sp.issparse(values):
        values = values.toarray()
    magnitude = np.abs(values).max(axis=1, initial=0)
    row = int(np.argmax(magnitude))
    return ValueError(
        f"calibration row {first_row + row} of X overflows {what} of layer {layer}: "
        f"its values there reach {magnitude[row]:.3g}, whose squares are beyond the "
        f"range of {values.dtype}; rescale the data as the model was trained on it"
    )


def check_finite_layers(layers, what):
    """Raise a ValueError naming the first non-finite weight of ``layers``.

    ``layers`` are (n_in + 1, n_out) arrays, the bias last; ``what`` says
    what they are ("the compressed weights").
    """
    for layer, W in enumerate(layers):
        values = W.data if sp.issparse(W) else W
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(values.sum()):
                continue
        if sp.issparse(W):
            W = W.toarray()
        where = _first_non_finite(W)
        if where is None:
            continue
        edge = "the bias" if where[0] == W.shape[0] - 1 else f"the edge from input {where[0]}"
        raise ValueError(
            f"{what} of layer {layer} are not finite: {edge} of neuron {where[1]} is "
            f"{_describe(W[where])}"
        )


@contextmanager
def unchanged_on_error(estimator):
    """Restore ``estimator``'s attributes when the block raises.

    A ``fit`` that fails leaves the estimator as it was before the call: its
    fitted attributes are those of the previous fit (or none), never a mix.
    """
    state = dict(estimator.__dict__)
    try:
        yield
    except BaseException:
        estimator.__dict__.clear()
        estimator.__dict__.update(state)
        raise


def same_weights(a, b):
    """Whether two networks have the same layers and equal weights."""
    return len(a.coefs) == len(b.coefs) and all(
        np.array_equal(x, y) for x, y in zip(a.coefs + a.intercepts, b.coefs + b.intercepts, strict=True)
    )
