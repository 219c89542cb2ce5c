"""The fine-tuning losses are scikit-learn's MLP losses, with exact gradients."""

import numpy as np
import pytest
from scipy.special import expit, softmax
from sklearn.metrics import log_loss, mean_poisson_deviance, mean_squared_error

from sklearn_corenet.core import HIDDEN_ACTIVATIONS, OutputHead, apply_activation
from sklearn_corenet.fine_tuning._losses import (
    LOSSES,
    inplace_activation_derivative,
    loss_for,
    output_loss,
    torch_output_loss,
)


@pytest.fixture(scope="module")
def targets():
    rng = np.random.default_rng(0)
    return rng.normal(size=(5, 3)), {
        "squared_error": rng.normal(size=(5, 3)),
        "poisson": rng.poisson(1.0, size=(5, 3)).astype(float),
        "cross_entropy": np.eye(3)[rng.integers(0, 3, 5)],
        "binary_cross_entropy": rng.integers(0, 2, (5, 3)).astype(float),
    }


def test_output_loss_gradient_matches_finite_differences(targets):
    raw, by_loss = targets
    step = 1e-6
    for loss, Y in by_loss.items():
        _, gradient = output_loss(loss, raw, Y)
        numeric = np.empty_like(raw)
        for index in np.ndindex(raw.shape):
            shifted = raw.copy()
            shifted[index] += step
            up = output_loss(loss, shifted, Y)[0]
            shifted[index] -= 2 * step
            numeric[index] = (up - output_loss(loss, shifted, Y)[0]) / (2 * step)
        np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-8, err_msg=loss)


def test_output_loss_values_are_scikit_learns(targets):
    # the loss fine-tuning reports is the one the original MLP was trained on
    raw, by_loss = targets
    Y = by_loss["squared_error"]
    expected = 0.5 * mean_squared_error(Y, raw)
    assert output_loss("squared_error", raw, Y)[0] == pytest.approx(expected, rel=1e-12)

    counts = by_loss["poisson"][:, :1]
    expected = 0.5 * mean_poisson_deviance(counts.ravel(), np.exp(raw[:, 0]))
    assert output_loss("poisson", raw[:, :1], counts)[0] == pytest.approx(expected, rel=1e-12)

    one_hot = by_loss["cross_entropy"]
    expected = log_loss(one_hot.argmax(axis=1), softmax(raw, axis=1), labels=[0, 1, 2])
    assert output_loss("cross_entropy", raw, one_hot)[0] == pytest.approx(expected, rel=1e-12)

    indicator = by_loss["binary_cross_entropy"]
    proba = expit(raw)
    expected = sum(
        log_loss(indicator[:, k], proba[:, k], labels=[0, 1]) for k in range(raw.shape[1])
    )
    value = output_loss("binary_cross_entropy", raw, indicator)[0]
    assert value == pytest.approx(expected, rel=1e-12)


def test_binary_cross_entropy_is_finite_for_saturated_outputs():
    raw = np.array([[800.0], [-800.0]])
    value, gradient = output_loss("binary_cross_entropy", raw, np.array([[0.0], [1.0]]))
    # each row is wrong by a margin of 800: loss 800 per row, unit gradient
    assert value == pytest.approx(800.0)
    np.testing.assert_allclose(gradient, [[0.5], [-0.5]])


def test_torch_loss_and_gradient_match_numpy(targets):
    torch = pytest.importorskip("torch")
    raw, by_loss = targets
    for loss, Y in by_loss.items():
        value, gradient = output_loss(loss, raw, Y)
        raw_t = torch.tensor(raw, requires_grad=True)
        objective = torch_output_loss(loss, raw_t, torch.from_numpy(Y))
        objective.backward()
        assert objective.item() == pytest.approx(value, rel=1e-12), loss
        np.testing.assert_allclose(raw_t.grad.numpy(), gradient, rtol=1e-12, err_msg=loss)


def test_unknown_loss_is_rejected():
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        output_loss("hinge", np.zeros((2, 1)), np.zeros((2, 1)))
    assert len(LOSSES) == 4


@pytest.mark.parametrize("name", HIDDEN_ACTIVATIONS)
def test_activation_derivative_matches_finite_differences(name):
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(6, 4))
    Z[np.abs(Z) < 1e-3] = 0.5  # away from relu's kink
    upstream = rng.normal(size=Z.shape)
    delta = inplace_activation_derivative(name, apply_activation(name, Z.copy()), upstream.copy())
    step = 1e-6
    slope = (
        apply_activation(name, Z + step) - apply_activation(name, Z - step)
    ) / (2 * step)
    np.testing.assert_allclose(delta, upstream * slope, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize(
    ("kind", "n_classes", "out_activation", "n_outputs", "expected"),
    [
        ("regression", None, "identity", 2, "squared_error"),
        ("regression", None, "exp", 1, "poisson"),
        ("binary", 2, "logistic", 1, "binary_cross_entropy"),
        ("binary", 2, "identity", 1, "binary_cross_entropy"),
        ("binary", 2, "softmax", 2, "cross_entropy"),
        ("multilabel", 3, "logistic", 3, "binary_cross_entropy"),
        ("multiclass", 10, "softmax", 10, "cross_entropy"),
        ("multiclass", 10, "log_softmax", 10, "cross_entropy"),
        ("multiclass", 10, "identity", 10, "cross_entropy"),
    ],
)
def test_loss_follows_the_head(kind, n_classes, out_activation, n_outputs, expected):
    classes = None if n_classes is None else np.arange(n_classes)
    assert loss_for(OutputHead(kind, classes), out_activation, n_outputs) == expected


@pytest.mark.parametrize(
    ("kind", "n_classes", "out_activation", "n_outputs"),
    [
        ("regression", None, "softmax", 3),
        ("multiclass", 10, "logistic", 10),
        ("multiclass", 10, "softmax", 9),
        ("binary", 2, "exp", 1),
    ],
)
def test_head_without_a_natural_loss_is_rejected(kind, n_classes, out_activation, n_outputs):
    classes = None if n_classes is None else np.arange(n_classes)
    with pytest.raises(ValueError, match=f"cannot fine-tune a {kind} head"):
        loss_for(OutputHead(kind, classes), out_activation, n_outputs)
