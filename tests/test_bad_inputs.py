"""Bad inputs and faults: every one ends in a named error or in a finite, honest model.

The classes of issue 15: non-finite or extreme numbers in the data, the
model or an intermediate; budgets that round to (almost) nothing; fits that
fail half-way; feature names as scikit-learn checks them. Each test checks
the property a user relies on: the error names what and where, or the
model returned is finite and what the warnings say is what it keeps.
"""

import copy
import dataclasses
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_corenet import CoreNetClassifier, CoreNetCompressor, CoreNetRegressor

METHODS = ["auto", "corenet", "corenet+", "corenet++", "uniform", "l1", "magnitude", "wanda", "neurons"]


@pytest.fixture(scope="module")
def data():
    X, y = load_digits(return_X_y=True)
    return X[:400] / 16.0, y[:400]


@pytest.fixture(scope="module")
def mlp(data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MLPClassifier((16, 12), max_iter=60, random_state=0).fit(X, y)


def _finite(sparse):
    return all(np.isfinite(W.data).all() for W in sparse.coefs_) and all(
        np.isfinite(b).all() for b in sparse.intercepts_
    )


def _compress(model, X, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return CoreNetCompressor(random_state=0, **params).fit_transform(model, X)


def _params(method):
    return {"keep_ratio": 0.3, "method": method}


def _with(X, row, column, value):
    X = np.array(X, copy=True)
    X[row, column] = value
    return X


# -- non-finite and extreme data ------------------------------------------------


@pytest.mark.parametrize(
    "value, name", [(np.nan, "NaN"), (np.inf, "infinity"), (-np.inf, "-infinity")]
)
def test_non_finite_data_names_the_value_and_where(data, mlp, value, name):
    X = _with(data[0][:100], 7, 3, value)
    with pytest.raises(ValueError, match=f"X contains {re.escape(name)} at row 7, column 3"):
        CoreNetCompressor(keep_ratio=0.5).fit(mlp, X)


@pytest.mark.parametrize("value, name", [(np.nan, "NaN"), (np.inf, "infinity")])
def test_non_finite_sparse_data_names_the_value_and_where(data, mlp, value, name):
    X = sp.csr_array(_with(data[0][:100], 11, 40, value))
    with pytest.raises(ValueError, match=f"X contains {name} at row 11, column 40"):
        CoreNetCompressor(keep_ratio=0.5).fit(mlp, X)


def test_non_finite_dataframe_names_the_position(data, mlp):
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(_with(data[0][:100], 5, 2, np.inf), index=np.arange(100) + 1000)
    with pytest.raises(ValueError, match="infinity at row 5, column 2"):
        CoreNetCompressor(keep_ratio=0.5).fit(mlp, X)


def test_values_beyond_the_models_dtype(data, mlp):
    small = copy.deepcopy(mlp)
    small.coefs_ = [W.astype(np.float32) for W in small.coefs_]
    small.intercepts_ = [b.astype(np.float32) for b in small.intercepts_]
    X = _with(data[0][:100], 4, 9, 1e300)
    with pytest.raises(ValueError, match=r"row 4, column 9 beyond the range of float32.*1e\+300"):
        CoreNetCompressor(keep_ratio=0.5).fit(small, X)


@pytest.mark.parametrize(
    "make",
    [
        lambda X: np.full(X.shape, "a", dtype=object),
        lambda X: np.where(np.arange(X.size).reshape(X.shape) == 3, "x", X.astype(object)),
    ],
    ids=["strings", "one-string"],
)
def test_non_numeric_data(data, mlp, make):
    with pytest.raises(ValueError, match="must be numeric"):
        CoreNetCompressor(keep_ratio=0.5).fit(mlp, make(data[0][:50]))


def test_complex_data(data, mlp):
    with pytest.raises(ValueError, match="[Cc]omplex"):
        CoreNetCompressor(keep_ratio=0.5).fit(mlp, data[0][:50] + 1j)


@pytest.mark.parametrize("method", ["auto", "corenet++", "magnitude", "wanda"])
def test_a_row_that_overflows_the_model_is_named(data, mlp, method):
    X = np.array(data[0][:100], copy=True)
    X[6] = 1e308
    with pytest.raises(ValueError, match="calibration row 6 of X overflows the model.*layer"):
        CoreNetCompressor(**_params(method)).fit(mlp, X)


@pytest.mark.parametrize("method", [*METHODS, "neurons-activation", "theory"])
def test_a_huge_row_is_refused_by_name_or_compressed_finitely(data, mlp, method):
    # 1e155: finite activations whose squares overflow (the re-fit, activation scores)
    X = np.array(data[0][:100], copy=True)
    X[3] = 1e155
    params = {"keep_ratio": "theory"} if method == "theory" else _params(method)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            sparse = _compress(mlp, X, **params)
    except ValueError as error:
        assert "calibration row 3 of X" in str(error)
    else:
        assert _finite(sparse)


@pytest.mark.parametrize("method", [*METHODS, "theory"])
def test_subnormal_inputs_give_a_finite_model(data, mlp, method):
    # sums of subnormal numbers have reciprocals that overflow: they count as
    # zero, never as negative sample sizes
    X = data[0][:100] * 1e-310
    params = {"keep_ratio": "theory"} if method == "theory" else _params(method)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        sparse = _compress(mlp, X, **params)
    assert _finite(sparse)
    assert sparse.predict(data[0]).shape == (len(data[0]),)


def test_one_subnormal_value_changes_nothing_else(data, mlp):
    X = _with(data[0][:200], 0, 20, 1e-310)
    reference = _compress(mlp, data[0][:200], keep_ratio=0.3, method="corenet")
    sparse = _compress(mlp, X, keep_ratio=0.3, method="corenet")
    assert _finite(sparse)
    assert sparse.nnz_ == reference.nnz_


# -- the model's weights ----------------------------------------------------------


@pytest.mark.parametrize(
    "where, value, expected",
    [
        (("coefs_", 0, (3, 2)), np.nan, "layer 0 has NaN on the edge from input 3 to neuron 2"),
        (("coefs_", 1, (5, 0)), np.inf, "layer 1 has infinity on the edge from input 5 to neuron 0"),
        (("coefs_", 2, (0, 9)), -np.inf, "layer 2 has -infinity on the edge from input 0 to neuron 9"),
        (("intercepts_", 0, (4,)), np.nan, "layer 0 has NaN as the bias of neuron 4"),
        (("intercepts_", 2, (1,)), np.inf, "layer 2 has infinity as the bias of neuron 1"),
    ],
)
@pytest.mark.parametrize("method", ["auto", "magnitude"])
def test_non_finite_weights_are_named(data, mlp, where, value, expected, method):
    broken = copy.deepcopy(mlp)
    attribute, layer, index = where
    getattr(broken, attribute)[layer][index] = value
    with pytest.raises(ValueError, match=re.escape(expected)):
        CoreNetCompressor(**_params(method)).fit(broken, data[0][:100])


def test_non_finite_torch_weights_are_named(data):
    torch = pytest.importorskip("torch")
    module = torch.nn.Sequential(torch.nn.Linear(64, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).double()
    with torch.no_grad():
        module[2].weight[1, 4] = float("nan")
    with pytest.raises(ValueError, match="layer 1 has NaN on the edge from input 4 to neuron 1"):
        CoreNetCompressor(keep_ratio=0.5).fit(module, data[0][:100])


@pytest.mark.parametrize("params", [{"keep_ratio": 0.3}, {"method": "corenet++"}])
def test_float16_weights_are_compressed_in_float32_and_said_so(data, mlp, params):
    half = copy.deepcopy(mlp)
    half.coefs_ = [W.astype(np.float16) for W in half.coefs_]
    half.intercepts_ = [b.astype(np.float16) for b in half.intercepts_]
    with pytest.warns(UserWarning, match="float16.*float32"):
        sparse = CoreNetCompressor(random_state=0, **params).fit_transform(half, data[0][:200])
    assert all(W.dtype == np.float32 for W in sparse.coefs_)
    assert _finite(sparse)
    assert sparse.predict(data[0]).shape == half.predict(data[0]).shape


def test_layers_of_mixed_precision_are_compressed_in_the_widest(data, mlp):
    mixed = copy.deepcopy(mlp)
    mixed.coefs_[0] = mixed.coefs_[0].astype(np.float32)
    sparse = _compress(mixed, data[0][:200], keep_ratio=1.0)
    assert all(W.dtype == np.float64 for W in sparse.coefs_)
    np.testing.assert_array_equal(sparse.predict(data[0]), mixed.predict(data[0]))


@pytest.mark.parametrize("method", ["auto", "corenet", "magnitude", "l1", "l2"])
def test_huge_weights_are_refused_by_name_or_compressed_finitely(data, mlp, method):
    big = copy.deepcopy(mlp)
    big.coefs_[1][2, 3] = 1e307
    try:
        sparse = _compress(big, data[0][:100], **_params(method))
    except ValueError as error:
        assert re.search(r"layer \d|row \d", str(error))
    else:
        assert _finite(sparse)


# -- budgets that round to (almost) nothing ---------------------------------------


def _kept_counts(caught):
    """The parameter counts the warnings say the compressed network keeps."""
    counts = []
    for warning in caught:
        message = str(warning.message)
        counts += [int(n) for n in re.findall(r"the compressed network keeps (\d+)", message)]
    return counts


@pytest.mark.parametrize("keep_ratio", [1e-9, 0.002])
@pytest.mark.parametrize("method", METHODS)
def test_tiny_budgets_keep_what_the_warnings_say(data, mlp, method, keep_ratio):
    X = data[0][:200]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sparse = CoreNetCompressor(keep_ratio=keep_ratio, method=method, random_state=0).fit_transform(mlp, X)
    assert _finite(sparse)
    for count in _kept_counts(caught):
        assert count == sparse.nnz_
    predicted = sparse.predict(X)
    if len(np.unique(predicted)) == 1 and len(np.unique(mlp.predict(X))) > 1:
        assert any("predicts the same label" in str(w.message) for w in caught), [str(w.message) for w in caught]


@pytest.mark.parametrize("method", ["corenet", "corenet++", "uniform", "l1"])
def test_sampling_keeps_its_floor_at_a_budget_of_zero(data, mlp, method):
    with pytest.warns(UserWarning, match=r"asks for 0 parameters.*keeps (\d+)") as caught:
        sparse = CoreNetCompressor(keep_ratio=1e-9, method=method, random_state=0).fit_transform(mlp, data[0][:200])
    floor = _kept_counts(caught)[0]
    assert floor > 0
    assert sparse.nnz_ == floor


def test_a_constant_regressor_is_said_so(data):
    X, _ = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        regressor = MLPRegressor(hidden_layer_sizes=(8,), max_iter=50, random_state=0).fit(X, X[:, 10])
    with pytest.warns(UserWarning, match="none of them is on a path.*predicts the same values"):
        CoreNetCompressor(keep_ratio=1e-9, method="magnitude").fit_transform(regressor, X[:100])


def test_no_warning_when_the_original_is_constant_too(data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        one_class = MLPClassifier((8,), max_iter=5, random_state=0).fit(X, np.zeros(len(X), dtype=int))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sparse = CoreNetCompressor(keep_ratio=1e-9, method="magnitude").fit_transform(one_class, X[:100])
    np.testing.assert_array_equal(sparse.predict(X), one_class.predict(X))


# -- a fit that fails leaves the estimator as it was --------------------------------


def _same(a, b, seen=None):
    """Deep equality of two object graphs (arrays by value, NaN equal to NaN)."""
    seen = set() if seen is None else seen
    if (id(a), id(b)) in seen:
        return True
    seen.add((id(a), id(b)))
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    if sp.issparse(a):
        return a.shape == b.shape and (a != b).nnz == 0
    if isinstance(a, np.random.RandomState):
        return _same(a.get_state(legacy=False), b.get_state(legacy=False), seen)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k], seen) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y, seen) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and np.isnan(a):
        return np.isnan(b)
    if dataclasses.is_dataclass(a) or hasattr(a, "__dict__"):
        return _same(vars(a), vars(b), seen)
    return a == b


def _failing_refits(data, mlp):
    X = data[0][:200]
    broken = copy.deepcopy(mlp)
    broken.coefs_[0][0, 0] = np.nan
    return {
        "nan-data": (lambda c: c.fit(mlp, _with(X, 1, 1, np.nan))),
        "nan-model": (lambda c: c.fit(broken, X)),
        "overflow": (lambda c: c.fit(mlp, np.vstack([X[:50], np.full((1, 64), 1e308)]))),
        "unsupported": (lambda c: c.fit(object(), X)),
        "too-few-rows": (lambda c: c.set_params(method="corenet++").fit(mlp, X[:1])),
        "calibration-size": (lambda c: c.set_params(calibration_size=10_000).fit(mlp, X)),
        "bad-parameter": (lambda c: c.set_params(epsilon=2.0).fit(mlp, X)),
        "wrong-features": (lambda c: c.fit(mlp, X[:, :10])),
    }


@pytest.mark.parametrize(
    "failure",
    ["nan-data", "nan-model", "overflow", "unsupported", "too-few-rows", "calibration-size", "bad-parameter", "wrong-features"],
)
@pytest.mark.parametrize("params", [{"keep_ratio": 0.3, "method": "corenet"}, {"keep_ratio": 0.3}])
def test_a_failed_refit_leaves_the_compressor_as_it_was(data, mlp, failure, params):
    compressor = CoreNetCompressor(random_state=0, **params).fit(mlp, data[0][:200])
    before = copy.deepcopy(compressor.__dict__)
    expected = compressor.transform()
    with pytest.raises((ValueError, TypeError)):
        _failing_refits(data, mlp)[failure](compressor)
    # hyperparameters changed by set_params are the caller's; the fitted state is not
    compressor.set_params(**{k: before[k] for k in compressor.get_params()})
    assert _same(copy.deepcopy(compressor.__dict__), before)
    again = compressor.transform()
    for a, b in zip(expected.coefs_, again.coefs_, strict=True):
        assert (a != b).nnz == 0


def test_a_failed_first_fit_leaves_an_unfitted_compressor(data, mlp):
    compressor = CoreNetCompressor(keep_ratio=0.3)
    before = copy.deepcopy(compressor.__dict__)
    with pytest.raises(ValueError):
        compressor.fit(mlp, _with(data[0][:100], 0, 0, np.nan))
    assert _same(compressor.__dict__, before)
    with pytest.raises(NotFittedError):
        compressor.transform()


def test_a_failed_fit_leaves_a_random_state_object_as_it_was(data, mlp):
    random = np.random.RandomState(3)
    state = random.get_state(legacy=False)
    with pytest.raises(ValueError, match="calibration_size"):
        CoreNetCompressor(keep_ratio=0.3, calibration_size=10_000, random_state=random).fit(mlp, data[0][:200])
    assert _same(random.get_state(legacy=False), state)


@pytest.mark.parametrize("change", [{"ridge": 10.0}, {"random_state": 7}, {"reweight": "none"}])
def test_parameters_changed_after_fit_do_not_change_transform(data, mlp, change):
    compressor = CoreNetCompressor(keep_ratio=0.3, random_state=0).fit(mlp, data[0][:200])
    expected = compressor.transform()
    compressor.set_params(**change)
    again = compressor.transform()
    for a, b in zip(expected.coefs_, again.coefs_, strict=True):
        assert (a != b).nnz == 0


@pytest.mark.parametrize("failure", ["nan-data", "wrong-features", "bad-parameter"])
@pytest.mark.parametrize("cls", [CoreNetClassifier, CoreNetRegressor])
def test_a_failed_refit_leaves_the_meta_estimator_as_it_was(data, mlp, failure, cls):
    X, y = data
    if cls is CoreNetRegressor:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = MLPRegressor(hidden_layer_sizes=(8,), max_iter=50, random_state=0).fit(X, X[:, 10])
        y = X[:, 10]
    else:
        model = mlp
    estimator = cls(FrozenEstimator(model), keep_ratio=0.3, random_state=0).fit(X[:200], y[:200])
    expected = estimator.predict(X)
    before = copy.deepcopy(estimator.__dict__)
    bad = {
        "nan-data": lambda e: e.fit(_with(X[:200], 2, 2, np.nan), y[:200]),
        "wrong-features": lambda e: e.fit(X[:200, :5], y[:200]),
        "bad-parameter": lambda e: e.set_params(keep_ratio=3.0).fit(X[:200], y[:200]),
    }[failure]
    with pytest.raises((ValueError, InvalidParameterError)):
        bad(estimator)
    estimator.set_params(keep_ratio=0.3)
    # deep copies on both sides: a compressed model's copy leaves out its kernel cache
    assert _same(copy.deepcopy(estimator.__dict__), before)
    np.testing.assert_array_equal(estimator.predict(X), expected)


# -- feature names as scikit-learn checks them ----------------------------------


@pytest.fixture(scope="module")
def frames(data):
    pd = pytest.importorskip("pandas")
    X, y = data
    columns = [f"pixel{i}" for i in range(64)]
    frame = pd.DataFrame(X, columns=columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        named = MLPClassifier((8,), max_iter=30, random_state=0).fit(frame, y)
    return frame, named


def _names_warnings(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return [str(w.message) for w in caught if "feature names" in str(w.message)]


def test_a_frame_for_a_model_fitted_without_names_warns(data, mlp, frames):
    frame, _ = frames
    messages = _names_warnings(lambda: CoreNetCompressor(keep_ratio=0.5).fit(mlp, frame))
    assert messages == ["X has feature names, but MLPClassifier was fitted without feature names"]


def test_an_array_for_a_model_fitted_with_names_warns(data, frames):
    frame, named = frames
    messages = _names_warnings(lambda: CoreNetCompressor(keep_ratio=0.5).fit(named, frame.to_numpy()))
    assert messages == ["X does not have valid feature names, but MLPClassifier was fitted with feature names"]


def test_other_names_are_refused_as_scikit_learn_does(frames):
    frame, named = frames
    with pytest.raises(ValueError, match="The feature names should match those that were passed during fit"):
        CoreNetCompressor(keep_ratio=0.5).fit(named, frame.rename(columns={"pixel3": "other"}))


def test_matching_names_give_no_warning(frames):
    frame, named = frames
    assert _names_warnings(lambda: CoreNetCompressor(keep_ratio=0.5).fit(named, frame)) == []


@pytest.mark.parametrize("fitted_with", ["array", "frame"])
def test_the_compressed_model_checks_names_as_scikit_learn(data, mlp, frames, fitted_with):
    frame, named = frames
    X = frame.to_numpy()
    if fitted_with == "array":
        sparse = _compress(mlp, X, keep_ratio=0.5)
        given, expected = frame, "X has feature names, but SparseMLPClassifier was fitted without feature names"
    else:
        sparse = _compress(named, frame, keep_ratio=0.5)
        given, expected = X, "X does not have valid feature names, but SparseMLPClassifier was fitted with feature names"
    assert _names_warnings(lambda: sparse.predict(given)) == [expected]


@pytest.mark.parametrize("fitted_with", ["array", "frame"])
def test_the_meta_estimator_warns_once(data, mlp, frames, fitted_with):
    frame, named = frames
    X, y = frame.to_numpy(), data[1]
    if fitted_with == "array":
        estimator = CoreNetClassifier(FrozenEstimator(mlp), keep_ratio=0.5).fit(X, y)
        given = frame
    else:
        estimator = CoreNetClassifier(FrozenEstimator(named), keep_ratio=0.5).fit(frame, y)
        given = X
    for method in ("predict", "predict_proba"):
        messages = _names_warnings(lambda method=method: getattr(estimator, method)(given))
        assert len(messages) == 1 and "CoreNetClassifier" in messages[0]
