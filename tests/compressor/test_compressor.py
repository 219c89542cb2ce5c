import copy
import pickle
import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_corenet import CoreNetCompressor, SparseMLPClassifier, SparseMLPRegressor

SAMPLING_METHODS = ["corenet", "corenet+", "corenet++", "uniform", "l1", "l2", "l1+l2"]


@pytest.mark.parametrize("method", [*SAMPLING_METHODS, "magnitude"])
@pytest.mark.parametrize("keep_ratio", [0.05, 0.2, 0.5])
def test_budget_is_met(digits, digits_mlp, method, keep_ratio):
    X, _ = digits
    compressor = CoreNetCompressor(keep_ratio=keep_ratio, method=method, random_state=0)
    sparse = compressor.fit_transform(digits_mlp, X[:600])
    assert compressor.n_params_ >= 10_000
    assert abs(sparse.nnz_ - keep_ratio * compressor.n_params_) <= 0.01 * keep_ratio * compressor.n_params_
    assert sparse.keep_ratio_ == pytest.approx(keep_ratio, rel=0.01)


def test_keep_ratio_one_reproduces_original(digits, digits_mlp):
    X, _ = digits
    for method in ("corenet++", "magnitude", "l1"):
        sparse = CoreNetCompressor(keep_ratio=1.0, method=method).fit_transform(digits_mlp, X)
        np.testing.assert_allclose(sparse.predict_proba(X), digits_mlp.predict_proba(X), rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(sparse.predict(X), digits_mlp.predict(X))
        np.testing.assert_allclose(sparse.predict_proba(X[:3]), digits_mlp.predict_proba(X[:3]), rtol=1e-10, atol=1e-14)
        assert sparse.nnz_ == np.sum([np.count_nonzero(W) for W in digits_mlp.coefs_ + digits_mlp.intercepts_])


def test_random_state_makes_transform_reproducible(digits, digits_mlp):
    X, _ = digits
    compressor = CoreNetCompressor(keep_ratio=0.2, method="corenet++", random_state=3).fit(digits_mlp, X[:500])
    a, b = compressor.transform(), compressor.transform()
    for Wa, Wb in zip(a.coefs_, b.coefs_, strict=True):
        assert (Wa != Wb).nnz == 0
    again = CoreNetCompressor(keep_ratio=0.2, method="corenet++", random_state=3).fit_transform(digits_mlp, X[:500])
    np.testing.assert_array_equal(again.predict_proba(X), a.predict_proba(X))


def test_transforms_without_seed_differ(digits, digits_mlp):
    X, _ = digits
    compressor = CoreNetCompressor(keep_ratio=0.2, method="corenet++").fit(digits_mlp, X[:500])
    a, b = compressor.transform(), compressor.transform()
    assert any((Wa != Wb).nnz > 0 for Wa, Wb in zip(a.coefs_, b.coefs_, strict=True))


def test_dead_neurons_are_removed(digits):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp = MLPClassifier((40,), max_iter=50, random_state=0).fit(X[:300], y[:300])
    mlp = copy.deepcopy(mlp)
    # make three hidden neurons dead: strongly negative bias, no input can lift them
    mlp.intercepts_[0][[1, 5, 7]] = -1e3
    for method, shrinks in (("corenet", False), ("corenet+", True), ("corenet++", True)):
        compressor = CoreNetCompressor(keep_ratio=0.5, method=method, random_state=0)
        sparse = compressor.fit_transform(mlp, X[:300])
        dead = compressor.dead_neurons_[0]
        assert {1, 5, 7} <= set(dead.tolist())
        hidden = mlp.coefs_[0].shape[1]
        assert sparse.hidden_layer_sizes_ == ((hidden - dead.size,) if shrinks else (hidden,))
        # neurons that never fire on S really are zero on every point of S
        activations = np.maximum(X[:300] @ mlp.coefs_[0] + mlp.intercepts_[0], 0)
        assert np.all(activations[:, dead] == 0)
        assert sparse.coefs_[0].shape[1] == sparse.coefs_[1].shape[0]
    # removing neurons that never fire changes nothing on the calibration data
    full = CoreNetCompressor(keep_ratio=1.0, method="corenet+").fit_transform(mlp, X[:300])
    np.testing.assert_allclose(full.predict_proba(X[:300]), mlp.predict_proba(X[:300]))


def test_corenet_plus_plus_has_lower_error_than_corenet(digits, digits_mlp):
    # amplification picks, per neuron, the best of n_trials candidates on T
    X, _ = digits
    errors = {}
    for method in ("corenet+", "corenet++"):
        runs = []
        for seed in range(3):
            sparse = CoreNetCompressor(keep_ratio=0.3, method=method, random_state=seed).fit_transform(
                digits_mlp, X[:800]
            )
            reference = digits_mlp.predict_proba(X[800:])
            runs.append(np.mean(np.abs(sparse.predict_proba(X[800:]) - reference).sum(axis=1)))
        errors[method] = np.mean(runs)
    assert errors["corenet++"] < errors["corenet+"]


def test_theory_mode_reports_its_quantities(digits, digits_mlp):
    X, _ = digits
    compressor = CoreNetCompressor(keep_ratio="theory", epsilon=0.5, delta=0.1, random_state=0).fit(digits_mlp, X[:500])
    sparse = compressor.transform()
    assert compressor.epsilon_ == 0.5
    assert compressor.theoretical_nnz_ >= sparse.nnz_
    assert len(compressor.delta_hat_) == 3 and np.all(compressor.delta_hat_ >= 1)
    assert all(m.shape == (2, W.shape[1]) for m, W in zip(compressor.sample_sizes_, digits_mlp.coefs_, strict=True))
    # the guarantee's sample sizes are large: nearly the whole network is kept
    np.testing.assert_array_equal(sparse.predict(X), digits_mlp.predict(X))
    assert compressor.calibration_size_ <= 400  # a fifth held out for amplification


def test_budget_mode_reports_epsilon(digits, digits_mlp):
    X, _ = digits
    small = CoreNetCompressor(keep_ratio=0.1, method="corenet++", random_state=0).fit(digits_mlp, X[:500])
    large = CoreNetCompressor(keep_ratio=0.5, method="corenet++", random_state=0).fit(digits_mlp, X[:500])
    # a larger budget means more samples, so a smaller ε
    assert np.isfinite(small.epsilon_) and large.epsilon_ < small.epsilon_
    assert small.budget_ == round(0.1 * small.n_params_)


def test_regressor_and_float32(regression_data, regression_mlp):
    X, y = regression_data
    mlp32 = copy.deepcopy(regression_mlp)
    mlp32.coefs_ = [W.astype(np.float32) for W in mlp32.coefs_]
    mlp32.intercepts_ = [b.astype(np.float32) for b in mlp32.intercepts_]
    sparse = CoreNetCompressor(keep_ratio=0.9, random_state=0).fit_transform(mlp32, X)
    assert isinstance(sparse, SparseMLPRegressor)
    assert all(W.dtype == np.float32 for W in sparse.coefs_)
    assert sparse.score(X, y) > 0.5


def test_summary_is_a_table(digits, digits_mlp):
    X, _ = digits
    compressor = CoreNetCompressor(keep_ratio=0.2, random_state=0).fit(digits_mlp, X[:500])
    sparse = compressor.transform()
    text = str(compressor.summary(sparse))
    lines = text.splitlines()
    assert "ε_ℓ" in lines[1] and "dead" in lines[1]
    assert len(lines) == 3 + len(digits_mlp.coefs_)
    assert str(sparse.nnz_) in lines[0]


def test_model_is_not_modified(digits, digits_mlp):
    X, _ = digits
    before = pickle.dumps(digits_mlp)
    X_before = X.copy()
    CoreNetCompressor(keep_ratio=0.2, random_state=0).fit_transform(digits_mlp, X)
    assert pickle.dumps(digits_mlp) == before
    np.testing.assert_array_equal(X, X_before)


def test_compressor_pickles(digits, digits_mlp):
    X, _ = digits
    compressor = CoreNetCompressor(keep_ratio=0.2, random_state=0).fit(digits_mlp, X[:300])
    clone = pickle.loads(pickle.dumps(compressor))
    np.testing.assert_array_equal(clone.transform().predict(X), compressor.transform().predict(X))


def test_verbose_shows_progress(digits, digits_mlp, capsys):
    X, _ = digits
    CoreNetCompressor(keep_ratio=0.2, method="corenet++", verbose=1).fit(digits_mlp, X[:100])
    assert "sensitivities" in capsys.readouterr().err


def test_non_relu_warns_and_compresses(digits):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp = MLPClassifier((30,), activation="tanh", max_iter=100, random_state=0).fit(X[:500], y[:500])
    with pytest.warns(UserWarning, match="assumes ReLU"):
        sparse = CoreNetCompressor(keep_ratio=0.5, random_state=0).fit_transform(mlp, X[:500])
    assert sparse.activation == "tanh"
    assert sparse.score(X[500:], y[500:]) > 0.5


# -- bad input --------------------------------------------------------------


def test_unfitted_model(digits):
    with pytest.raises(NotFittedError):
        CoreNetCompressor().fit(MLPClassifier(), digits[0])


def test_unsupported_model(digits):
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(TypeError, match="LogisticRegression"):
        CoreNetCompressor().fit(LogisticRegression(), digits[0])


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 5, np.nan, X), "NaN"),
        (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 5, np.inf, X), "infinity"),
        (lambda X: X[:, :-1], "63 features"),
        (lambda X: X[:0], "0 sample"),
        (lambda X: np.full(X.shape, "a", dtype=object), "numeric"),
    ],
)
def test_bad_calibration_data(digits, digits_mlp, bad, message):
    with pytest.raises(ValueError, match=message):
        CoreNetCompressor(keep_ratio=0.5).fit(digits_mlp, bad(digits[0][:50]))


def test_too_few_rows_for_amplification(digits, digits_mlp):
    with pytest.raises(ValueError, match="at least 2 calibration rows"):
        CoreNetCompressor(keep_ratio=0.5, method="corenet++").fit(digits_mlp, digits[0][:1])
    # one row is enough without amplification
    CoreNetCompressor(keep_ratio=0.5, method="corenet").fit(digits_mlp, digits[0][:1])


@pytest.mark.parametrize(
    "params",
    [{"epsilon": 0}, {"epsilon": 1.0}, {"delta": 0}, {"delta": 1.5}, {"keep_ratio": 0}, {"keep_ratio": 1.2}, {"method": "nope"}],
)
def test_invalid_parameters(digits, digits_mlp, params):
    with pytest.raises(InvalidParameterError):
        CoreNetCompressor(**params).fit(digits_mlp, digits[0][:50])


def test_unknown_method_lists_valid_ones(digits, digits_mlp):
    with pytest.raises(InvalidParameterError, match="corenet\\+\\+"):
        CoreNetCompressor(method="nope").fit(digits_mlp, digits[0][:50])


def test_baseline_needs_budget(digits, digits_mlp):
    with pytest.raises(ValueError, match="keep_ratio"):
        CoreNetCompressor(method="l1", keep_ratio="theory").fit(digits_mlp, digits[0][:50])


def test_transform_before_fit():
    with pytest.raises(NotFittedError):
        CoreNetCompressor().transform()


def test_transform_refuses_another_model(digits, digits_mlp, regression_mlp):
    compressor = CoreNetCompressor(keep_ratio=0.5).fit(digits_mlp, digits[0][:50])
    assert isinstance(compressor.transform(digits_mlp), SparseMLPClassifier)
    with pytest.raises(ValueError, match="other than the one given to fit"):
        compressor.transform(regression_mlp)


def test_feature_names_must_match(digits, digits_mlp):
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(digits[0][:50], columns=[f"p{i}" for i in range(64)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        named = MLPRegressor(hidden_layer_sizes=(5,), max_iter=5).fit(X, np.arange(50.0))
    CoreNetCompressor(keep_ratio=0.5).fit(named, X)
    with pytest.raises(ValueError, match="feature names"):
        CoreNetCompressor(keep_ratio=0.5).fit(named, X.rename(columns={"p0": "other"}))


@pytest.mark.parametrize("keep_ratio", [0.8, 0.95])
def test_budget_near_capacity_is_met_or_explained(digits, keep_ratio):
    # pixels that are zero in every calibration image give edges of zero
    # sensitivity: the budget can exceed what sampling can keep
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp = MLPClassifier((64, 64), max_iter=100, random_state=0).fit(X[:600], y[:600])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compressor = CoreNetCompressor(keep_ratio=keep_ratio, method="corenet++", random_state=0).fit(mlp, X[:600])
    capacity = sum(int(p.support_sizes[p.allocation > 0].sum()) for p in compressor._plan.sampling_plans)
    assert capacity < compressor.n_params_
    explained = any(f"can keep only {capacity}" in str(w.message) for w in caught)
    assert explained == (capacity < compressor.budget_)
    sparse = compressor.transform()
    assert sparse.nnz_ == min(compressor.budget_, capacity)


def test_budget_below_one_edge_per_row_warns(digits, digits_mlp):
    X, _ = digits
    with pytest.warns(UserWarning, match="at least one edge of each neuron"):
        compressor = CoreNetCompressor(keep_ratio=0.001, method="corenet", random_state=0).fit(digits_mlp, X[:300])
    floor = sum(int(np.count_nonzero(p.allocation > 0)) for p in compressor._plan.sampling_plans)
    assert compressor.transform().nnz_ == floor


@pytest.mark.parametrize("keep_ratio", [0.003, 0.01, 0.3, 0.7])
def test_allocation_solve_converges_at_any_budget(digits, digits_mlp, keep_ratio):
    X, _ = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        compressor = CoreNetCompressor(keep_ratio=keep_ratio, method="corenet++", random_state=0).fit(
            digits_mlp, X[:300]
        )
    assert np.isfinite(compressor._plan.allocation_constant)
    floor = sum(int(np.count_nonzero(p.allocation > 0)) for p in compressor._plan.sampling_plans)
    assert compressor.transform().nnz_ == max(compressor.budget_, floor)


def test_keep_ratio_one_does_not_warn_about_capacity(digits, digits_mlp):
    X, _ = digits
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sparse = CoreNetCompressor(keep_ratio=1.0, method="corenet", random_state=0).fit_transform(digits_mlp, X[:300])
    assert sparse.keep_ratio_ == pytest.approx(1.0, abs=1e-3)
