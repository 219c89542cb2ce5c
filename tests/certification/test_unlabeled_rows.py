"""X_unlabeled: rows without labels compress, and certify too when the target needs none."""


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
    # the others compress, as calibration rows do; no held-out row does
    compressed_keys = row_keys(more._plan.problem.X)
    assert np.isin(row_keys(unlabeled[evaluate.extra_fit_rows]), compressed_keys).all()
    assert not np.isin(row_keys(unlabeled[evaluate.extra_held_out_rows]), compressed_keys).any()
    assert more.fine_tune_history_ is None and evaluate.extra_unseen_rows.size == 0
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


def test_fine_tuning_chooses_its_epoch_on_unlabelled_rows_no_compression_read(digits, small_mlp):
    X, _ = digits
    unlabeled = X[400:1400]
    compressor = CoreNetCompressor(epsilon=0.2, delta=0.1, fine_tune={"epochs": 3}, random_state=0)
    compressor.fit(small_mlp, X[:400], X_unlabeled=unlabeled)
    evaluate = compressor._search
    unseen = evaluate.extra_unseen_rows
    # a share of the fitting unlabelled rows, set aside from the compression
    share = evaluate.fidelity.settings.validation_fraction
    assert 0 < share < 1 and unseen.size == round(share * evaluate.extra_fit_rows.size)
    assert np.isin(unseen, evaluate.extra_fit_rows).all()
    assert not np.isin(row_keys(unlabeled[unseen]), row_keys(compressor._plan.problem.X)).any()
    # fine-tuning validates on exactly those rows
    tuning = evaluate.fidelity
    np.testing.assert_array_equal(row_keys(tuning.X[tuning.validation_rows]), row_keys(unlabeled[unseen]))


def test_with_a_budget_unlabelled_rows_are_calibration_rows(digits, small_mlp):
    X, _ = digits
    apart = CoreNetCompressor(keep_ratio=0.1, random_state=0).fit(small_mlp, X[:300], X_unlabeled=X[300:1000])
    together = CoreNetCompressor(keep_ratio=0.1, random_state=0).fit(small_mlp, X[:1000])
    assert apart._plan.problem.X.shape[0] == together._plan.problem.X.shape[0] == 1000
    for a, b in zip(apart.transform().coefs_, together.transform().coefs_, strict=True):
        np.testing.assert_array_equal(a.toarray(), b.toarray())
    # with fine-tuning, a share of them is set aside to choose its epoch
    tuned = CoreNetCompressor(keep_ratio=0.1, fine_tune={"epochs": 2}, random_state=0).fit(
        small_mlp, X[:300], X_unlabeled=X[300:1000]
    )
    share = tuned.fine_tune_history_.validation_indices.size / 700
    assert 0 < share < 1 and tuned._plan.problem.X.shape[0] == 1000 - round(share * 700)
    with pytest.raises(ValueError, match="calibration rows"):
        tuned.certify(X[300:1000])
