"""The paper's measures: relative error of the output and accuracy drop."""

import copy

import numpy as np
import pytest

from sklearn_corenet import (
    CoreNetCompressor,
    accuracy_drop,
    network_output,
    relative_error,
)


def _scaled_output(mlp, factor):
    """A copy whose logits are ``factor`` times the original's."""
    scaled = copy.deepcopy(mlp)
    scaled.coefs_[-1] = scaled.coefs_[-1] * factor
    scaled.intercepts_[-1] = scaled.intercepts_[-1] * factor
    return scaled


# -- relative_error -------------------------------------------------------------


def test_relative_error_of_model_with_itself_is_zero(digits_mlp, digits):
    X, _ = digits
    assert relative_error(digits_mlp, digits_mlp, X[1000:]) == 0.0


@pytest.mark.parametrize("factor", [0.5, 1.25, 3.0])
def test_relative_error_of_scaled_logits_is_the_scale_change(digits_mlp, digits, factor):
    # ‖s f − f‖₁ / ‖f‖₁ = |s − 1| at every point
    X, _ = digits
    error = relative_error(digits_mlp, _scaled_output(digits_mlp, factor), X[1000:])
    assert error == pytest.approx(abs(factor - 1), rel=1e-6)


def test_relative_error_is_on_logits_not_probabilities(digits_mlp, digits):
    X, _ = digits
    scaled = _scaled_output(digits_mlp, 2.0)
    on_proba = relative_error(digits_mlp, scaled, X[1000:], output="predict_proba")
    assert on_proba != pytest.approx(1.0)
    assert 0 < on_proba < 2


def test_relative_error_of_uncompressed_sparse_model_is_round_off(digits_mlp, digits):
    X, _ = digits
    sparse = CoreNetCompressor(keep_ratio=1.0, method="corenet").fit_transform(digits_mlp, X[:300])
    assert relative_error(digits_mlp, sparse, X[1000:]) < 1e-10


def test_relative_error_accepts_outputs():
    reference = np.array([[1.0, -1.0], [2.0, 2.0], [0.0, 0.0]])
    estimate = np.array([[1.0, 0.0], [2.0, 2.0], [0.0, 0.0]])
    # per point: 1/2, 0, 0/0 := 0
    assert relative_error(reference, estimate) == pytest.approx(0.5 / 3)
    estimate[2, 0] = 1.0
    assert relative_error(reference, estimate) == np.inf


def test_relative_error_rejects_different_shapes():
    with pytest.raises(ValueError, match="differ in shape"):
        relative_error(np.ones((3, 2)), np.ones((3, 3)))


def test_network_output_is_the_logits(digits_mlp, digits):
    X, _ = digits
    logits = network_output(digits_mlp, X[:20])
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probabilities, digits_mlp.predict_proba(X[:20]), rtol=1e-6, atol=1e-9)


# -- accuracy_drop --------------------------------------------------------------


def test_accuracy_drop_sign(digits_mlp, digits):
    X, y = digits
    X_test, y_test = X[1000:], y[1000:]
    broken = _scaled_output(digits_mlp, 1.0)
    broken.intercepts_[-1] = broken.intercepts_[-1] + np.where(np.arange(10) == 3, 1e3, 0)
    drop = accuracy_drop(digits_mlp, broken, X_test, y_test)
    expected = digits_mlp.score(X_test, y_test) - np.mean(y_test == 3)
    assert drop == pytest.approx(expected)
    assert drop > 0.5
    assert accuracy_drop(broken, digits_mlp, X_test, y_test) == pytest.approx(-drop)
    assert accuracy_drop(digits_mlp, digits_mlp, X_test, y_test) == 0.0


def test_accuracy_drop_accepts_predictions():
    y = np.array([0, 1, 1, 0])
    assert accuracy_drop(y, np.array([0, 1, 0, 0]), None, y) == pytest.approx(0.25)
