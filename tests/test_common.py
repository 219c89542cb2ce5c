"""scikit-learn's estimator checks over the meta-estimators."""

from sklearn.neural_network import MLPClassifier, MLPRegressor
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
