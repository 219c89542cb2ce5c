"""certify refuses what it cannot certify: swapped models, other features, other kinds of model."""

import copy
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.neural_network import MLPClassifier, MLPRegressor

from sklearn_corenet import CoreNetCompressor, certify
from tests._quiet import quiet


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(500, 6)), columns=[f"x{i}" for i in range(6)])
    y = np.array([0, 1, 2])[np.argmax(X.to_numpy()[:, :3], axis=1)]
    return X.iloc[:300], y[:300], X.iloc[300:], y[300:]


@pytest.fixture(scope="module")
def models(data):
    X, y, _, _ = data
    small = {"hidden_layer_sizes": (24,), "max_iter": 100, "random_state": 0}
    classifier = quiet(MLPClassifier(**small).fit, X, y)
    # the same outputs' shape as the classifier's: only the kind differs
    regressor = quiet(MLPRegressor(**small).fit, X, np.eye(3)[y])
    lettered = quiet(MLPClassifier(**small).fit, X, np.array(["a", "b", "c"])[y])
    compress = CoreNetCompressor(keep_ratio=0.3, random_state=0).fit_transform
    return {
        "classifier": classifier,
        "regressor": regressor,
        "lettered": lettered,
        "compressed": quiet(compress, classifier, X),
        "sparser": quiet(CoreNetCompressor(keep_ratio=0.1, random_state=0).fit_transform, classifier, X),
        "compressed regressor": quiet(compress, regressor, X),
        "compressed lettered": quiet(compress, lettered, X),
    }


def test_swapped_arguments_are_refused(data, models):
    _, _, X_test, y_test = data
    original, compressed = models["classifier"], models["compressed"]
    with pytest.raises(ValueError, match=r"original is a compressed SparseMLPClassifier .* arguments look swapped"):
        certify(compressed, original, X_test, y_test)
    certificate = certify(original, compressed, X_test, y_test)
    assert certificate.n_points == X_test.shape[0]
    # a compressed model certified against a sparser compression is no swap
    assert certify(compressed, models["sparser"], X_test).n_points == X_test.shape[0]
    assert certify(compressed, compressed, X_test).coverage == 1.0


def test_feature_names_are_checked_as_predict_checks_them(data, models):
    _, _, X_test, _ = data
    original, compressed = models["classifier"], models["compressed"]
    reordered = X_test[X_test.columns[::-1]]
    for X in (reordered, X_test.rename(columns={"x0": "z"})):
        with pytest.raises(ValueError, match="feature names should match") as from_predict:
            compressed.predict(X)
        with pytest.raises(ValueError, match="feature names should match") as from_certify:
            certify(original, compressed, X)
        # the same explanation (which names are missing, unexpected or moved)
        assert str(from_certify.value).split("\n")[1:] == str(from_predict.value).split("\n")[1:]
    # each model is checked, whichever side has the names
    unnamed = copy.deepcopy(compressed)
    del unnamed.feature_names_in_
    with pytest.raises(ValueError, match="feature names should match"):
        certify(original, unnamed, reordered)
    unnamed_original = compressed.to_sklearn()
    del unnamed_original.feature_names_in_
    with (
        pytest.warns(UserWarning, match="X has feature names, but MLPClassifier was fitted without"),
        pytest.raises(ValueError, match="feature names should match"),
    ):
        certify(unnamed_original, compressed, reordered)
    # without names, the warning predict gives
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        certify(original, compressed, X_test.to_numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        certificate = certify(original, compressed, X_test)
    assert certificate.n_points == X_test.shape[0]


def test_a_regressor_and_a_classifier_are_refused(data, models):
    _, _, X_test, _ = data
    # both have 3 outputs: the shapes alone would let them through
    with pytest.raises(ValueError, match="original network is a multiclass model and the compressed one a regression"):
        certify(models["classifier"], models["compressed regressor"], X_test)
    with pytest.raises(ValueError, match="original network is a regression model and the compressed one a multiclass"):
        certify(models["regressor"], models["compressed"], X_test)


def test_classifiers_of_other_classes_are_refused(data, models):
    _, _, X_test, _ = data
    with pytest.raises(ValueError, match=r"predicts the classes \[0 1 2\] and the compressed one \['a' 'b' 'c'\]"):
        certify(models["classifier"], models["compressed lettered"], X_test)
