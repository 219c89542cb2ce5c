"""keep_ratio="certified" with agreement=: the sparsest model certified to keep the original's labels."""

import warnings

import pytest

from sklearn_corenet import CoreNetCompressor, certify


def test_the_model_found_is_certified_to_agree_and_smaller_than_a_looser_search_allows(digits, digits_mlp):
    X, _ = digits
    compressor = CoreNetCompressor(agreement=0.9, random_state=0)
    compressed = compressor.fit_transform(digits_mlp, X[:1200])
    certificate = compressor.certificate_
    assert certificate.label_agreement_lower >= 0.9
    assert compressed.keep_ratio_ < 1
    # the grid's next smaller budget, when tried, did not certify it
    results = compressor.search_results_
    smaller = results["keep_ratio"] < compressed.keep_ratio_ - 1e-12
    assert not results["meets_target"][smaller].any()
    # a stricter agreement keeps at least as much
    strict = CoreNetCompressor(agreement=0.97, random_state=0).fit_transform(digits_mlp, X[:1200])
    assert strict.keep_ratio_ >= compressed.keep_ratio_
    # and on fresh points the agreement holds about as certified
    fresh = certify(digits_mlp, compressed, X[1200:])
    assert fresh.label_agreement >= 0.9 - 0.05


def test_agreement_is_for_classifiers_and_one_target_at_a_time(digits, digits_mlp, regression_data, regression_mlp):
    X, y = digits
    with pytest.raises(ValueError, match="one of them"):
        CoreNetCompressor(agreement=0.9, score_tolerance=0.01).fit(digits_mlp, X[:1200], y[:1200])
    Xr, _ = regression_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="target for classifiers"):
            CoreNetCompressor(agreement=0.9).fit(regression_mlp, Xr)
    with pytest.raises(ValueError, match="agreement"):
        CoreNetCompressor(agreement=1.5).fit(digits_mlp, X[:1200])


def test_agreement_needs_enough_held_out_rows_and_the_certified_mode(digits, digits_mlp):
    X, _ = digits
    # 0.99 at 95% confidence needs 299 agreeing held-out rows: 300 rows hold out 90
    with pytest.raises(ValueError, match="at least 299 points"):
        CoreNetCompressor(agreement=0.99).fit(digits_mlp, X[:300])
    # delta is not what an agreement target needs: a loose delta does not hide it
    with pytest.raises(ValueError, match="at least 299 points"):
        CoreNetCompressor(agreement=0.99, delta=0.5).fit(digits_mlp, X[:300])
    for keep_ratio in (0.3, "theory"):
        with pytest.raises(ValueError, match="target of keep_ratio='certified'"):
            CoreNetCompressor(agreement=0.9, keep_ratio=keep_ratio).fit(digits_mlp, X[:300])
    with pytest.raises(ValueError, match="target of keep_ratio='certified'"):
        CoreNetCompressor(score_tolerance=0.01, keep_ratio=0.3).fit(digits_mlp, X[:300])


def test_the_search_table_shows_the_certified_agreement(digits, digits_mlp):
    X, _ = digits
    compressor = CoreNetCompressor(agreement=0.9, random_state=0).fit(digits_mlp, X[:1200])
    table = compressor.search_results_
    assert (table["meets_target"] == (table["label_agreement_lower"] >= 0.9)).all()
