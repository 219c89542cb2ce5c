"""Grid search over compression: frozen networks, caching, scorer, refit rule."""

import os
import pickle
import warnings

import numpy as np
import pytest
from sklearn.exceptions import FitFailedWarning
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from threadpoolctl import threadpool_limits

from sklearn_corenet import (
    CoreNetClassifier,
    CoreNetCompressor,
    kept_fraction_scorer,
    make_kept_fraction_scorer,
    sparsest_within,
)

BUDGETS = [0.05, 0.1, 0.2, 0.3, 0.5]
SCORING = {"accuracy": "accuracy", "kept_fraction": kept_fraction_scorer}


class CountingMLP(MLPClassifier):
    """An MLPClassifier that counts the calls to ``fit``."""

    n_fits = 0

    def fit(self, X, y, **kwargs):
        type(self).n_fits += 1
        return super().fit(X, y, **kwargs)



@pytest.fixture(scope="module")
def data():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X[:900] / 16, y[:900]


@pytest.fixture(scope="module")
def counting_mlp(data):
    X, y = data
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore")
        return CountingMLP(hidden_layer_sizes=(64, 64), max_iter=100, random_state=0).fit(X, y)


def _cache_entries(location, function=""):
    """Results cached under ``location``, of the functions whose name contains ``function``."""
    return sum(
        "output.pkl" in files for folder, _, files in os.walk(location) if function in folder
    )


def _search(estimator, tolerance=0.02, **kwargs):
    return GridSearchCV(
        estimator,
        {"keep_ratio": BUDGETS},
        scoring=SCORING,
        cv=KFold(3, shuffle=True, random_state=0),
        refit=sparsest_within(tolerance),
        **kwargs,
    )


def test_search_over_budgets_never_refits_a_frozen_network(data, counting_mlp, tmp_path):
    X, y = data
    coefs = [W.copy() for W in counting_mlp.coefs_]
    CountingMLP.n_fits = 0
    net = CoreNetClassifier(
        FrozenEstimator(counting_mlp), method="corenet++", memory=str(tmp_path), random_state=0
    )
    search = _search(net, tolerance=0.15).fit(X, y)
    assert CountingMLP.n_fits == 0
    for before, after in zip(coefs, counting_mlp.coefs_, strict=True):
        np.testing.assert_array_equal(before, after)
    # sensitivities and sampling plans: once per fold (3) and once for the
    # refit on all of X, whatever the number of budgets
    assert _cache_entries(tmp_path, "compute_layer_statistics") == 3 + 1
    assert _cache_entries(tmp_path, "sampling_plans") == 3 + 1
    kept = search.cv_results_["mean_test_kept_fraction"]
    np.testing.assert_allclose(kept, BUDGETS, atol=1e-3)
    accuracy = search.cv_results_["mean_test_accuracy"]
    # the refit rule: the sparsest candidate within 0.15 of the best accuracy,
    # not the most accurate one
    eligible = np.flatnonzero(accuracy >= accuracy.max() - 0.15)
    assert search.best_index_ == eligible[np.argmin(kept[eligible])]
    assert kept[search.best_index_] < kept[np.argmax(accuracy)]
    best = search.best_estimator_
    assert best.compressed_.keep_ratio_ == pytest.approx(BUDGETS[search.best_index_], abs=1e-3)
    assert best.estimator_ is counting_mlp


def test_cached_search_gives_the_uncached_results(data, counting_mlp, tmp_path):
    X, y = data
    net = CoreNetClassifier(FrozenEstimator(counting_mlp), method="corenet++", random_state=0)
    cached = _search(net.set_params(memory=str(tmp_path))).fit(X, y)
    uncached = _search(net.set_params(memory=None)).fit(X, y)
    for key in ("mean_test_accuracy", "mean_test_kept_fraction"):
        np.testing.assert_array_equal(cached.cv_results_[key], uncached.cv_results_[key])


def test_search_over_epsilon_in_theory_mode(data, counting_mlp):
    X, y = data
    net = CoreNetClassifier(FrozenEstimator(counting_mlp), method="corenet", random_state=0)
    search = GridSearchCV(
        net,
        {"epsilon": [0.05, 0.5, 0.95]},
        scoring=SCORING,
        cv=KFold(3, shuffle=True, random_state=0),
        refit=sparsest_within(0.05),
    ).fit(X, y)
    kept = search.cv_results_["mean_test_kept_fraction"]
    # the guarantee's sample sizes grow as ε shrinks: a smaller ε never keeps
    # less (with the paper's constants, this small network is kept whole
    # wherever the sensitivity is non-zero, whatever ε)
    assert kept[0] >= kept[1] >= kept[2] > 0
    assert np.isfinite(search.cv_results_["mean_test_accuracy"]).all()


@pytest.mark.filterwarnings("ignore:One or more of the test scores are non-finite")
def test_out_of_range_grid_value_fails_that_candidate_only(data, counting_mlp):
    X, y = data
    net = CoreNetClassifier(FrozenEstimator(counting_mlp), random_state=0)
    search = GridSearchCV(
        net,
        {"keep_ratio": [0.3, 1.5]},
        scoring=SCORING,
        cv=KFold(3, shuffle=True, random_state=0),
        refit=sparsest_within(0.01),
        error_score=np.nan,
    )
    with pytest.warns(FitFailedWarning, match="InvalidParameterError.*'keep_ratio' parameter of CoreNetClassifier"):
        search.fit(X, y)
    accuracy = search.cv_results_["mean_test_accuracy"]
    assert np.isfinite(accuracy[0]) and np.isnan(accuracy[1])
    assert search.best_index_ == 0
    with pytest.raises(InvalidParameterError, match="keep_ratio"):
        search.set_params(error_score="raise").fit(X, y)


def test_kept_fraction_scorer_reads_every_form_of_compressed_model(data, counting_mlp):
    X, y = data
    net = CoreNetClassifier(FrozenEstimator(counting_mlp), keep_ratio=0.3).fit(X, y)
    pipe = make_pipeline(StandardScaler(), net).fit(X, y)
    sparse = CoreNetCompressor(keep_ratio=0.2).fit_transform(counting_mlp, X)
    assert kept_fraction_scorer(net, X, y) == net.compressed_.keep_ratio_
    assert kept_fraction_scorer(net, X, y) == pytest.approx(0.3, abs=1e-3)
    assert kept_fraction_scorer(pipe, X, y) == pytest.approx(0.3, abs=1e-3)
    assert kept_fraction_scorer(sparse, X, y) == pytest.approx(0.2, abs=1e-3)
    negated = make_kept_fraction_scorer(greater_is_better=False)
    assert negated(net, X, y) == -kept_fraction_scorer(net, X, y)
    assert pickle.loads(pickle.dumps(negated))(net, X, y) == negated(net, X, y)
    with pytest.raises(TypeError, match="MLPClassifier"):
        kept_fraction_scorer(counting_mlp, X, y)


def test_sparsest_within_on_hand_made_results():
    results = {
        "mean_test_accuracy": np.array([0.97, 0.965, 0.95, np.nan, 0.80, 0.965]),
        "mean_test_kept_fraction": np.array([0.9, 0.5, 0.2, 0.01, 0.05, 0.5]),
    }
    assert sparsest_within(0.0)(results) == 0  # no tolerance: the best score
    assert sparsest_within(0.01)(results) == 1  # first of the tied candidates
    assert sparsest_within(0.02)(results) == 2
    assert sparsest_within(0.2)(results) == 4  # the failed candidate never wins
    negated = {**results, "mean_test_kept_fraction": -results["mean_test_kept_fraction"]}
    assert sparsest_within(0.02)(negated) == 2
    # ties in kept fraction go to the better score
    tied = {"mean_test_score": [0.90, 0.95], "mean_test_kept_fraction": [0.3, 0.3]}
    assert sparsest_within(0.1)(tied) == 1


def test_sparsest_within_says_what_is_missing():
    with pytest.raises(ValueError, match="kept_fraction_scorer"):
        sparsest_within()({"mean_test_score": [0.9]})
    two_metrics = {"mean_test_a": [1.0], "mean_test_b": [1.0], "mean_test_kept_fraction": [0.5]}
    with pytest.raises(ValueError, match="score_key"):
        sparsest_within()(two_metrics)
    assert sparsest_within(score_key="b")(two_metrics) == 0
    with pytest.raises(ValueError, match="every candidate failed"):
        sparsest_within()({"mean_test_score": [np.nan], "mean_test_kept_fraction": [0.5]})
    with pytest.raises(InvalidParameterError, match="tolerance"):
        sparsest_within(-0.1)


@pytest.mark.parametrize("freeze", [True, False])
def test_two_jobs_give_the_results_of_one(data, freeze):
    X, y = data
    mlp = MLPClassifier(hidden_layer_sizes=(16,), max_iter=30, random_state=0)
    if freeze:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mlp = FrozenEstimator(mlp.fit(X, y))
    net = CoreNetClassifier(mlp, random_state=0)
    results = []
    for n_jobs in (1, 2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            search = _search(net, n_jobs=n_jobs).fit(X, y)
        results.append(search)
    one, two = results
    for key in ("mean_test_accuracy", "mean_test_kept_fraction", "split0_test_accuracy"):
        np.testing.assert_array_equal(one.cv_results_[key], two.cv_results_[key])
    assert one.best_index_ == two.best_index_


def test_search_with_memory_trains_once_per_fold(data, tmp_path):
    # a trainable network: GridSearchCV clones it for every candidate, the
    # cache trains it once per fold and once for the refit
    X, y = data
    CountingMLP.n_fits = 0
    net = CoreNetClassifier(
        CountingMLP(hidden_layer_sizes=(32,), max_iter=30, random_state=0),
        method="corenet++",
        memory=str(tmp_path),
        random_state=0,
    )
    budgets = [0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.7]
    search = GridSearchCV(
        net,
        {"keep_ratio": budgets},
        scoring=SCORING,
        cv=KFold(3, shuffle=True, random_state=0),
        refit=sparsest_within(0.02),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(X, y)
    assert CountingMLP.n_fits == 3 + 1
    assert _cache_entries(tmp_path, "train_network") == 3 + 1
    # and the budget-independent statistics once per fold (and the refit)
    assert _cache_entries(tmp_path, "compute_layer_statistics") == 3 + 1
    np.testing.assert_allclose(search.cv_results_["mean_test_kept_fraction"], budgets, atol=2e-3)
    assert np.isfinite(search.cv_results_["split0_test_accuracy"]).all()
    # another network is another cache entry
    search.set_params(estimator__estimator__hidden_layer_sizes=(16,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(X, y)
    assert CountingMLP.n_fits == 2 * (3 + 1)


def test_search_score_uses_the_score_metric_of_the_refit_rule(data, counting_mlp):
    X, y = data
    net = CoreNetClassifier(FrozenEstimator(counting_mlp), method="magnitude", random_state=0)
    search = _search(net, tolerance=0.05).fit(X[:600], y[:600])
    best = search.best_estimator_
    assert search.score(X[600:], y[600:]) == best.score(X[600:], y[600:])
    named = _search(net).set_params(refit=sparsest_within(0.05, score_key="accuracy"))
    assert named.fit(X[:600], y[:600]).score(X[600:], y[600:]) == best.score(X[600:], y[600:])
    rule = sparsest_within(0.05)
    assert rule == sparsest_within(0.05) and rule != sparsest_within(0.1)
    assert pickle.loads(pickle.dumps(rule)) == rule
