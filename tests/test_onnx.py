"""ONNX export through skl2onnx, checked against onnxruntime."""

import subprocess
import sys

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_corenet import (
    CoreNetClassifier,
    CoreNetCompressor,
    CoreNetRegressor,
    SparseMLPClassifier,
    SparseMLPRegressor,
    to_onnx,
)
from tests._quiet import fit_quietly

skl2onnx = pytest.importorskip("skl2onnx")
onnxruntime = pytest.importorskip("onnxruntime")

TOLERANCE = 1e-5




def _run(onx, X):
    session = onnxruntime.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    return session.run(None, {session.get_inputs()[0].name: X})


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(loc=3.0, scale=2.0, size=(300, 6))
    return X, rng


@pytest.fixture(scope="module")
def models(data):
    X, rng = data
    Z = (X - 3.0) / 2.0
    small = {"hidden_layer_sizes": (24, 12), "max_iter": 200, "random_state": 0}
    return {
        "binary": fit_quietly(MLPClassifier(**small), Z, np.where(Z[:, 0] + Z[:, 1] > 0, "yes", "no")),
        "multiclass": fit_quietly(MLPClassifier(**small), Z, np.array([3, 5, 7])[np.argmax(Z[:, :3], axis=1)]),
        "multilabel": fit_quietly(MLPClassifier(**small), Z, (Z[:, :3] > 0).astype(int)),
        "regression": fit_quietly(MLPRegressor(**small), Z, Z[:, 0] - Z[:, 1]),
        "multi-output": fit_quietly(MLPRegressor(**small), Z, Z[:, :2]),
        "poisson": fit_quietly(MLPRegressor(loss="poisson", **small), Z, rng.poisson(np.exp(Z[:, 0] / 2))),
    }


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pipeline_round_trip_through_onnxruntime(data, dtype):
    X, _ = data
    y = np.array(["ant", "bee", "cat"])[np.argmax(X[:, :3], axis=1)]
    pipe = make_pipeline(
        StandardScaler(),
        CoreNetClassifier(
            MLPClassifier(hidden_layer_sizes=(32,), max_iter=200, random_state=0),
            keep_ratio=0.2,
            random_state=0,
        ),
    )
    fit_quietly(pipe, X, y)
    X = X.astype(dtype)
    onx = to_onnx(pipe, X[:1], options={id(pipe[-1]): {"zipmap": False}})
    labels, proba = _run(onx, X)
    np.testing.assert_array_equal(labels, pipe.predict(X))
    np.testing.assert_allclose(proba, pipe.predict_proba(X), atol=TOLERANCE, rtol=0)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel", "regression", "multi-output", "poisson"])
def test_every_head_of_a_compressed_model(data, models, kind):
    X, _ = data
    Z = (X - 3.0) / 2.0
    sparse = CoreNetCompressor(keep_ratio=0.4, random_state=0).fit_transform(models[kind], Z)
    Z32 = Z.astype(np.float32)
    if hasattr(sparse, "predict_proba"):
        onx = to_onnx(sparse, Z32[:1], options={"zipmap": False})
        labels, proba = _run(onx, Z32)
        np.testing.assert_array_equal(labels, sparse.predict(Z32))
        np.testing.assert_allclose(proba, sparse.predict_proba(Z32), atol=TOLERANCE, rtol=0)
    else:
        (values,) = _run(to_onnx(sparse, Z32[:1]), Z32)
        expected = sparse.predict(Z32).reshape(len(Z32), -1)
        np.testing.assert_allclose(values, expected, atol=TOLERANCE, rtol=TOLERANCE)


def test_meta_regressor_and_default_zipmap(data, models):
    X, _ = data
    Z = (X - 3.0) / 2.0
    net = CoreNetRegressor(
        MLPRegressor(hidden_layer_sizes=(16,), max_iter=200, random_state=0), keep_ratio=0.5, random_state=0
    )
    fit_quietly(net, Z, Z[:, 0] * Z[:, 1])
    (values,) = _run(to_onnx(net, Z[:1]), Z)
    np.testing.assert_allclose(values.ravel(), net.predict(Z), atol=1e-10)
    # classifiers default to skl2onnx's ZipMap (float32 input, as ONNX's ZipMap
    # takes): one {label: probability} per row
    sparse = CoreNetCompressor(keep_ratio=0.5, random_state=0).fit_transform(models["multiclass"], Z)
    Z32 = Z.astype(np.float32)
    labels, maps = _run(to_onnx(sparse, Z32[:1]), Z32)
    np.testing.assert_array_equal(labels, sparse.predict(Z32))
    assert sorted(maps[0]) == [3, 5, 7]
    np.testing.assert_allclose([maps[0][c] for c in (3, 5, 7)], sparse.predict_proba(Z32[:1])[0], atol=TOLERANCE)


def test_sparse_weights_are_smaller_and_give_the_same_outputs(data, models):
    X, _ = data
    Z = (X - 3.0) / 2.0
    sparse = CoreNetCompressor(keep_ratio=0.1, random_state=0).fit_transform(models["multiclass"], Z)
    options = {"zipmap": False}
    stored_sparse = to_onnx(sparse, Z[:1], options={**options, "sparse_weights": True})
    stored_dense = to_onnx(sparse, Z[:1], options={**options, "sparse_weights": False})
    assert len(stored_sparse.SerializeToString()) < 0.5 * len(stored_dense.SerializeToString())
    for a, b in zip(_run(stored_sparse, Z), _run(stored_dense, Z), strict=True):
        np.testing.assert_array_equal(a, b)
    nocl = to_onnx(sparse, Z[:1], options={**options, "nocl": True})
    np.testing.assert_array_equal(_run(nocl, Z)[0], np.searchsorted([3, 5, 7], sparse.predict(Z)))


def test_importing_the_library_imports_no_optional_dependency():
    code = (
        "import sys, sklearn_corenet; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'torch', 'skorch', 'skops', 'skl2onnx', 'onnx', 'onnxruntime'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_pipeline_with_fitted_preprocessing_and_a_compressed_model(data, models):
    X, _ = data
    scaler = StandardScaler().fit(X)
    sparse = CoreNetCompressor(keep_ratio=0.2, random_state=0).fit_transform(
        models["binary"], scaler.transform(X)
    )
    pipe = make_pipeline(scaler, sparse)
    X32 = X.astype(np.float32)
    labels, proba = _run(to_onnx(pipe, X32[:1], options={id(sparse): {"zipmap": False}}), X32)
    np.testing.assert_array_equal(labels, pipe.predict(X32))
    np.testing.assert_allclose(proba, pipe.predict_proba(X32), atol=TOLERANCE, rtol=0)


def _declared_probability_columns(onx):
    (output,) = [output for output in onx.graph.output if output.name == "probabilities"]
    return output.type.tensor_type.shape.dim[1].dim_value


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["one class", "binary", "multiclass", "multilabel"])
def test_declared_probabilities_are_those_computed_and_predict_proba(data, models, kind, dtype):
    X, _ = data
    Z = (X - 3.0) / 2.0
    if kind == "one class":
        model = fit_quietly(MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, random_state=0), Z, np.full(len(Z), "only"))
    else:
        model = models[kind]
    sparse = CoreNetCompressor(keep_ratio=0.4, random_state=0).fit_transform(model, Z)
    Z = Z.astype(dtype)
    onx = to_onnx(sparse, Z[:1], options={"zipmap": False})
    labels, proba = _run(onx, Z)
    expected = sparse.predict_proba(Z)
    assert _declared_probability_columns(onx) == proba.shape[1] == expected.shape[1]
    np.testing.assert_allclose(proba, expected, atol=TOLERANCE, rtol=0)
    np.testing.assert_array_equal(labels, sparse.predict(Z))


def test_one_class_classifier_refuses_zipmap_and_says_how_to_convert(data):
    X, _ = data
    Z = ((X - 3.0) / 2.0).astype(np.float32)
    model = fit_quietly(MLPClassifier(hidden_layer_sizes=(8,), max_iter=50, random_state=0), Z, np.zeros(len(Z), int))
    sparse = CoreNetCompressor(keep_ratio=0.4, random_state=0).fit_transform(model, Z)
    assert sparse.predict_proba(Z[:2]).shape == (2, 2)  # two columns for one class, as scikit-learn's MLP
    with pytest.raises(ValueError, match=r"1 class\(es\), \[0\].*2 columns.*'zipmap': False"):
        to_onnx(sparse, Z[:1])


@pytest.mark.parametrize(
    "model",
    [
        SparseMLPClassifier(),
        SparseMLPRegressor(),
        CoreNetClassifier(MLPClassifier()),
        CoreNetRegressor(MLPRegressor()),
        make_pipeline(StandardScaler(), CoreNetClassifier(MLPClassifier())),
    ],
    ids=lambda model: type(model).__name__,
)
def test_unfitted_models_are_refused_before_conversion(data, model):
    X, _ = data
    with pytest.raises(NotFittedError, match="not fitted; ONNX converts fitted models"):
        to_onnx(model, X[:1].astype(np.float32))
