"""Property-based test: random small networks, data and parameters.

Whatever the network (depth, widths, activation, output head, labels,
weight scale), the calibration data (rows, scale, zeros, subnormal or huge
values) and the compressor's parameters (method, budget or theory mode,
reweighting, trials, calibration size, ridge), a call either raises a named
error with a message (ValueError, TypeError, NotFittedError) or returns a
finite model whose predictions have the original's shapes, dtype and
labels. Examples are bounded and derandomised, so the test runs in seconds
and the same way every time.
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import LabelBinarizer

from sklearn_corenet import METHODS, CoreNetCompressor

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

OUT_ACTIVATIONS = {"regression": "identity", "binary": "logistic", "multiclass": "softmax", "multilabel": "logistic"}
SCALES = [0.0, 1e-310, 1e-3, 1.0, 30.0, 1e150, 1e300]


@st.composite
def networks(draw):
    """A fitted scikit-learn MLP with random weights: (model, kind)."""
    kind = draw(st.sampled_from(list(OUT_ACTIVATIONS)))
    n_features = draw(st.integers(1, 6))
    hidden = draw(st.lists(st.integers(1, 6), min_size=0, max_size=2))
    n_outputs = {
        "regression": draw(st.integers(1, 3)),
        "binary": 1,
        "multiclass": draw(st.integers(2, 4)),
        "multilabel": draw(st.integers(2, 3)),
    }[kind]
    widths = [n_features, *hidden, n_outputs]
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    density = draw(st.sampled_from([1.0, 0.5]))
    coefs = [
        rng.normal(scale=1 / np.sqrt(a), size=(a, b)) * (rng.random((a, b)) < density)
        for a, b in zip(widths[:-1], widths[1:], strict=True)
    ]
    intercepts = [rng.normal(scale=0.1, size=b) for b in widths[1:]]
    activation = draw(st.sampled_from(["relu", "relu", "tanh", "logistic", "identity"]))
    cls = MLPRegressor if kind == "regression" else MLPClassifier
    model = cls(hidden_layer_sizes=tuple(hidden), activation=activation)
    model.coefs_, model.intercepts_ = coefs, intercepts
    model.n_features_in_, model.n_outputs_, model.n_layers_ = n_features, n_outputs, len(coefs) + 1
    model.out_activation_ = OUT_ACTIVATIONS[kind]
    model.n_iter_ = model.t_ = 0
    if kind != "regression":
        if kind == "multilabel":
            labels = np.eye(n_outputs, dtype=int)
        else:
            names = draw(st.sampled_from([["a", "b", "c", "d"], [3, 1, 4, 9]]))
            labels = np.array(names[: max(n_outputs, 2)])
        model._label_binarizer = LabelBinarizer().fit(labels)
        model.classes_ = model._label_binarizer.classes_
    return model, kind


@st.composite
def calibration(draw, n_features):
    n_rows = draw(st.integers(1, 30))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    X = rng.normal(scale=draw(st.sampled_from(SCALES)), size=(n_rows, n_features))
    if draw(st.booleans()):
        X[rng.random(X.shape) < 0.3] = 0.0
    if draw(st.integers(0, 9)) == 0:  # now and then one extreme value
        X[rng.integers(n_rows), rng.integers(n_features)] = draw(st.sampled_from([1e300, -1e300, 1e-310, np.nan, np.inf]))
    return X


@st.composite
def parameters(draw):
    method = draw(st.sampled_from(["auto", *sorted(METHODS)]))
    params = {"method": method, "random_state": draw(st.integers(0, 100))}
    if draw(st.integers(0, 4)) == 0:
        params["epsilon"] = draw(st.sampled_from([0.1, 0.5, 0.9]))  # theory mode (some methods refuse it)
    else:
        params["keep_ratio"] = draw(st.sampled_from([1e-9, 0.01, 0.1, 0.3, 0.7, 1.0]))
    # mostly valid combinations, now and then one a method refuses
    params["reweight"] = draw(st.sampled_from(["auto"] * 6 + ["unbiased", "lstsq", "none"]))
    params["n_trials"] = draw(st.integers(1, 3))
    params["calibration_size"] = draw(st.sampled_from(["auto"] * 6 + [1, 5, 1000]))
    params["ridge"] = draw(st.sampled_from([1e-3, 0.0]))
    params["allocation"] = draw(st.sampled_from(["sensitivity", "theory"]))
    return params


@hypothesis.settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[hypothesis.HealthCheck.too_slow, hypothesis.HealthCheck.data_too_large],
)
@hypothesis.given(st.data())
def test_a_named_error_or_a_finite_model_that_predicts_like_the_original(data):
    model, kind = data.draw(networks())
    X = data.draw(calibration(model.n_features_in_))
    params = data.draw(parameters())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compressed = CoreNetCompressor(**params).fit_transform(model, X)
    except (ValueError, TypeError, NotFittedError) as error:
        assert str(error).strip(), f"{type(error).__name__} without a message"
        return
    assert all(np.isfinite(W.data).all() for W in compressed.coefs_)
    assert all(np.isfinite(b).all() for b in compressed.intercepts_)
    test = np.random.default_rng(0).normal(size=(7, model.n_features_in_))
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        expected, got = model.predict(test), compressed.predict(test)
    assert got.shape == expected.shape
    assert got.dtype == expected.dtype
    if kind == "multilabel":
        assert np.isin(got, [0, 1]).all()
    elif kind != "regression":
        assert np.isin(got, model.classes_).all()
        np.testing.assert_array_equal(compressed.classes_, model.classes_)
