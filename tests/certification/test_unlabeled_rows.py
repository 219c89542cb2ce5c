"""keep_ratio="certified" with X_unlabeled: unlabelled rows certify too when the target needs no labels."""


import numpy as np
import pytest
from sklearn.metrics import accuracy_score

from sklearn_corenet import CoreNetCompressor
from sklearn_corenet.core import row_keys


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
