"""Saving and loading every estimator with skops, trusting the library's types only."""

import io

import numpy as np
import pytest
from sklearn.frozen import FrozenEstimator
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_corenet import (
    METHODS,
    CoreNetClassifier,
    CoreNetCompressor,
    CoreNetRegressor,
    dump,
    load,
    trusted_types,
)
from tests._quiet import quiet

sio = pytest.importorskip("skops.io")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6))
    labels = np.array(["a", "b", "c"])[np.argmax(X[:, :3], axis=1)]
    return X, labels, X[:, 0] - X[:, 1]



def _round_trip(estimator):
    buffer = io.BytesIO()
    dump(estimator, buffer)
    buffer.seek(0)
    # loading with skops itself and the documented list works as well
    assert not set(sio.get_untrusted_types(data=buffer.getvalue())) - set(trusted_types())
    assert type(sio.loads(buffer.getvalue(), trusted=trusted_types())) is type(estimator)
    return load(buffer)


def _networks(data, solver):
    X, labels, values = data
    small = {"hidden_layer_sizes": (12,), "max_iter": 50, "random_state": 0, "solver": solver}
    return (
        quiet(MLPClassifier(**small).fit, X, labels),
        quiet(MLPRegressor(**small).fit, X, values),
    )


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_estimator_and_method_round_trips(data, method):
    X, labels, values = data
    classifier, regressor = _networks(data, "adam")
    params = {"method": method, "keep_ratio": 0.4, "random_state": 0}
    sparse = quiet(CoreNetCompressor(**params).fit_transform, classifier, X)
    sparse_regressor = quiet(CoreNetCompressor(**params).fit_transform, regressor, X)
    compressor = quiet(CoreNetCompressor(**params).fit, classifier, X)
    net = quiet(CoreNetClassifier(FrozenEstimator(classifier), **params).fit, X, labels)
    net_regressor = quiet(CoreNetRegressor(regressor, **params).fit, X, values)

    for model in (sparse, net):
        loaded = _round_trip(model)
        np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
        np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    for model in (sparse_regressor, net_regressor):
        np.testing.assert_array_equal(_round_trip(model).predict(X), model.predict(X))
    loaded = _round_trip(compressor)
    assert loaded.get_params() == compressor.get_params()
    assert loaded.n_params_ == compressor.n_params_ and loaded.budget_ == compressor.budget_
    np.testing.assert_equal(loaded.epsilon_, compressor.epsilon_)  # NaN included


@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_trained_networks_of_every_solver_and_pipelines(data, solver):
    X, labels, _ = data
    pipe = make_pipeline(
        StandardScaler(),
        CoreNetClassifier(
            MLPClassifier(hidden_layer_sizes=(12,), max_iter=30, solver=solver, random_state=0),
            keep_ratio=0.5,
            random_state=0,
        ),
    )
    quiet(pipe.fit, X, labels)
    loaded = _round_trip(pipe)
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))


@pytest.mark.parametrize("target", [{"epsilon": 0.5}, {"agreement": 0.8}])
def test_certified_compression_round_trips(data, target):
    X, labels, _ = data
    classifier, _ = _networks(data, "adam")
    net = CoreNetClassifier(FrozenEstimator(classifier), keep_ratio="certified", random_state=0, **target)
    quiet(net.fit, X, labels)
    # the method the search measured with (what the target reads) is saved with it
    loaded = _round_trip(net)
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    assert loaded.compressor_.certificate_.holds == net.compressor_.certificate_.holds
    assert repr(loaded.compressor_.method_) == repr(net.compressor_.method_)


def test_saved_compressor_keeps_no_calibration_data(data):
    X, _, _ = data
    classifier, _ = _networks(data, "adam")
    compressor = quiet(CoreNetCompressor(keep_ratio=0.3, method="corenet++", random_state=0).fit, classifier, X)
    buffer = io.BytesIO()
    dump(compressor, buffer)
    assert X[:3].tobytes() not in buffer.getvalue()
    assert len(buffer.getvalue()) < 20_000
    buffer.seek(0)
    loaded = load(buffer)
    np.testing.assert_array_equal(loaded.sample_sizes_[0], compressor.sample_sizes_[0])
    with pytest.raises(AttributeError, match="saved without its calibration data"):
        loaded.transform()
    compressor.transform()  # the fitted compressor in memory still draws


def test_other_types_are_refused_unless_trusted(data):
    from skops.io.exceptions import UntrustedTypesFoundException

    X, labels, _ = data
    classifier, _ = _networks(data, "adam")
    sparse = quiet(CoreNetCompressor(keep_ratio=0.5, random_state=0).fit_transform, classifier, X)
    buffer = io.BytesIO()
    dump({"model": sparse, "extra": _Untrusted()}, buffer)
    buffer.seek(0)
    with pytest.raises(UntrustedTypesFoundException, match="_Untrusted"):
        load(buffer)
    buffer.seek(0)
    name = f"{_Untrusted.__module__}.{_Untrusted.__qualname__}"
    loaded = load(buffer, trusted=[name])
    np.testing.assert_array_equal(loaded["model"].predict(X), sparse.predict(X))


class _Untrusted:
    pass


def test_trusted_types_are_the_library_and_mlp_internals():
    names = trusted_types()
    assert "sklearn_corenet.models._sparse_mlp.SparseMLPClassifier" in names
    assert "sklearn_corenet.compressor._meta.CoreNetRegressor" in names
    assert "sklearn.neural_network._stochastic_optimizers.AdamOptimizer" in names
    assert all(name.startswith(("sklearn_corenet.", "sklearn.neural_network.")) for name in names)


def test_fine_tuned_model_round_trips_with_its_history_and_one_shot_model(data):
    X, labels, _ = data
    classifier, _ = _networks(data, "adam")
    compressed = quiet(CoreNetCompressor(keep_ratio=0.3, random_state=0).fit_transform, classifier, X)
    quiet(compressed.fine_tune, X, labels, epochs=3, random_state=0)
    loaded = _round_trip(compressed)
    np.testing.assert_array_equal(loaded.predict(X), compressed.predict(X))
    assert loaded.fine_tune_history_.best_epoch == compressed.fine_tune_history_.best_epoch
    if getattr(compressed, "one_shot_estimator_", None) is not None:
        np.testing.assert_allclose(
            loaded.one_shot_estimator_.predict_proba(X), compressed.one_shot_estimator_.predict_proba(X)
        )
