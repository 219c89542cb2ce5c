"""Fine-tuning toward the original network's outputs (distillation): no labels needed."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_regression
from sklearn.neural_network import MLPClassifier, MLPRegressor

from sklearn_corenet import CoreNetCompressor


def _compressed(model, X, keep_ratio=0.1):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CoreNetCompressor(keep_ratio=keep_ratio, method="magnitude", random_state=0).fit_transform(model, X)


def _agreement(a, b, X):
    return float(np.mean(a.predict(X) == b.predict(X)))


def test_distillation_brings_a_classifier_back_to_its_original(digits, digits_mlp):
    X, _ = digits
    compressed = _compressed(digits_mlp, X[:1000])
    before = _agreement(compressed, digits_mlp, X[1200:])
    nnz = compressed.nnz_
    compressed.fine_tune(X[:1000], teacher=digits_mlp, epochs=30, random_state=0)
    after = _agreement(compressed, digits_mlp, X[1200:])
    assert compressed.nnz_ == nnz
    assert after > before + 0.02
    history = compressed.fine_tune_history_
    assert history.best_validation_score >= history.initial_validation_score


def test_distillation_needs_no_labels_and_learns_a_regressor(regression_data, regression_mlp):
    X, _ = regression_data
    compressed = _compressed(regression_mlp, X[:300], keep_ratio=0.2)
    reference = regression_mlp.predict(X[300:])
    before = np.mean((compressed.predict(X[300:]) - reference) ** 2)
    compressed.fine_tune(X[:300], teacher=regression_mlp, epochs=50, random_state=0)
    after = np.mean((compressed.predict(X[300:]) - reference) ** 2)
    assert after < 0.8 * before


def test_binary_and_multilabel_teachers(digits):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        binary = MLPClassifier((32,), max_iter=100, random_state=0).fit(X[:800], y[:800] > 4)
        multilabel = MLPClassifier((32,), max_iter=100, random_state=0).fit(
            X[:800], np.column_stack([y[:800] > 4, y[:800] % 2 == 0])
        )
    for teacher in (binary, multilabel):
        compressed = _compressed(teacher, X[:800])
        before = _agreement(compressed, teacher, X[1000:])
        compressed.fine_tune(X[:800], teacher=teacher, epochs=20, random_state=0)
        assert _agreement(compressed, teacher, X[1000:]) >= before


def test_teacher_and_targets_are_checked(digits, digits_mlp):
    X, y = digits
    compressed = _compressed(digits_mlp, X[:500])
    with pytest.raises(ValueError, match="not both"):
        compressed.fine_tune(X[:500], y[:500], teacher=digits_mlp)
    with pytest.raises(ValueError, match="not both"):
        compressed.fine_tune(X[:500])
    Xr, yr = make_regression(200, 64, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        regressor = MLPRegressor(hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit(Xr, yr)
    with pytest.raises(ValueError, match="teacher predicts a regression target"):
        compressed.fine_tune(X[:500], teacher=regressor)
