"""Checks of what users pass in: calibration data against the network it belongs to."""

import numpy as np
from sklearn.utils import check_array


def check_calibration_data(X, network):
    """Validate calibration data against ``network``; return a float array.

    Raises ValueError for NaN/inf, no rows, a wrong number of features,
    feature names other than the model's, or non-numeric data. The input is
    never modified.
    """
    names = getattr(X, "columns", None)
    try:
        array = check_array(
            X,
            accept_sparse=["csr", "csc"],
            dtype=[np.float64, np.float32],
            ensure_min_samples=1,
            input_name="X",
        )
    except (TypeError, ValueError) as error:
        message = str(error)
        if "could not convert" in message or "dtype" in message.lower() and "numeric" not in message:
            raise ValueError(f"calibration data X must be numeric: {message}") from error
        raise
    if array.shape[1] != network.n_features_in:
        raise ValueError(
            f"X has {array.shape[1]} features, but the model expects "
            f"{network.n_features_in}"
        )
    if names is not None and network.feature_names_in is not None:
        given = np.asarray([str(n) for n in names])
        if not np.array_equal(given, np.asarray(network.feature_names_in, dtype=str)):
            raise ValueError(
                "the feature names of X differ from those the model was fitted with"
            )
    if array.dtype != network.dtype:
        array = array.astype(network.dtype)
    return array


def same_weights(a, b):
    """Whether two networks have the same layers and equal weights."""
    return len(a.coefs) == len(b.coefs) and all(
        np.array_equal(x, y) for x, y in zip(a.coefs + a.intercepts, b.coefs + b.intercepts, strict=True)
    )
