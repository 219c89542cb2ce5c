"""CoreNetClassifier / CoreNetRegressor: training, freezing, pipelines, errors."""

import inspect
import textwrap
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_corenet import (
    CoreNetClassifier,
    CoreNetCompressor,
    CoreNetRegressor,
    SparseMLPClassifier,
    SparseMLPRegressor,
)
from sklearn_corenet.compressor._params import COMPRESSOR_PARAMETERS_DOC


class CountingMLP(MLPClassifier):
    """An MLPClassifier that counts the calls to ``fit``."""

    n_fits = 0

    def fit(self, X, y, **kwargs):
        type(self).n_fits += 1
        return super().fit(X, y, **kwargs)



@pytest.fixture
def small_mlp():
    return MLPClassifier(hidden_layer_sizes=(32,), max_iter=100, random_state=0)


@pytest.mark.parametrize("cls", [CoreNetClassifier, CoreNetRegressor])
def test_parameters_mirror_the_compressor(cls):
    # a parameter added to CoreNetCompressor must be added to the
    # meta-estimators, with the same default, keyword-only, and documented
    compressor = inspect.signature(CoreNetCompressor.__init__).parameters
    meta = inspect.signature(cls.__init__).parameters
    expected = {name: p.default for name, p in compressor.items() if name != "self"}
    got = {name: p.default for name, p in meta.items() if name not in ("self", "estimator")}
    assert got == expected
    assert list(meta)[:2] == ["self", "estimator"]
    assert all(meta[name].kind is inspect.Parameter.KEYWORD_ONLY for name in expected)
    assert set(cls()._parameter_constraints) == {"estimator", *expected}
    for name in expected:
        assert f"\n    {name} : " in cls.__doc__


@pytest.mark.parametrize("cls", [CoreNetClassifier, CoreNetRegressor])
def test_get_params_and_clone_see_every_compressor_parameter(cls, small_mlp):
    assert cls().get_params() == {"estimator": None, **CoreNetCompressor().get_params()}
    net = cls(small_mlp, keep_ratio=0.3, memory="cache", verbose=2)
    copy = clone(net)
    assert copy.get_params(deep=False).keys() == net.get_params(deep=False).keys()
    for name, value in net.get_params(deep=False).items():
        if name != "estimator":
            assert getattr(copy, name) == value
    assert repr(net).startswith(f"{cls.__name__}(estimator=MLPClassifier(")
    assert "keep_ratio=0.3, memory='cache', verbose=2)" in repr(net)


def test_unknown_or_positional_hyperparameter_is_a_type_error():
    with pytest.raises(TypeError, match="CoreNetClassifier.*unexpected keyword.*'keep'"):
        CoreNetClassifier(keep=0.5)
    with pytest.raises(TypeError, match="positional"):
        CoreNetRegressor(None, 0.1)


def test_parameter_docs_are_the_compressor_docs():
    # written once, in signature order, and read the same in every docstring
    documented = [
        line.split(" : ")[0]
        for line in COMPRESSOR_PARAMETERS_DOC.splitlines()
        if not line.startswith(" ")
    ]
    assert documented == list(inspect.signature(CoreNetCompressor.__init__).parameters)[1:]
    section = textwrap.indent(COMPRESSOR_PARAMETERS_DOC, "    ")
    for cls in (CoreNetCompressor, CoreNetClassifier, CoreNetRegressor):
        assert section in cls.__doc__
    assert "{" + "compressor_parameters}" not in CoreNetClassifier.__doc__


def test_compressor_gets_every_parameter(digits, small_mlp):
    X, y = digits
    net = CoreNetClassifier(
        small_mlp, keep_ratio=0.4, method="corenet+", delta=0.2, random_state=3
    ).fit(X[:400], y[:400])
    assert net.compressor_.get_params() == {
        **CoreNetCompressor().get_params(),
        "keep_ratio": 0.4,
        "method": "corenet+",
        "delta": 0.2,
        "random_state": 3,
    }


def test_fit_trains_a_clone_and_compresses_it(digits, small_mlp):
    X, y = digits
    net = CoreNetClassifier(small_mlp, keep_ratio=0.5, random_state=0).fit(X, y)
    with pytest.raises(NotFittedError):
        small_mlp.predict(X)  # the given estimator stays unfitted
    assert net.estimator_ is not small_mlp
    assert isinstance(net.compressed_, SparseMLPClassifier)
    assert net.compressed_.keep_ratio_ == pytest.approx(0.5, abs=1e-3)
    np.testing.assert_array_equal(net.predict(X), net.compressed_.predict(X))
    np.testing.assert_allclose(net.predict_proba(X), net.compressed_.predict_proba(X))
    np.testing.assert_array_equal(net.classes_, np.arange(10))
    assert net.score(X, y) > 0.9
    assert net.n_features_in_ == 64


def test_default_estimator_is_a_relu_mlp(digits):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = CoreNetClassifier(keep_ratio=0.5, random_state=0).fit(X[:100], y[:100])
        reg = CoreNetRegressor(keep_ratio=0.5, random_state=0).fit(X[:100], y[:100] / 9)
    assert type(net.estimator_) is MLPClassifier and net.estimator_.activation == "relu"
    assert type(reg.estimator_) is MLPRegressor and reg.estimator_.activation == "relu"
    assert net.estimator_.get_params() == MLPClassifier(random_state=0).get_params()


@pytest.mark.parametrize("cls", [CoreNetClassifier, CoreNetRegressor])
def test_random_state_makes_the_default_network_reproducible(digits, cls):
    X, y = digits
    y = y if cls is CoreNetClassifier else y / 9
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fits = [cls(keep_ratio=0.5, random_state=0).fit(X[:300], y[:300]) for _ in range(2)]
        other = cls(keep_ratio=0.5, random_state=1).fit(X[:300], y[:300])
    predict = "predict_proba" if cls is CoreNetClassifier else "predict"
    first, again = (getattr(net, predict)(X[300:400]) for net in fits)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(getattr(other, predict)(X[300:400]), first)
    # a RandomState seeds the network by a draw of it: the state advances
    state = np.random.RandomState(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cls(keep_ratio=0.5, random_state=state).fit(X[:300], y[:300])
    assert state.randint(2**31) != np.random.RandomState(0).randint(2**31)


@pytest.mark.parametrize("freeze", [True, False])
def test_fitted_or_frozen_estimator_is_compressed_not_refit(digits, freeze):
    X, y = digits
    mlp = CountingMLP(hidden_layer_sizes=(32,), max_iter=100, random_state=0).fit(X, y)
    coefs = [W.copy() for W in mlp.coefs_]
    CountingMLP.n_fits = 0
    estimator = FrozenEstimator(mlp) if freeze else mlp
    net = CoreNetClassifier(estimator, keep_ratio=1.0).fit(X[:100], y[:100])
    assert CountingMLP.n_fits == 0
    assert net.estimator_ is mlp
    for before, after in zip(coefs, mlp.coefs_, strict=True):
        np.testing.assert_array_equal(before, after)
    # at keep_ratio=1 the compressed network is the trained one
    np.testing.assert_allclose(net.predict_proba(X), mlp.predict_proba(X), rtol=1e-10)


def test_regressor_keeps_the_mlp_predictions_at_full_budget(regression_data, regression_mlp):
    X, y = regression_data
    net = CoreNetRegressor(FrozenEstimator(regression_mlp), keep_ratio=1.0).fit(X, y)
    assert isinstance(net.compressed_, SparseMLPRegressor)
    np.testing.assert_allclose(net.predict(X), regression_mlp.predict(X), rtol=1e-9, atol=1e-12)
    assert net.score(X, y) == pytest.approx(regression_mlp.score(X, y), abs=1e-9)
    sparse = CoreNetRegressor(FrozenEstimator(regression_mlp), keep_ratio=0.5, random_state=0)
    assert sparse.fit(X, y).compressed_.keep_ratio_ == pytest.approx(0.5, abs=1e-3)


def test_unsupported_estimator_is_a_type_error_before_training(digits):
    X, y = digits
    with pytest.raises(TypeError, match="LogisticRegression"):
        CoreNetClassifier(LogisticRegression(max_iter=10**6)).fit(X, y)
    fitted = LogisticRegression().fit(X[:50, :4], y[:50])
    with pytest.raises(TypeError, match="LogisticRegression"):
        CoreNetClassifier(FrozenEstimator(fitted)).fit(X[:50, :4], y[:50])


def test_bare_torch_module_is_refused_as_estimator(digits):
    # no fit: a bare module goes to CoreNetCompressor, or into a skorch net
    torch = pytest.importorskip("torch")
    X, y = digits
    module = torch.nn.Sequential(torch.nn.Linear(64, 8), torch.nn.ReLU(), torch.nn.Linear(8, 10))
    for estimator in (module, FrozenEstimator(module)):
        with pytest.raises(TypeError, match="'estimator' parameter.*Sequential"):
            CoreNetClassifier(estimator).fit(X, y)


def test_frozen_estimator_with_another_feature_count_is_a_value_error(digits, digits_mlp):
    X, y = digits
    net = CoreNetClassifier(FrozenEstimator(digits_mlp), keep_ratio=0.5)
    with pytest.raises(ValueError, match="X has 10 features.*fitted on 64 features"):
        net.fit(X[:, :10], y)


def test_frozen_unfitted_estimator_is_not_fitted_error(digits):
    X, y = digits
    with pytest.raises(NotFittedError, match="FrozenEstimator wraps an unfitted"):
        CoreNetClassifier(FrozenEstimator(MLPClassifier())).fit(X, y)


def test_out_of_range_parameter_names_the_meta_estimator(digits, digits_mlp):
    X, y = digits
    net = CoreNetClassifier(FrozenEstimator(digits_mlp), keep_ratio=1.5)
    with pytest.raises(InvalidParameterError, match="'keep_ratio' parameter of CoreNetClassifier"):
        net.fit(X, y)


def _frame(X, y):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X[:, :6], columns=[f"pixel_{i}" for i in range(6)])
    frame["colour"] = np.where(y % 2 == 0, "red", "blue")
    return frame


def test_pipeline_on_a_dataframe_carries_feature_names(digits):
    X, y = digits
    frame = _frame(X, y)
    from sklearn.preprocessing import OneHotEncoder

    prep = ColumnTransformer(
        [
            ("scale", StandardScaler(), [f"pixel_{i}" for i in range(6)]),
            ("colour", OneHotEncoder(sparse_output=False), ["colour"]),
        ]
    )
    pipe = Pipeline(
        [
            ("prep", prep),
            ("net", CoreNetClassifier(
                MLPClassifier(hidden_layer_sizes=(16,), max_iter=50, random_state=0),
                keep_ratio=0.6,
                random_state=0,
            )),
        ]
    ).set_output(transform="pandas")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no feature-name warnings
        warnings.simplefilter("ignore", category=DeprecationWarning)
        from sklearn.exceptions import ConvergenceWarning

        warnings.simplefilter("ignore", category=ConvergenceWarning)
        pipe.fit(frame, y)
        predicted = pipe.predict(frame)
    names = list(pipe["prep"].get_feature_names_out())
    net = pipe["net"]
    assert list(net.feature_names_in_) == names
    assert list(net.estimator_.feature_names_in_) == names
    assert list(net.compressed_.feature_names_in_) == names
    assert net.compressed_.keep_ratio_ == pytest.approx(0.6, abs=1e-2)
    assert predicted.shape == (len(y),) and pipe.score(frame, y) > 0.15
    shuffled = pipe["prep"].transform(frame)[names[::-1]]
    with pytest.raises(ValueError, match="feature names"):
        net.predict(shuffled)


def test_nested_parameters_clone_and_set_params(small_mlp):
    pipe = Pipeline([("scale", StandardScaler()), ("net", CoreNetClassifier(small_mlp))])
    params = pipe.get_params()
    assert params["net__keep_ratio"] is None
    assert params["net__estimator__hidden_layer_sizes"] == (32,)
    pipe.set_params(net__keep_ratio=0.3, net__estimator__hidden_layer_sizes=(8, 8))
    assert pipe["net"].keep_ratio == 0.3
    assert pipe["net"].estimator.hidden_layer_sizes == (8, 8)
    copy = clone(pipe)
    assert copy["net"] is not pipe["net"]
    assert copy["net"].estimator is not pipe["net"].estimator
    assert copy.get_params(deep=True)["net__estimator__hidden_layer_sizes"] == (8, 8)
    assert copy["net"].get_params(deep=False).keys() == pipe["net"].get_params(deep=False).keys()


def test_frozen_estimator_survives_clone(digits_mlp):
    net = CoreNetClassifier(FrozenEstimator(digits_mlp), keep_ratio=0.5)
    assert clone(net).estimator.estimator is digits_mlp


def test_skorch_net_is_trained_and_compressed(digits):
    torch = pytest.importorskip("torch")
    skorch = pytest.importorskip("skorch")
    X, y = digits
    X, y = X[:400].astype(np.float32), y[:400]

    class Module(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = torch.nn.Linear(64, 32)
            self.out = torch.nn.Linear(32, 10)

        def forward(self, X):
            return self.out(torch.relu(self.hidden(X)))

    skorch_net = skorch.NeuralNetClassifier(
        Module,
        criterion=torch.nn.CrossEntropyLoss,
        max_epochs=2,
        train_split=None,
        verbose=0,
    )
    torch.manual_seed(0)
    net = CoreNetClassifier(skorch_net, keep_ratio=1.0).fit(X, y)
    assert net.estimator_ is not skorch_net and not hasattr(skorch_net, "module_")
    np.testing.assert_allclose(
        net.predict_proba(X), net.estimator_.predict_proba(X), rtol=1e-4, atol=1e-6
    )


# -- sample weights and metadata routing -------------------------------------


class WeightRecordingMLP(MLPClassifier):
    """An MLPClassifier that records the sample weights its fit receives."""

    received = []

    def fit(self, X, y, sample_weight=None):
        type(self).received.append(sample_weight)
        return super().fit(X, y, sample_weight=sample_weight)


def test_sample_weight_reaches_the_network(digits):
    X, y = digits
    X, y = X[:300], y[:300]
    weights = np.random.default_rng(0).uniform(0.1, 2.0, size=len(y))
    WeightRecordingMLP.received = []
    net = CoreNetClassifier(
        WeightRecordingMLP(hidden_layer_sizes=(16,), max_iter=30, random_state=0), keep_ratio=1.0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net.fit(X, y, sample_weight=weights)
        direct = MLPClassifier(hidden_layer_sizes=(16,), max_iter=30, random_state=0)
        direct.fit(X, y, sample_weight=weights)
    np.testing.assert_array_equal(WeightRecordingMLP.received[0], weights)
    for W, expected in zip(net.estimator_.coefs_, direct.coefs_, strict=True):
        np.testing.assert_array_equal(W, expected)
    with pytest.raises(ValueError, match="sample_weight"):
        net.fit(X, y, sample_weight=weights[:10])


def test_network_without_sample_weight_is_a_type_error(digits):
    class NoWeights(MLPClassifier):
        def fit(self, X, y):
            return super().fit(X, y)

    X, y = digits
    with pytest.raises(TypeError, match="NoWeights.fit does not take sample_weight"):
        CoreNetClassifier(NoWeights()).fit(X, y, sample_weight=np.ones(len(y)))


def test_metadata_routing(digits):
    import sklearn

    X, y = digits
    X, y = X[:200], y[:200]
    weights = np.linspace(0.5, 1.5, len(y))
    small = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5)
    with pytest.raises(ValueError, match="enable_metadata_routing"):
        CoreNetClassifier(small).fit(X, y, other=weights)
    with sklearn.config_context(enable_metadata_routing=True), warnings.catch_warnings():
        warnings.simplefilter("ignore", category=UserWarning)
        from sklearn.exceptions import ConvergenceWarning, UnsetMetadataPassedError

        warnings.simplefilter("ignore", category=ConvergenceWarning)
        WeightRecordingMLP.received = []
        requested = WeightRecordingMLP(hidden_layer_sizes=(8,), max_iter=5).set_fit_request(
            sample_weight=True
        )
        CoreNetClassifier(requested, keep_ratio=0.5).fit(X, y, sample_weight=weights)
        np.testing.assert_array_equal(WeightRecordingMLP.received[0], weights)
        with pytest.raises(UnsetMetadataPassedError, match="sample_weight"):
            CoreNetClassifier(small, keep_ratio=0.5).fit(X, y, sample_weight=weights)
        # through a Pipeline and a grid search, as scikit-learn routes it
        from sklearn.model_selection import GridSearchCV

        WeightRecordingMLP.received = []
        search = GridSearchCV(
            CoreNetClassifier(requested, random_state=0), {"keep_ratio": [0.3, 0.6]}, cv=2
        )
        search.fit(X, y, sample_weight=weights)
        assert len(WeightRecordingMLP.received) == 2 * 2 + 1
        assert all(w is not None for w in WeightRecordingMLP.received)


# -- the network's task ------------------------------------------------------


def test_classifier_refuses_a_regressor_and_vice_versa(digits):
    X, y = digits
    with pytest.raises(TypeError, match="CoreNetClassifier cannot compress MLPRegressor.*CoreNetRegressor"):
        CoreNetClassifier(MLPRegressor()).fit(X, y)
    with pytest.raises(TypeError, match="CoreNetRegressor cannot compress MLPClassifier.*CoreNetClassifier"):
        CoreNetRegressor(MLPClassifier()).fit(X, y)
    fitted = MLPClassifier(hidden_layer_sizes=(4,), max_iter=5).fit(X[:50], y[:50])
    with pytest.raises(TypeError, match="CoreNetRegressor cannot compress MLPClassifier"):
        CoreNetRegressor(FrozenEstimator(fitted)).fit(X, y)


# -- lean when saved ---------------------------------------------------------


@pytest.mark.parametrize("method", ["auto", "corenet++"])
def test_saved_estimator_holds_no_calibration_data(digits, method):
    import pickle

    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = CoreNetClassifier(
            MLPClassifier(hidden_layer_sizes=(100, 100), max_iter=30, random_state=0),
            keep_ratio=0.1,
            method=method,
            random_state=0,
        ).fit(X, y)
    payload = pickle.dumps(net)
    parts = len(pickle.dumps(net.estimator_)) + len(pickle.dumps(net.compressed_))
    assert len(payload) <= parts + 20_000
    assert X[:3].tobytes() not in payload
    loaded = pickle.loads(payload)
    np.testing.assert_array_equal(loaded.predict_proba(X), net.predict_proba(X))
    assert loaded.compressor_.n_params_ == net.compressor_.n_params_
    assert not hasattr(loaded.compressor_, "sensitivities_")
    with pytest.raises(NotFittedError, match="saved without its calibration data"):
        loaded.compressor_.transform()
    # the estimator in memory is untouched by saving
    assert net.compressor_.transform().nnz_ == net.compressed_.nnz_


def test_certified_score_target_reaches_the_compressor(digits):
    X, y = digits
    model = CoreNetClassifier(
        MLPClassifier((32,), max_iter=100, random_state=0), keep_ratio="certified", score_tolerance=0.02, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X[:900], y[:900])
    assert model.compressor_.certificate_.score_drop <= 0.02
    assert model.compressed_.keep_ratio_ < 1.0


def test_routed_sample_weight_reaches_the_default_network_and_the_compression(digits):
    import sklearn
    from sklearn.model_selection import GridSearchCV

    X, y = digits
    X, y = X[:400], y[:400]
    weights = np.random.default_rng(0).integers(1, 4, size=len(y)).astype(float)
    with sklearn.config_context(enable_metadata_routing=True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        weighted = CoreNetClassifier(keep_ratio=0.5, random_state=0).fit(X, y, sample_weight=weights)
        repeated = CoreNetClassifier(keep_ratio=0.5, random_state=0).fit(
            np.repeat(X, weights.astype(int), axis=0), np.repeat(y, weights.astype(int))
        )
        unweighted = CoreNetClassifier(keep_ratio=0.5, random_state=0).fit(X, y)
        assert not np.allclose(weighted.predict_proba(X), unweighted.predict_proba(X))
        # the compression of the weighted fit is the one of repeated rows, up
        # to the network's training (which scikit-learn's MLP does not make
        # exactly repetition-equivalent with adam): agreement, not equality
        assert np.mean(weighted.predict(X) == repeated.predict(X)) > 0.9
        # a search passes the weights on (the default network requests them)
        net = CoreNetClassifier(random_state=0).set_score_request(sample_weight=False)
        search = GridSearchCV(net, {"keep_ratio": [0.3, 0.5]}, cv=2).fit(X, y, sample_weight=weights)
        assert search.best_params_["keep_ratio"] in (0.3, 0.5)
