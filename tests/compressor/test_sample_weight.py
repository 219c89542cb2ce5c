"""Calibration weights act as repetitions: weight w is w copies of the row, 0 is no row."""

import warnings

import numpy as np
import pytest

from sklearn_corenet import CoreNetCompressor


@pytest.fixture(scope="module")
def weighted(digits):
    X, _ = digits
    rng = np.random.default_rng(0)
    X = X[:400]
    weights = rng.integers(0, 4, size=len(X))
    return X, weights


def _coefs(model):
    return [W.toarray() for W in model.coefs_]


@pytest.mark.parametrize(
    "params",
    [
        {"method": "wanda"},  # activation statistics and the least-squares re-fit
        {"method": "neurons-activation"},
        {"method": "magnitude", "reweight": "lstsq"},
    ],
)
def test_integer_weights_compress_as_repeated_rows(digits_mlp, weighted, params):
    X, weights = weighted
    compressor = CoreNetCompressor(keep_ratio=0.2, random_state=0, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        by_weight = compressor.fit_transform(digits_mlp, X, sample_weight=weights)
        repeated = CoreNetCompressor(keep_ratio=0.2, random_state=0, **params).fit_transform(
            digits_mlp, np.repeat(X, weights, axis=0)
        )
    for W, W_repeated in zip(_coefs(by_weight), _coefs(repeated), strict=True):
        np.testing.assert_allclose(W, W_repeated, rtol=1e-7, atol=1e-9)
    # and not as the unweighted rows do
    unweighted = CoreNetCompressor(keep_ratio=0.2, random_state=0, **params).fit_transform(digits_mlp, X)
    assert any(not np.allclose(a, b) for a, b in zip(_coefs(by_weight), _coefs(unweighted), strict=True))


def test_rows_of_weight_zero_play_no_part(digits_mlp, weighted):
    X, weights = weighted
    X = np.array(X, copy=True)
    weights = np.where(np.arange(len(X)) == 7, 0, np.maximum(weights, 1))
    X[7] = 1e155  # would overflow the statistics if it counted
    kept = weights > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # the default, certified: the held-out rows are chosen among the others too
        by_weight = CoreNetCompressor(epsilon=0.3, random_state=0).fit(digits_mlp, X, sample_weight=weights)
        dropped = CoreNetCompressor(epsilon=0.3, random_state=0).fit(
            digits_mlp, X[kept], sample_weight=weights[kept]
        )
    assert by_weight.certificate_.epsilon_certified == dropped.certificate_.epsilon_certified
    for W, W_dropped in zip(_coefs(by_weight.transform()), _coefs(dropped.transform()), strict=True):
        np.testing.assert_array_equal(W, W_dropped)


def test_equal_weights_change_nothing(digits_mlp, weighted):
    X, _ = weighted
    plain = CoreNetCompressor(keep_ratio=0.2, method="corenet++", random_state=0).fit_transform(digits_mlp, X)
    equal = CoreNetCompressor(keep_ratio=0.2, method="corenet++", random_state=0).fit_transform(
        digits_mlp, X, sample_weight=np.full(len(X), 3.0)
    )
    for W, W_equal in zip(_coefs(plain), _coefs(equal), strict=True):
        np.testing.assert_array_equal(W, W_equal)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        (np.zeros(400), "non-zero"),
        (-np.ones(400), "[Nn]egative"),
        (np.ones(10), "sample_weight"),
    ],
)
def test_bad_weights_are_refused(digits_mlp, weighted, weights, message):
    X, _ = weighted
    with pytest.raises(ValueError, match=message):
        CoreNetCompressor(keep_ratio=0.2).fit(digits_mlp, X, sample_weight=weights)


def test_weights_are_not_modified(digits_mlp, weighted):
    X, weights = weighted
    weights = weights.astype(float)
    before = weights.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        CoreNetCompressor(keep_ratio=0.2, random_state=0).fit(digits_mlp, X, sample_weight=weights)
    np.testing.assert_array_equal(weights, before)
