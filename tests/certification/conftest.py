"""Fixtures of the certification tests."""

import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier


@pytest.fixture(scope="session")
def small_mlp(digits):
    """A 64-32-10 classifier of the first 1,000 digits."""
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MLPClassifier((32,), max_iter=150, random_state=0).fit(X[:1000], y[:1000])
