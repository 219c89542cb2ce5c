"""keep_ratio="certified" with X_unlabeled: unlabelled rows certify too when the target needs no labels."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score
from sklearn.neural_network import MLPClassifier, MLPRegressor

from sklearn_corenet import CoreNetCompressor, certify
from sklearn_corenet.core import row_keys


@pytest.fixture(scope="module")
def small_mlp(digits):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MLPClassifier((32,), max_iter=150, random_state=0).fit(X[:1000], y[:1000])


def test_unlabelled_rows_certify_without_fine_tuning(digits, small_mlp):
    X, y = digits
    calibration, unlabeled = X[:400], X[400:1400]
    alone = CoreNetCompressor(agreement=0.95, random_state=0).fit(small_mlp, calibration, y[:400])
    more = CoreNetCompressor(agreement=0.95, random_state=0).fit(small_mlp, calibration, y[:400], X_unlabeled=unlabeled)
    evaluate = more._search
    # about validation_fraction of the unlabelled rows certify, none is compressed with
    assert 0.25 * 1000 <= evaluate.extra_held_out_rows.size <= 0.35 * 1000
    assert more.certificate_.n_points == evaluate.held_out_rows.size + evaluate.extra_held_out_rows.size
    assert more.validation_size_ == more.certificate_.n_points > 2 * alone.validation_size_
    assert not np.isin(row_keys(more._plan.problem.X), row_keys(unlabeled)).any()
    assert more.fine_tune_history_ is None
    # more held-out rows, a tighter bound: the agreement certified is closer to the one measured
    for compressor in (alone, more):
        gap = compressor.certificate_.label_agreement - compressor.certificate_.label_agreement_lower
        assert gap > 0
    gap = [c.certificate_.label_agreement - c.certificate_.label_agreement_lower for c in (alone, more)]
    assert gap[1] < 0.75 * gap[0]
    assert more.certificate_.label_agreement_lower >= 0.95
    assert more.budget_ <= alone.budget_
    # the score is reported on the labelled held-out rows only
    held = evaluate.held_out_rows
    compressed = more.transform()
    drop = accuracy_score(y[:400][held], small_mlp.predict(calibration[held])) - accuracy_score(
        y[:400][held], compressed.predict(calibration[held])
    )
    assert more.certificate_.score_drop == pytest.approx(drop, abs=1e-12)


def test_copies_of_a_row_fall_on_one_side(digits, small_mlp):
    X, _ = digits
    calibration, unlabeled = X[:600], X[300:1200]  # 300 rows in both
    compressor = CoreNetCompressor(epsilon=0.3, delta=0.1, random_state=0).fit(
        small_mlp, calibration, X_unlabeled=unlabeled
    )
    evaluate = compressor._search
    held = np.concatenate(
        [row_keys(calibration[evaluate.held_out_rows]), row_keys(unlabeled[evaluate.extra_held_out_rows])]
    )
    fitted = np.concatenate([row_keys(calibration[evaluate.fit_rows]), row_keys(unlabeled[evaluate.extra_fit_rows])])
    assert not np.isin(held, fitted).any()
    assert evaluate.held_out_rows.size + evaluate.fit_rows.size == 600


def test_a_score_target_certifies_on_labelled_rows_only(digits, small_mlp):
    X, y = digits
    compressor = CoreNetCompressor(score_tolerance=0.05, fine_tune={"epochs": 2, "n_synthetic": 0}, random_state=0)
    compressor.fit(small_mlp, X[:500], y[:500], X_unlabeled=X[500:900])
    evaluate = compressor._search
    assert evaluate.extra_held_out_rows.size == 0
    assert compressor.certificate_.n_points == evaluate.held_out_rows.size
    # every unlabelled row but copies of held-out rows trains
    assert evaluate.extra_fit_rows.size == 400


def test_certificates_with_unlabelled_rows_stay_valid_over_fresh_draws():
    # As the validity test of the fine-tuned search: the lower bound on the
    # coverage must stay below the coverage measured on 50,000 new points in
    # most repetitions, here with most held-out rows unlabelled.
    rng = np.random.default_rng(2)

    def sample(n):
        X = rng.normal(size=(n, 6))
        return X, np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 3

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPRegressor(hidden_layer_sizes=(32, 32), max_iter=300, random_state=0).fit(*sample(2000))
    X_truth, _ = sample(50_000)
    repetitions, valid = 40, 0
    for repetition in range(repetitions):
        X, _ = sample(200)
        unlabeled, _ = sample(600)
        compressor = CoreNetCompressor(epsilon=0.1, delta=0.1, random_state=repetition)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compressed = compressor.fit(mlp, X, X_unlabeled=unlabeled).transform()
        truth = certify(mlp, compressed, X_truth, epsilon=0.1, delta=0.1).coverage
        valid += compressor.certificate_.coverage_lower <= truth
    assert valid >= 0.85 * repetitions
