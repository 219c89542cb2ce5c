"""A compressed network that predicts worse than a constant is returned with a warning."""

import re
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import mean_squared_error
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import StandardScaler

from sklearn_corenet import CoreNetCompressor
from sklearn_corenet.algorithm._draw import _worse_than_constant

WORSE = "does worse than predicting a constant"


@pytest.fixture(scope="module")
def three_outputs():
    X, y = make_regression(n_samples=1000, n_features=20, n_targets=3, noise=1.0, random_state=1)
    X = StandardScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPRegressor(hidden_layer_sizes=(64, 64), max_iter=300, random_state=0).fit(X[:800], y[:800] / y.std(0))
    return mlp, X


def _compress(mlp, X, **params):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        compressor = CoreNetCompressor(random_state=0, **params).fit(mlp, X)
        sparse = compressor.transform()
    return compressor, sparse, [str(w.message) for w in caught if WORSE in str(w.message)]


def test_a_three_output_regressor_destroyed_by_compression_warns(three_outputs):
    mlp, X = three_outputs
    compressor, sparse, messages = _compress(mlp, X[:800], method="corenet++", keep_ratio=0.1)
    assert len(messages) == 1, messages
    message = messages[0]
    assert "method='corenet++'" in message and "keep_ratio=0.1" in message
    assert f"keeps {sparse.nnz_} of {sparse.n_params_original_}" in message
    assert "larger keep_ratio" in message and "method='auto'" in message
    # the numbers it states are those of the held-out calibration rows T
    checked = int(re.search(r"on the (\d+) held-out calibration rows", message).group(1))
    assert checked == compressor.amplification_size_ > 0
    error, constant = (float(v) for v in re.search(r"error of ([\d.e+-]+), where .* gives ([\d.e+-]+)", message).groups())
    # and they say what a user sees on new rows too: worse than the constant
    original = mlp.predict(X[800:])
    assert mean_squared_error(original, sparse.predict(X[800:])) > mean_squared_error(
        original, np.broadcast_to(original.mean(axis=0), original.shape)
    )
    assert error > constant > 0


def test_a_good_compression_does_not_warn(three_outputs):
    mlp, X = three_outputs
    _, sparse, messages = _compress(mlp, X[:800], keep_ratio=0.5)
    assert messages == []
    assert sparse.score(X[800:], mlp.predict(X[800:])) > 0.9


def test_the_rule_for_regressors():
    original = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    # mean squared difference 4 against the constant's 8/3
    assert "R² against the original: -0.5" in _worse_than_constant("regression", original, original + 2.0)
    assert _worse_than_constant("regression", original, original + 1.0) is None  # 1 < 8/3


def test_the_rule_for_classifiers():
    original = np.array([0, 0, 0, 1, 2])  # the most frequent label agrees on 60%
    assert "40.0% of them, where its most frequent label agrees on 60.0%" in _worse_than_constant(
        "multiclass", original, np.array([0, 0, 2, 2, 0])
    )
    assert _worse_than_constant("multiclass", original, np.array([0, 0, 0, 2, 0])) is None  # 80%
    # multilabel: entries agreeing, against each label's most frequent value
    labels = np.array([[1, 0], [1, 0], [1, 1], [0, 0]])  # 75% and 75%
    assert "each label's most frequent value agrees on 75.0%" in _worse_than_constant(
        "multilabel", labels, 1 - labels
    )
    assert _worse_than_constant("multilabel", labels, labels) is None
