import warnings

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_corenet import METHODS, CoreNetCompressor
from sklearn_corenet.adapters._sklearn import network_from_sklearn
from sklearn_corenet.algorithm import REWEIGHT_RULES, ReweightRule, lstsq_reweight
from sklearn_corenet.algorithm._reweight import reweight_doc
from sklearn_corenet.algorithm._sensitivity import augmented_weights
from sklearn_corenet.core._memo import memoized, memoizing
from sklearn_corenet.core._threads import one_blas_thread


def _relative_error(model, compressed, X):
    reference = model.predict_proba(X)
    return np.mean(np.abs(compressed.predict_proba(X) - reference).sum(axis=1) / np.abs(reference).sum(axis=1))


@pytest.mark.parametrize("keep_ratio", [0.1, 0.2, 0.3])
def test_lstsq_lowers_error_of_corenet_plus_plus(digits, digits_mlp, keep_ratio):
    X, _ = digits
    errors = {}
    for reweight in ("unbiased", "lstsq"):
        compressed = CoreNetCompressor(
            keep_ratio=keep_ratio, method="corenet++", reweight=reweight, random_state=0
        ).fit_transform(digits_mlp, X[:1000])
        errors[reweight] = _relative_error(digits_mlp, compressed, X[1000:])
    assert errors["lstsq"] < 0.7 * errors["unbiased"]


def test_lstsq_keeps_the_sparsity_pattern(digits, digits_mlp):
    X, _ = digits
    network = network_from_sklearn(digits_mlp)
    rng = np.random.default_rng(0)
    layers = [augmented_weights(W, b) * (rng.random((W.shape[0] + 1, W.shape[1])) < 0.2)
              for W, b in zip(network.coefs, network.intercepts, strict=True)]
    fitted = lstsq_reweight(network, layers, X[:800])
    for before, after in zip(layers, fitted, strict=True):
        assert np.array_equal(before != 0, after != 0)
        assert np.all(np.isfinite(after))


def test_lstsq_reproduces_a_layer_it_can_represent(digits, digits_mlp):
    # keeping every edge of the first layer, the re-fit must give back the
    # original weights (the least-squares optimum is the original itself)
    X, _ = digits
    network = network_from_sklearn(digits_mlp)
    layers = [augmented_weights(W, b) for W, b in zip(network.coefs, network.intercepts, strict=True)]
    fitted = lstsq_reweight(network, layers, X[:1500], ridge=1e-9)
    Z = np.hstack([X, np.ones((len(X), 1))]) @ layers[0]
    Z_fit = np.hstack([X, np.ones((len(X), 1))]) @ fitted[0]
    assert np.max(np.abs(Z - Z_fit)) < 1e-6 * np.max(np.abs(Z))


def test_too_few_points_warns_and_stays_finite(digits, digits_mlp):
    X, _ = digits
    with pytest.warns(UserWarning, match="calibration points"):
        compressed = CoreNetCompressor(keep_ratio=0.5, method="magnitude", reweight="lstsq", random_state=0).fit_transform(
            digits_mlp, X[:20]
        )
    assert all(np.all(np.isfinite(W.data)) for W in compressed.coefs_)


def test_default_is_the_recommended_method(digits, digits_mlp):
    X, y = digits
    auto = CoreNetCompressor(keep_ratio=0.1, random_state=0).fit(digits_mlp, X[:1000])
    assert auto.method_.name == "measured" and auto.reweight_ == "lstsq"
    theory = CoreNetCompressor(keep_ratio="theory", random_state=0)
    with pytest.warns(UserWarning, match="sample sizes keep up to"):
        theory.fit(digits_mlp, X[:1000])
    assert theory.method_.name == "corenet++" and theory.reweight_ == "unbiased"
    # the default certifies, with the recommended method
    default = CoreNetCompressor(random_state=0).fit(digits_mlp, X[:1000])
    assert default.method_.name == "measured" and default.certificate_.holds
    # the recommended method loses less accuracy than magnitude pruning
    for keep_ratio in (0.05, 0.1, 0.2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = CoreNetCompressor(keep_ratio=keep_ratio, random_state=0).fit_transform(digits_mlp, X[:1000])
        magnitude = CoreNetCompressor(keep_ratio=keep_ratio, method="magnitude").fit_transform(digits_mlp, X[:1000])
        assert ours.score(X[1000:], y[1000:]) >= magnitude.score(X[1000:], y[1000:])


@pytest.mark.parametrize("method, reweight", [("magnitude", "unbiased"), ("wanda", "unbiased"), ("corenet", "none")])
def test_invalid_reweight_combinations(digits, digits_mlp, method, reweight):
    with pytest.raises(InvalidParameterError, match="Valid combinations"):
        CoreNetCompressor(keep_ratio=0.5, method=method, reweight=reweight).fit(digits_mlp, digits[0][:50])


def test_fine_tune_starts_from_selected_edges_after_lstsq(digits, digits_mlp):
    X, y = digits
    compressed = CoreNetCompressor(keep_ratio=0.2, random_state=0).fit_transform(digits_mlp, X[:1000])
    assert compressed.compression_info_["reweight"] == "lstsq"
    refitted = [W.copy() for W in compressed.coefs_]
    # a negligible learning rate shows where training starts
    compressed.fine_tune(X, y, epochs=1, learning_rate=1e-12, early_stopping=False, random_state=0)
    for W, before, original in zip(compressed.coefs_, refitted, digits_mlp.coefs_, strict=True):
        rows, cols = W.nonzero()
        np.testing.assert_allclose(W.data, original[rows, cols], rtol=1e-6, atol=1e-9)
        assert (W != 0).sum() == (before != 0).sum()
        assert not np.allclose(before.data, W.data)
    with pytest.raises(ValueError, match="reweight='lstsq'"):
        compressed.fine_tune(X, y, init="selected", epochs=1)


def test_fine_tune_current_keeps_refitted_start(digits, digits_mlp):
    X, y = digits
    compressed = CoreNetCompressor(keep_ratio=0.2, random_state=0).fit_transform(digits_mlp, X[:1000])
    refitted = [W.data.copy() for W in compressed.coefs_]
    compressed.fine_tune(X, y, init="current", epochs=1, learning_rate=1e-12, early_stopping=False, random_state=0)
    for W, before in zip(compressed.coefs_, refitted, strict=True):
        np.testing.assert_allclose(W.data, before, rtol=1e-6, atol=1e-9)


def test_ridge_zero_with_too_few_points_gives_a_finite_least_norm_fit(digits, digits_mlp):
    # fewer points than kept edges and no ridge: singular systems are solved
    # by their pseudo-inverse, never a LinAlgError
    X, _ = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        sparse = CoreNetCompressor(keep_ratio=0.3, ridge=0.0, random_state=0).fit_transform(digits_mlp, X[:20])
    assert all(np.isfinite(W.data).all() for W in sparse.coefs_)
    assert sparse.score(X[:20], digits_mlp.predict(X[:20])) > 0.5


def test_a_new_rule_is_one_function_and_its_registration(digits, digits_mlp, monkeypatch):
    """A rule added to the registry is accepted, documented and used by every method of its kind."""

    def halve(network, layers, X, *, ridge, overwrite=False, sample_weight=None):
        return [W * 0.5 for W in layers]

    rule = ReweightRule(halve, sampling=False, selection=True, description="half the kept values")
    monkeypatch.setitem(REWEIGHT_RULES, "halve", rule)
    X, _ = digits
    assert "halve" in METHODS["magnitude"].reweights
    assert "halve" not in METHODS["corenet"].reweights
    assert '"halve": half the kept values' in " ".join(reweight_doc().split())
    plain = CoreNetCompressor(method="magnitude", keep_ratio=0.2, random_state=0).fit_transform(digits_mlp, X)
    halved = CoreNetCompressor(
        method="magnitude", keep_ratio=0.2, reweight="halve", random_state=0
    ).fit_transform(digits_mlp, X)
    for W, W_half in zip(plain.coefs_, halved.coefs_, strict=True):
        np.testing.assert_allclose(W_half.toarray(), 0.5 * W.toarray())
    with pytest.raises(ValueError, match="cannot use reweight='halve'"):
        CoreNetCompressor(method="corenet", keep_ratio=0.2, reweight="halve").fit(digits_mlp, X)


@pytest.mark.parametrize("weighted", [False, True])
def test_lstsq_by_chunks_of_rows_equals_the_fit_on_all_rows(digits, digits_mlp, weighted):
    # a small working_memory computes the inputs of every layer again for each
    # chunk of rows; the fit must not depend on it
    X, _ = digits
    network = network_from_sklearn(digits_mlp)
    rng = np.random.default_rng(1)
    fractions = (0.3, 0.05, 0.5)
    layers = [augmented_weights(W, b) * (rng.random((W.shape[0] + 1, W.shape[1])) < fraction)
              for W, b, fraction in zip(network.coefs, network.intercepts, fractions, strict=True)]
    layers[1][:, :40] = 0  # removed neurons: the next layer reads only the inputs with kept edges
    weight = rng.integers(0, 3, size=1000).astype(float) if weighted else None
    whole = lstsq_reweight(network, layers, X[:1000], sample_weight=weight)
    chunked = lstsq_reweight(network, layers, X[:1000], sample_weight=weight, working_memory=0.05)
    for W, W_chunked in zip(whole, chunked, strict=True):
        np.testing.assert_allclose(W_chunked, W, rtol=0, atol=1e-9 * np.abs(W).max())


def test_re_fits_sharing_the_original_targets_equal_fresh_ones(digits, digits_mlp):
    # inside memoizing(), the re-fits of one network on the same rows compute
    # the original's pre-activations once (what a measuring rule does for each
    # candidate); each re-fit must equal the one computed alone, and the
    # shared values must not be changed by the re-fits
    X, _ = digits
    network = network_from_sklearn(digits_mlp)
    rows = X[:900]
    rng = np.random.default_rng(2)
    candidates = [
        [augmented_weights(W, b) * (rng.random((W.shape[0] + 1, W.shape[1])) < fraction)
         for W, b in zip(network.coefs, network.intercepts, strict=True)]
        for fraction in (0.1, 0.4, 0.1)
    ]
    alone = [lstsq_reweight(network, layers, rows) for layers in candidates]
    with memoizing():
        shared = [lstsq_reweight(network, layers, rows) for layers in candidates]
    for fitted, expected in zip(shared, alone, strict=True):
        for W, W_alone in zip(fitted, expected, strict=True):
            np.testing.assert_array_equal(W, W_alone)


def test_memoized_values_are_computed_once_per_scope_and_not_kept_after():
    calls = []

    def compute():
        calls.append(1)
        return len(calls)

    first, second = np.zeros(3), np.zeros(3)
    assert memoized("key", (first,), compute) == 1 and memoized("key", (first,), compute) == 2  # no scope
    with memoizing():
        assert memoized("key", (first,), compute) == 3 and memoized("key", (first,), compute) == 3
        with memoizing():  # a scope inside a scope is the same scope
            assert memoized("key", (first,), compute) == 3
        assert memoized("other", (first,), compute) == 4
        assert memoized("key", (second,), compute) == 5  # an equal object is another key
    assert memoized("key", (first,), compute) == 6


def test_one_blas_thread_limits_blas_inside_only():
    from threadpoolctl import threadpool_info

    before = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    with one_blas_thread():
        inside = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    assert inside and all(n == 1 for n in inside)
    assert [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"] == before
