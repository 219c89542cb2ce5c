"""The numpy Adam takes torch.optim.Adam's steps, in place."""

import numpy as np
import pytest

from sklearn_corenet.fine_tuning._optimizers import ADAM_BETAS, ADAM_EPSILON, Adam


def gradient_sequence(shapes, n_steps, seed=0):
    rng = np.random.default_rng(seed)
    # gradients of very different scales, and a few exact zeros (dead units)
    steps = []
    for _ in range(n_steps):
        gradients = [rng.normal(scale=10.0 ** rng.integers(-4, 2), size=shape) for shape in shapes]
        gradients[0][0] = 0.0
        steps.append(gradients)
    return steps


def test_steps_match_torch_adam():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    shapes = [(7,), (3,), (40,)]
    start = [rng.normal(size=shape) for shape in shapes]
    parameters = [p.copy() for p in start]
    optimizer = Adam(parameters, learning_rate=1e-2)
    tensors = [torch.tensor(p.copy(), requires_grad=True) for p in start]
    reference = torch.optim.Adam(tensors, lr=1e-2, betas=ADAM_BETAS, eps=ADAM_EPSILON)
    for gradients in gradient_sequence(shapes, 25):
        optimizer.step(gradients)
        for tensor, gradient in zip(tensors, gradients, strict=True):
            tensor.grad = torch.from_numpy(gradient)
        reference.step()
    for parameter, tensor, initial in zip(parameters, tensors, start, strict=True):
        expected = tensor.detach().numpy()
        # the parameters moved by ~25 steps of 1e-2; agreement far below that
        np.testing.assert_allclose(parameter - initial, expected - initial, rtol=1e-12, atol=1e-15)


def test_first_step_moves_each_weight_by_the_learning_rate():
    # Adam's bias correction makes the first step ±learning_rate whatever the
    # gradient's scale (Kingma & Ba 2015, Sec. 2.1)
    weights = np.zeros(4)
    Adam([weights], learning_rate=0.01).step([np.array([1e-3, -5.0, 2e3, 0.0])])
    np.testing.assert_allclose(weights, [-0.01, 0.01, -0.01, 0.0], rtol=1e-4)


def test_parameters_are_updated_in_place():
    # the numpy backend's sparse matrices share the parameters' memory
    weights = np.ones(3)
    view = weights[:]
    optimizer = Adam([weights], learning_rate=0.1)
    optimizer.step([np.ones(3)])
    optimizer.step([np.ones(3)])
    assert optimizer.parameters[0] is weights
    assert optimizer.n_steps == 2
    np.testing.assert_array_equal(view, weights)
    assert np.all(weights < 1)
