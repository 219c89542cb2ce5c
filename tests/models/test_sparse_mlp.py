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
from tests._quiet import fit_quietly


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
        "binary": (fit_quietly(MLPClassifier(**small), X, binary_strings), SparseMLPClassifier),
        "multiclass": (fit_quietly(MLPClassifier(**small), X, multiclass), SparseMLPClassifier),
        "multilabel": (fit_quietly(MLPClassifier(**small), X, multilabel), SparseMLPClassifier),
        "regression": (fit_quietly(MLPRegressor(**small), X, X[:, 0] - X[:, 1]), SparseMLPRegressor),
        "multi-output": (fit_quietly(MLPRegressor(**small), X, X[:, :2]), SparseMLPRegressor),
        "poisson": (fit_quietly(MLPRegressor(loss="poisson", **small), X, rng.poisson(np.exp(X[:, 0] / 2))), SparseMLPRegressor),
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
    mlp = fit_quietly(MLPClassifier(hidden_layer_sizes=(20,), max_iter=100, random_state=0), frame, y[:400])
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
    mlp = fit_quietly(MLPClassifier((8,), max_iter=30, random_state=0), X, np.full(X.shape[0], "only"))
    mlp.intercepts_[-1][:] = bias  # the output unit on either side of the threshold
    sparse = CoreNetCompressor(keep_ratio=0.5, method="magnitude").fit_transform(mlp, X)
    np.testing.assert_array_equal(sparse.predict(X[:20]), mlp.predict(X[:20]))
    assert sparse.predict_proba(X[:20]).shape == mlp.predict_proba(X[:20]).shape


# -- a fitted scikit-learn estimator ----------------------------------------


@pytest.fixture(scope="module")
def labelled(digits):
    """Digits with string labels, a fitted scaler, and a model compressed on scaled data."""
    from sklearn.preprocessing import StandardScaler

    X, y = digits
    labels = np.array(list("abcdefghij"))[y]
    scaler = StandardScaler().fit(X[:1000])
    mlp = fit_quietly(MLPClassifier((32,), max_iter=100, random_state=0), scaler.transform(X[:1000]), labels[:1000])
    sparse = CoreNetCompressor(keep_ratio=0.3, random_state=0).fit_transform(mlp, scaler.transform(X[:1000]))
    return X, labels, scaler, sparse


def test_last_step_of_a_pipeline_with_fitted_preprocessing(labelled):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, labels, scaler, sparse = labelled
    expected = sparse.predict(scaler.transform(X))
    np.testing.assert_array_equal(make_pipeline(scaler, sparse).predict(X), expected)
    # fitting the pipeline fits the preprocessing, not the compressed model
    weights = [W.data.copy() for W in sparse.coefs_]
    pipe = make_pipeline(StandardScaler(), sparse).fit(X[:1000], labels[:1000])
    np.testing.assert_array_equal(pipe.predict(X), expected)
    for W, before in zip(sparse.coefs_, weights, strict=True):
        np.testing.assert_array_equal(W.data, before)


def test_fit_leaves_the_model_unchanged_and_checks_features(labelled):
    X, labels, scaler, sparse = labelled
    Xs = scaler.transform(X)
    before = sparse.predict_proba(Xs)
    assert sparse.fit(Xs[:50], labels[:50], sample_weight=np.ones(50)) is sparse
    np.testing.assert_array_equal(sparse.predict_proba(Xs), before)
    with pytest.raises(ValueError, match="features"):
        sparse.fit(Xs[:, :5], labels)
    with pytest.raises(NotFittedError, match="CoreNetCompressor.transform"):
        SparseMLPClassifier().fit(Xs, labels)


def test_clone_is_a_fitted_copy(labelled):
    from sklearn.base import clone
    from sklearn.utils.validation import check_is_fitted

    X, _, scaler, sparse = labelled
    copy = clone(sparse)
    assert copy is not sparse and copy.coefs_[0] is not sparse.coefs_[0]
    check_is_fitted(copy)
    np.testing.assert_array_equal(copy.predict_proba(scaler.transform(X)), sparse.predict_proba(scaler.transform(X)))
    assert sparse.get_params() == {} and copy.get_params() == {}
    assert type(clone(SparseMLPRegressor())) is SparseMLPRegressor


def test_frozen_calibrated_and_voting(labelled):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import VotingClassifier
    from sklearn.frozen import FrozenEstimator

    X, labels, scaler, sparse = labelled
    Xs = scaler.transform(X)
    np.testing.assert_array_equal(FrozenEstimator(sparse).fit(Xs, labels).predict(Xs), sparse.predict(Xs))
    calibrated = CalibratedClassifierCV(FrozenEstimator(sparse)).fit(Xs[1000:1400], labels[1000:1400])
    assert calibrated.predict_proba(Xs[1400:]).shape == (len(X) - 1400, 10)
    assert calibrated.score(Xs[1400:], labels[1400:]) > 0.8
    # soft voting averages the probabilities of the fitted models as they are
    other = sparse.astype(np.float32)
    voting = VotingClassifier([("a", sparse), ("b", other)], voting="soft").fit(Xs, labels)
    expected = (sparse.predict_proba(Xs) + other.predict_proba(Xs)) / 2
    np.testing.assert_allclose(voting.predict_proba(Xs), expected)
    np.testing.assert_array_equal(voting.predict(Xs), sparse.classes_[expected.argmax(axis=1)])


def test_hard_voting_with_class_indices(digits, digits_mlp):
    # hard voting refits its estimators on labels encoded as 0 .. n_classes - 1
    # (a fitted model cannot follow): it works for models trained on those
    from sklearn.ensemble import VotingClassifier

    X, y = digits
    a = CoreNetCompressor(keep_ratio=0.3, random_state=0).fit_transform(digits_mlp, X)
    b = CoreNetCompressor(keep_ratio=0.5, random_state=0).fit_transform(digits_mlp, X)
    voting = VotingClassifier([("a", a), ("b", b)], voting="hard").fit(X, y)
    assert voting.score(X, y) > 0.9


def test_cross_val_score_and_permutation_importance(labelled):
    from sklearn.inspection import permutation_importance
    from sklearn.model_selection import KFold, cross_val_score

    X, labels, scaler, sparse = labelled
    Xs = scaler.transform(X)
    # the one model, scored on every fold
    scores = cross_val_score(sparse, Xs, labels, cv=KFold(3))
    folds = np.array_split(np.arange(len(X)), 3)
    np.testing.assert_allclose(scores, [sparse.score(Xs[f], labels[f]) for f in folds])
    importance = permutation_importance(sparse, Xs[1400:], labels[1400:], n_repeats=2, random_state=0)
    assert importance.importances_mean.shape == (64,)
    assert importance.importances_mean.max() > 0


def test_html_repr_says_fitted(labelled):
    html = labelled[3]._repr_html_()
    assert "<span>Fitted</span>" in html or "Fitted" in html
    assert "Not fitted" not in html
    assert "Not fitted" in SparseMLPClassifier()._repr_html_()


# scikit-learn's checks that apply to a fitted model without hyperparameters;
# the others fit on the checks' own data (another number of features,
# labels) and expect the model to learn from it, which fit does not do
APPLICABLE_CHECKS = {
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_estimator_cloneable",
    "check_estimator_repr",
    "check_estimator_tags_renamed",
    "check_get_params_invariance",
    "check_mixin_order",
    "check_non_transformer_estimators_n_iter",
    "check_parameters_default_constructible",
    "check_set_params",
    "check_valid_tag_types",
}


@pytest.mark.parametrize("kind", ["binary", "regression"])
def test_scikit_learn_checks_that_apply(data, kind):
    from sklearn.utils.estimator_checks import check_estimator

    X, _ = data
    model, _ = _models(data)[kind]
    sparse = CoreNetCompressor(keep_ratio=0.8, random_state=0).fit_transform(model, X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = check_estimator(sparse, on_fail=None)
    status = {result["check_name"]: result["status"] for result in results}
    assert APPLICABLE_CHECKS <= status.keys()
    assert {name: status[name] for name in APPLICABLE_CHECKS} == dict.fromkeys(APPLICABLE_CHECKS, "passed")


# -- lean when saved ---------------------------------------------------------


def _dense_bytes(model):
    return sum(W.nbytes for W in model.coefs_) + sum(b.nbytes for b in model.intercepts_)


@pytest.mark.parametrize("method", ["auto", "magnitude", "corenet++"])
def test_ten_percent_pickles_to_at_most_thirteen_percent(digits, digits_mlp, method):
    X, _ = digits
    sparse = CoreNetCompressor(keep_ratio=0.1, method=method, random_state=0).fit_transform(digits_mlp, X)
    assert digits_mlp.coefs_[0].dtype == np.float64
    size = len(pickle.dumps(sparse))
    assert size <= 0.13 * _dense_bytes(digits_mlp)
    # float32 values: half the values' bytes (the pattern takes the same room)
    size32 = len(pickle.dumps(sparse.astype(np.float32)))
    assert size32 <= size - 0.45 * 4 * sparse.nnz_
    assert size32 <= 0.08 * _dense_bytes(digits_mlp)


def test_saved_model_leaves_out_the_values_before_refit(digits, digits_mlp):
    X, y = digits
    sparse = CoreNetCompressor(keep_ratio=0.2, random_state=0).fit_transform(digits_mlp, X)
    assert sparse.compression_info_.reweight == "lstsq" and sparse.selected_values_ is not None
    loaded = pickle.loads(pickle.dumps(sparse))
    assert loaded.selected_values_ is None
    np.testing.assert_array_equal(loaded.predict_proba(X), sparse.predict_proba(X))
    with pytest.raises(ValueError, match="init='selected'"):
        loaded.fine_tune(X, y, init="selected", epochs=1)
    # an in-memory copy keeps everything
    import copy

    assert copy.deepcopy(sparse).selected_values_ is not None


def test_loaded_weights_have_the_int32_indices_scipy_gives(digits, digits_mlp):
    X, _ = digits
    sparse = CoreNetCompressor(keep_ratio=0.2, method="magnitude").fit_transform(digits_mlp, X)
    loaded = joblib.load(_joblib_buffer(sparse))
    for W, got in zip(sparse.coefs_, loaded.coefs_, strict=True):
        assert isinstance(got, sp.csr_array) and got.indices.dtype == W.indices.dtype == np.int32
        assert (got != W).nnz == 0
    assert loaded.nnz_ == sparse.nnz_


def _joblib_buffer(model):
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    buffer.seek(0)
    return buffer


def test_astype_float32(digits, digits_mlp):
    X, _ = digits
    sparse = CoreNetCompressor(keep_ratio=0.3, random_state=0).fit_transform(digits_mlp, X)
    small = sparse.astype(np.float32)
    assert all(W.dtype == np.float32 for W in small.coefs_)
    assert all(b.dtype == np.float32 for b in small.intercepts_)
    assert sparse.coefs_[0].dtype == np.float64  # the original is unchanged
    assert small.nnz_ == sparse.nnz_
    np.testing.assert_allclose(small.predict_proba(X), sparse.predict_proba(X), atol=1e-5)
    with pytest.raises(ValueError, match="floating"):
        sparse.astype(np.int32)
