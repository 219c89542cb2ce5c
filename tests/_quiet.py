"""Calls whose warnings a test does not look at (convergence of tiny networks, ...)."""

import warnings


def quiet(function, *args, **kwargs):
    """``function(*args, **kwargs)`` with every warning silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


def fit_quietly(model, X, y):
    """``model.fit(X, y)`` with every warning silenced."""
    return quiet(model.fit, X, y)
