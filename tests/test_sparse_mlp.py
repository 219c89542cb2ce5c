import io
import pickle
import warnings

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError
from sklearn.neural_network import MLPClassifier, MLPRegressor

from sklearn_corenet import CoreNetCompressor, SparseMLPClassifier, SparseMLPRegressor


def _fit(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X, y)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6))
    return X, rng


def _models(data):
    X, rng = data
    binary_strings = np.where(X[:, 0] + X[:, 1] > 0, "yes", "no")
    multiclass = np.array(["a", "b", "c"])[np.argmax(X[:, :3], axis=1)]
    multilabel = (X[:, :3] > 0).astype(int)
    small = {"hidden_layer_sizes": (16,), "max_iter": 200, "random_state": 0}
    return {
        "binary": (_fit(MLPClassifier(**small), X, binary_strings), SparseMLPClassifier),
        "multiclass": (_fit(MLPClassifier(**small), X, multiclass), SparseMLPClassifier),
        "multilabel": (_fit(MLPClassifier(**small), X, multilabel), SparseMLPClassifier),
        "regression": (_fit(MLPRegressor(**small), X, X[:, 0] - X[:, 1]), SparseMLPRegressor),
        "multi-output": (_fit(MLPRegressor(**small), X, X[:, :2]), SparseMLPRegressor),
        "poisson": (_fit(MLPRegressor(loss="poisson", **small), X, rng.poisson(np.exp(X[:, 0] / 2))), SparseMLPRegressor),
    }


@pytest.mark.parametrize("kind", ["binary", "multiclass", "multilabel", "regression", "multi-output", "poisson"])
def test_keep_ratio_one_follows_original_semantics(data, kind):
    X, _ = data
    model, expected_type = _models(data)[kind]
    sparse = CoreNetCompressor(keep_ratio=1.0).fit_transform(model, X)
    assert type(sparse) is expected_type
    prediction = sparse.predict(X)
    assert prediction.dtype == model.predict(X).dtype
    if expected_type is SparseMLPClassifier:
        np.testing.assert_array_equal(prediction, model.predict(X))
        np.testing.assert_array_equal(sparse.classes_, model.classes_)
        np.testing.assert_allclose(sparse.predict_proba(X), model.predict_proba(X), rtol=1e-12)
        assert sparse.score(X, model.predict(X)) == 1.0
    else:
        np.testing.assert_allclose(prediction, model.predict(X), rtol=1e-12)
    # single rows go through the sparse kernel: same result to round-off
    for row in range(3):
        np.testing.assert_allclose(
            np.atleast_1d(sparse.predict(X[row : row + 1]) if expected_type is SparseMLPRegressor else sparse.predict_proba(X[row : row + 1])),
            np.atleast_1d(model.predict(X[row : row + 1]) if expected_type is SparseMLPRegressor else model.predict_proba(X[row : row + 1])),
            rtol=1e-10,
        )


def test_sparse_and_dense_kernels_agree(digits, digits_mlp):
    X, _ = digits
    sparse = CoreNetCompressor(keep_ratio=0.2, random_state=0).fit_transform(digits_mlp, X)
    batched = sparse.predict_proba(X)  # large batch: dense kernel
    one_by_one = np.vstack([sparse.predict_proba(X[i : i + 1]) for i in range(0, 200)])
    np.testing.assert_allclose(batched[:200], one_by_one, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(sparse.predict_proba(sp.csr_matrix(X[:100])), batched[:100], rtol=1e-10, atol=1e-13)


def test_coefs_are_csr_arrays(digits, digits_mlp):
    X, _ = digits
    sparse = CoreNetCompressor(keep_ratio=0.2, method="corenet", random_state=0).fit_transform(digits_mlp, X)
    assert all(isinstance(W, sp.csr_array) for W in sparse.coefs_)
    assert [W.shape for W in sparse.coefs_] == [W.shape for W in digits_mlp.coefs_]
    assert sparse.hidden_layer_sizes_ == (100, 100)
    assert sparse.nnz_ == sum(W.nnz for W in sparse.coefs_) + sum(np.count_nonzero(b) for b in sparse.intercepts_)


@pytest.mark.parametrize("roundtrip", ["pickle", "joblib"])
def test_roundtrip_gives_identical_predictions(digits, digits_mlp, roundtrip):
    X, _ = digits
    sparse = CoreNetCompressor(keep_ratio=0.2, random_state=0).fit_transform(digits_mlp, X)
    sparse.predict(X)  # fills the dense cache, which must not be pickled
    if roundtrip == "pickle":
        payload = pickle.dumps(sparse)
        assert b"_kernel_cache" not in payload
        loaded = pickle.loads(payload)
    else:
        buffer = io.BytesIO()
        joblib.dump(sparse, buffer)
        buffer.seek(0)
        loaded = joblib.load(buffer)
    np.testing.assert_array_equal(loaded.predict_proba(X), sparse.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict_proba(X[:1]), sparse.predict_proba(X[:1]))


def test_pickle_is_small(digits, digits_mlp):
    X, _ = digits
    sparse = CoreNetCompressor(keep_ratio=0.1, random_state=0).fit_transform(digits_mlp, X)
    assert len(pickle.dumps(sparse)) < 0.25 * len(pickle.dumps(digits_mlp))


def test_feature_names_from_dataframe(digits):
    pd = pytest.importorskip("pandas")
    X, y = digits
    frame = pd.DataFrame(X[:400], columns=[f"pixel_{i}" for i in range(64)])
    mlp = _fit(MLPClassifier(hidden_layer_sizes=(20,), max_iter=100, random_state=0), frame, y[:400])
    sparse = CoreNetCompressor(keep_ratio=1.0).fit_transform(mlp, frame)
    np.testing.assert_array_equal(sparse.feature_names_in_, mlp.feature_names_in_)
    np.testing.assert_array_equal(sparse.predict(frame), mlp.predict(frame))
    with pytest.raises(ValueError, match="feature names"):
        sparse.predict(frame.rename(columns={"pixel_0": "x"}))


def test_wrong_feature_count_at_predict(digits, digits_mlp):
    X, _ = digits
    sparse = CoreNetCompressor(keep_ratio=0.5, random_state=0).fit_transform(digits_mlp, X)
    with pytest.raises(ValueError, match="features"):
        sparse.predict(X[:, :10])


def test_empty_estimator_is_not_fitted():
    with pytest.raises(NotFittedError):
        SparseMLPClassifier().predict(np.zeros((1, 2)))


@pytest.mark.parametrize("bias", [-5.0, 5.0])
def test_model_fitted_on_one_class_predicts_it(data, bias):
    X, _ = data
    mlp = _fit(MLPClassifier((8,), max_iter=30, random_state=0), X, np.full(X.shape[0], "only"))
    mlp.intercepts_[-1][:] = bias  # the output unit on either side of the threshold
    sparse = CoreNetCompressor(keep_ratio=0.5, method="magnitude").fit_transform(mlp, X)
    np.testing.assert_array_equal(sparse.predict(X[:20]), mlp.predict(X[:20]))
    assert sparse.predict_proba(X[:20]).shape == mlp.predict_proba(X[:20]).shape
