"""Shared fixtures: small trained networks, built once per session."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from threadpoolctl import threadpool_limits

from sklearn_corenet.algorithm import compute_layer_statistics
from sklearn_corenet.algorithm._sampling import neuron_plan
from sklearn_corenet.algorithm._sensitivity import (
    augmented_weights,
    sensitivity_row_sums,
)
from sklearn_corenet.core import Network


@pytest.fixture(scope="session", autouse=True)
def _one_blas_thread():
    # the test networks are small: with a second BLAS thread, waiting for a
    # busy core costs more than the product (MLP training ran 40x slower on a
    # loaded machine)
    with threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="session")
def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


@pytest.fixture(scope="session")
def digits_mlp(digits):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MLPClassifier(hidden_layer_sizes=(100, 100), max_iter=200, random_state=0).fit(X[:1200], y[:1200])


@pytest.fixture(scope="session")
def regression_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 10))
    y = np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 0.1 * rng.normal(size=600)
    return X, y


@pytest.fixture(scope="session")
def regression_mlp(regression_data):
    X, y = regression_data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MLPRegressor(hidden_layer_sizes=(50, 50), max_iter=300, random_state=0).fit(X, y)


@pytest.fixture(scope="session")
def layer():
    """One layer's sampling plan (CoreNet probabilities), its weights with the
    bias row and its inputs with the constant column, on a small random network."""
    rng = np.random.default_rng(0)
    network = Network([rng.normal(size=(12, 6)), rng.normal(size=(6, 3))], [rng.normal(size=6), rng.normal(size=3)])
    X = rng.normal(size=(20, 12))
    stats = compute_layer_statistics(network, X)[0]
    W = augmented_weights(network.coefs[0], network.intercepts[0])
    plan = neuron_plan(stats.sensitivity, np.sign(W), sensitivity_row_sums(stats.sensitivity, W))
    inputs = np.hstack([X, np.ones((20, 1))])
    return plan, W, inputs
