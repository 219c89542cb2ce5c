"""keep_ratio="certified" with fine_tune: every budget fine-tuned toward the original, certified on rows no fit saw."""

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_corenet import CoreNetClassifier, CoreNetCompressor, certify
from sklearn_corenet.core import row_keys
from sklearn_corenet.fine_tuning._fidelity import MixedRows

#: A short fine-tuning run, enough for these small networks.
QUICK = {"epochs": 10, "n_synthetic": 1000}


@pytest.fixture(scope="module")
def tuned(digits, small_mlp):
    X, _ = digits
    compressor = CoreNetCompressor(epsilon=0.2, delta=0.1, fine_tune=QUICK, random_state=0)
    return compressor.fit(small_mlp, X[:1000], X_unlabeled=X[:1797:2])


def test_held_out_rows_enter_no_fit(digits, tuned):
    X, _ = digits
    evaluate = tuned._search
    unlabeled = X[:1797:2]
    held_out = np.concatenate(
        [row_keys(X[:1000][evaluate.held_out_rows]), row_keys(unlabeled[evaluate.extra_held_out_rows])]
    )
    # neither the compression nor the fine-tuning read a held-out row, also
    # when X_unlabeled repeats a calibration row
    assert not np.isin(row_keys(tuned._plan.problem.X), held_out).any()
    trained = evaluate.fidelity.X
    # the real rows fine-tuning reads (the others mix pairs of them)
    trained = row_keys(trained.X if isinstance(trained, MixedRows) else trained)
    assert not np.isin(trained, held_out).any()
    unseen = unlabeled[~np.isin(row_keys(unlabeled), held_out)]
    assert np.isin(row_keys(unseen), trained).all()  # the other unlabelled rows are used
    # unlabelled rows certify too (the target needs no labels)
    assert evaluate.extra_held_out_rows.size > 0
    assert tuned.certificate_.n_points == tuned.validation_size_ == held_out.size
    # and certify refuses the unlabelled rows, as every row a fit read
    with pytest.raises(ValueError, match="calibration rows"):
        tuned.certify(X[1000:1797:2])


def test_fine_tuning_certifies_a_smaller_budget(digits, small_mlp):
    X, _ = digits
    plain = CoreNetCompressor(epsilon=0.1, delta=0.1, random_state=0).fit(small_mlp, X[:1000])
    tuned = CoreNetCompressor(epsilon=0.1, delta=0.1, fine_tune=QUICK, random_state=0).fit(small_mlp, X[:1000])
    assert tuned.certificate_.holds and tuned.certificate_.epsilon_certified <= 0.1
    assert tuned.budget_ < plain.budget_
    assert tuned.search_results_["fine_tune_epochs"][tuned.search_results_["budget"] == tuned.budget_].max() > 0
    assert tuned.fine_tune_history_ is not None
    # transform returns the fine-tuned network the certificate is about
    compressed = tuned.transform()
    assert compressed.nnz_ <= tuned.budget_
    again = certify(small_mlp, compressed, X[1000:], epsilon=0.1, delta=0.1)
    assert again.coverage >= 0.9 - 0.05


def test_only_budgets_below_the_one_certified_without_fine_tuning_are_fine_tuned(digits, small_mlp, tuned):
    X, _ = digits
    results = tuned.search_results_
    plain = ~results["fine_tuned"]
    # the search without fine-tuning comes first and finds the budget a plain search finds
    assert plain[: plain.sum()].all() and plain.sum() < plain.size
    alone = CoreNetCompressor(epsilon=0.2, delta=0.1, random_state=0).fit(small_mlp, X[:1000], X_unlabeled=X[:1797:2])
    passing = results["budget"][plain & results["meets_target"]].min()
    assert passing == alone.budget_
    # then fine-tuning is spent only below it
    assert (results["budget"][~plain] < passing).all()
    assert (results["fine_tune_seconds"][plain] == 0).all()
    assert tuned.budget_ <= passing


@pytest.mark.parametrize(
    "fine_tune, n_calibration, n_unlabeled",
    [({"epochs": 10, "n_synthetic": 0}, 400, 0), (None, 200, 600)],
    ids=["fine-tuned", "unlabelled rows certify"],
)
def test_certificate_stays_valid_over_fresh_calibration_draws(fine_tune, n_calibration, n_unlabeled):
    # The search is repeated on fresh calibration data from a distribution we
    # can sample without end; the lower bound on the coverage of the network
    # it returns must stay below the coverage measured on 50,000 new points
    # in most repetitions (the 200-repetition benchmark: 184/200), also when
    # most held-out rows are unlabelled rows (X_unlabeled).
    rng = np.random.default_rng(1)

    def sample(n):
        X = rng.normal(size=(n, 6))
        return X, np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 3

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPRegressor(hidden_layer_sizes=(32, 32), max_iter=300, random_state=0).fit(*sample(2000))
    X_truth, _ = sample(50_000)
    repetitions, valid = 40, 0
    for repetition in range(repetitions):
        X, _ = sample(n_calibration)
        X_unlabeled = sample(n_unlabeled)[0] if n_unlabeled else None
        compressor = CoreNetCompressor(epsilon=0.1, delta=0.1, fine_tune=fine_tune, random_state=repetition)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compressed = compressor.fit(mlp, X, X_unlabeled=X_unlabeled).transform()
        truth = certify(mlp, compressed, X_truth, epsilon=0.1, delta=0.1).coverage
        valid += compressor.certificate_.coverage_lower <= truth
    assert valid >= 0.85 * repetitions


def test_a_budget_fine_tunes_once_and_transform_returns_that_network(digits, small_mlp):
    X, _ = digits
    plain = CoreNetCompressor(keep_ratio=0.1, random_state=0).fit_transform(small_mlp, X[:1000])
    compressor = CoreNetCompressor(keep_ratio=0.1, fine_tune=QUICK, random_state=0).fit(small_mlp, X[:1000])
    a, b = compressor.transform(), compressor.transform()
    for Wa, Wb in zip(a.coefs_, b.coefs_, strict=True):
        assert (Wa != Wb).nnz == 0
    assert a.nnz_ <= plain.nnz_ and compressor.fine_tune_history_.best_epoch > 0
    before = certify(small_mlp, plain, X[1000:], delta=0.1).epsilon_certified
    after = certify(small_mlp, a, X[1000:], delta=0.1).epsilon_certified
    assert after < before


def test_meta_estimators_take_it_and_grid_search_over_it(digits):
    X, y = digits
    model = CoreNetClassifier(MLPClassifier((16,), max_iter=60, random_state=0), keep_ratio=0.2, random_state=0)
    assert model.get_params()["fine_tune"] is None
    tuned = clone(model.set_params(fine_tune={"epochs": 3, "n_synthetic": 0}))
    assert tuned.get_params()["fine_tune"] == {"epochs": 3, "n_synthetic": 0}
    search = GridSearchCV(model, {"fine_tune": [None, 3]}, cv=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(X[:600], y[:600])
    assert search.best_params_["fine_tune"] in (None, 3)
    assert search.best_estimator_.compressor_.fine_tune_history_ is not None or search.best_params_["fine_tune"] is None


@pytest.mark.parametrize("fine_tune", [0, -2, "yes", 1.5, [3]])
def test_bad_values_are_refused(digits, small_mlp, fine_tune):
    X, _ = digits
    with pytest.raises(InvalidParameterError, match="fine_tune"):
        CoreNetCompressor(keep_ratio=0.3, fine_tune=fine_tune).fit(small_mlp, X[:500])


def test_bad_settings_and_rows_are_refused(digits, small_mlp):
    X, _ = digits
    with pytest.raises(ValueError, match=r"unknown settings \['epoch'\]"):
        CoreNetCompressor(keep_ratio=0.3, fine_tune={"epoch": 3}).fit(small_mlp, X[:500])
    with pytest.raises(ValueError, match="features"):
        CoreNetCompressor(keep_ratio=0.3, fine_tune=2).fit(small_mlp, X[:500], X_unlabeled=X[500:, :10])


@pytest.mark.parametrize(
    "target, matched, loss",
    [
        ({"epsilon": 0.3}, "outputs", "squared_error"),
        # label agreement and the probabilities: the logits, which certified
        # smaller models than the probabilities
        ({"agreement": 0.9}, "outputs", "squared_error"),
        ({"epsilon": 0.3, "error_on": "probabilities"}, "outputs", "squared_error"),
        ({"score_tolerance": 0.1}, "probabilities", "cross_entropy"),
    ],
)
def test_fine_tuning_matches_the_logits_or_the_probabilities_by_target(digits, small_mlp, target, matched, loss):
    X, y = digits
    settings = {"epochs": 2, "n_synthetic": 200}
    compressor = CoreNetCompressor(delta=0.1, fine_tune=settings, random_state=0, **target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        compressor.fit(small_mlp, X[:600], y[:600])
    fidelity = compressor._search.fidelity
    assert (fidelity.target, fidelity.loss) == (matched, loss)
    # the targets trained toward: the original's raw outputs, or its probabilities (rows summing to 1)
    sums = fidelity.Y.sum(axis=1)
    assert np.allclose(sums, 1) == (matched == "probabilities")
