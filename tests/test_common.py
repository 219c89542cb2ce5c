"""scikit-learn's estimator checks over the meta-estimators."""

import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.utils import estimator_checks as checks
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_corenet import CoreNetClassifier, CoreNetRegressor

# Small, fast networks: the checks fit dozens of times on tiny data sets.
# check_classifiers_train and check_regressors_train ask for a training score
# (accuracy > 0.83, R² > 0.5) that the compressed network must reach, hence a
# network that learns in 100 epochs and budgets that keep it accurate.
ESTIMATORS = [
    CoreNetClassifier(
        MLPClassifier(
            hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=100, random_state=0
        ),
        keep_ratio=0.8,
        random_state=0,
    ),
    CoreNetRegressor(
        MLPRegressor(
            hidden_layer_sizes=(16, 16), learning_rate_init=0.01, max_iter=100, random_state=0
        ),
        keep_ratio=0.9,
        random_state=0,
    ),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


# The default network (estimator=None) is seeded from random_state: the checks
# that fit twice and compare find the same model.
@pytest.mark.parametrize(
    ("estimator", "check"),
    [
        (CoreNetClassifier(keep_ratio=0.8, random_state=0), checks.check_fit_idempotent),
        (CoreNetClassifier(keep_ratio=0.8, random_state=0), checks.check_supervised_y_2d),
        (CoreNetRegressor(keep_ratio=0.9, random_state=0), checks.check_fit_idempotent),
        (CoreNetRegressor(keep_ratio=0.9, random_state=0), checks.check_regressors_int),
        (CoreNetRegressor(keep_ratio=0.9, random_state=0), checks.check_regressor_data_not_an_array),
    ],
    ids=lambda value: getattr(value, "__name__", type(value).__name__),
)
def test_default_network_is_reproducible(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(type(estimator).__name__, estimator)
