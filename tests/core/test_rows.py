"""Calibration rows read lazily: the values, order and checks of a whole conversion."""

import warnings

import numpy as np
import pytest
from sklearn import config_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor
from sklearn.utils import check_array

from sklearn_corenet.adapters._registry import network_from_model
from sklearn_corenet.core._rows import LazyRows, take_rows
from sklearn_corenet.core._validation import check_calibration_data, check_network


def _network(dtype):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 6)).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPRegressor(hidden_layer_sizes=(5,), max_iter=20, random_state=0).fit(X, X[:, 0])
    return check_network(network_from_model(model)), model


@pytest.fixture(scope="module")
def rows():
    return np.random.default_rng(1).normal(size=(5000, 6)).astype(np.float32)


def _stored(tmp_path, values):
    data = np.memmap(tmp_path / "rows.dat", dtype=values.dtype, mode="w+", shape=values.shape)
    data[:] = values
    data.flush()
    return np.memmap(tmp_path / "rows.dat", dtype=values.dtype, mode="r", shape=values.shape)


@pytest.mark.parametrize("kind", ["memmap", "dask"])
def test_rows_are_those_of_the_whole_conversion_in_the_order_asked(tmp_path, rows, kind):
    network, _ = _network(np.float64)
    data = _stored(tmp_path, rows)
    if kind == "dask":
        data = pytest.importorskip("dask.array").from_array(data, chunks=(700, 6))
    lazy = check_calibration_data(data, network)
    assert isinstance(lazy, LazyRows) and lazy.shape == rows.shape and lazy.dtype == np.float64
    whole = rows.astype(np.float64)
    order = np.random.default_rng(2).permutation(5000)[:900]
    order[1] = order[0]  # a row asked twice
    np.testing.assert_array_equal(lazy[order], whole[order])
    np.testing.assert_array_equal(lazy[100:2600], whole[100:2600])
    np.testing.assert_array_equal(lazy[whole[:, 0] > 1], whole[whole[:, 0] > 1])
    subset = take_rows(lazy, order)
    assert isinstance(subset, LazyRows)
    np.testing.assert_array_equal(subset[10:20], whole[order[10:20]])
    np.testing.assert_array_equal(np.asarray(subset), whole[order])
    # what is handed out is a copy: changing it leaves the data as it was
    part = lazy[:10]
    part[:] = 0
    np.testing.assert_array_equal(np.asarray(data[:10]), rows[:10])


def test_integer_rows_are_converted_as_scikit_learn_converts_them(tmp_path):
    network, _ = _network(np.float32)
    values = np.random.default_rng(3).integers(-(2**40), 2**40, size=(300, 6))
    lazy = check_calibration_data(_stored(tmp_path, values), network)
    # int64 -> float64 -> float32, as check_array then the network's dtype
    np.testing.assert_array_equal(lazy[:], check_array(values, dtype=[np.float64, np.float32]).astype(np.float32))


def test_arrays_of_the_networks_dtype_are_used_as_they_are(rows):
    network, _ = _network(np.float32)
    assert check_calibration_data(rows, network) is rows


@pytest.mark.parametrize("kind", ["memmap", "dask"])
def test_non_finite_rows_are_named_wherever_they_are(tmp_path, rows, kind):
    network, model = _network(np.float32)
    values = rows.astype(np.float64)
    values[7, 2] = 1e300  # beyond float32: reported only when nothing is NaN
    values[4321, 5] = np.nan  # in a later chunk
    data = _stored(tmp_path, values)
    if kind == "dask":
        data = pytest.importorskip("dask.array").from_array(data, chunks=(700, 6))
    with config_context(working_memory=0.01), pytest.raises(ValueError, match="NaN at row 4321, column 5"):
        check_calibration_data(data, network, model)
    values[4321, 5] = 0.0
    data = _stored(tmp_path, values)
    with config_context(working_memory=0.01), pytest.raises(
        ValueError, match="row 7, column 2 beyond the range of float32.*1e\\+300"
    ):
        check_calibration_data(data, network, model)


def test_a_wrong_number_of_features_is_refused(tmp_path, rows):
    network, model = _network(np.float64)
    with pytest.raises(ValueError, match="X has 5 features, but the model expects 6"):
        check_calibration_data(_stored(tmp_path, rows[:, :5]), network, model)
