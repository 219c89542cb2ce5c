import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.neural_network import MLPClassifier

from sklearn_corenet import CoreNetCompressor


@pytest.fixture(scope="module")
def compressed(digits):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp = MLPClassifier((32,), max_iter=50, random_state=0).fit(X[:500], y[:500])
    return mlp, CoreNetCompressor(keep_ratio=0.3, random_state=0).fit_transform(mlp, X[:300])


def test_lean_and_full_paths_give_the_same_predictions(digits, compressed):
    X, _ = digits
    _, model = compressed
    rows = X[:7]
    expected = model.predict_proba(rows)
    # the same rows through every kind of input that takes the full path
    for other in (rows.tolist(), np.asfortranarray(rows), rows.astype(np.float32), sp.csr_matrix(rows)):
        np.testing.assert_allclose(model.predict_proba(other), expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(model.predict(rows[:1]), model.predict(X[:1]))


@pytest.mark.parametrize(
    "bad, error, message",
    [
        (lambda X: X[:, :-1], ValueError, "features"),
        (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 3, np.nan, X), ValueError, "NaN"),
        (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 3, np.inf, X), ValueError, "infinity"),
        (lambda X: X[:0], ValueError, "0 sample"),
        (lambda X: X[0], ValueError, "2D"),
    ],
)
def test_bad_input_still_fails_with_scikit_learns_errors(digits, compressed, bad, error, message):
    X, _ = digits
    _, model = compressed
    with pytest.raises(error, match=message):
        model.predict(bad(X[:5]))


def test_feature_names_are_still_checked(digits):
    X, y = digits
    frame = pd.DataFrame(X[:400], columns=[f"p{i}" for i in range(64)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp = MLPClassifier((16,), max_iter=30, random_state=0).fit(frame, y[:400])
    model = CoreNetCompressor(keep_ratio=0.5, random_state=0).fit_transform(mlp, frame)
    with pytest.warns(UserWarning, match="feature names"):
        model.predict(X[:3])


def test_float32_model_predicts_in_float32(digits):
    X, y = digits
    X32 = X.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp = MLPClassifier((16,), max_iter=30, random_state=0).fit(X32[:400], y[:400])
    model = CoreNetCompressor(keep_ratio=0.5, random_state=0).fit_transform(mlp, X32[:300])
    assert model.predict_proba(X32[:5]).dtype == np.float32
    assert model.predict_proba(X[:5]).dtype == np.float32


def test_assume_finite_skips_the_finiteness_check_as_in_scikit_learn(digits, compressed):
    from sklearn import config_context

    X, _ = digits
    mlp, model = compressed
    rows = X[:3].copy()
    rows[1, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.predict_proba(rows)
    with config_context(assume_finite=True):
        dense, ours = mlp.predict_proba(rows), model.predict_proba(rows)
    # neither checks: the row with a NaN gives NaN, the others their probabilities
    assert np.isnan(dense[1]).all() and np.isnan(ours[1]).all()
    np.testing.assert_allclose(ours[[0, 2]], model.predict_proba(X[[0, 2]]), rtol=1e-12)
