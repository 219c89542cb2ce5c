"""A fitted Pipeline ending in a network compresses like the bare network."""

import io
import warnings

import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from sklearn_corenet import CoreNetCompressor, SparseMLPClassifier, SparseMLPRegressor


@pytest.fixture(scope="module")
def data():
    X, y = load_digits(return_X_y=True)
    return X[:1200], y[:1200], X[1200:], y[1200:]


@pytest.fixture(scope="module")
def pipe(data):
    X, y, _, _ = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_pipeline(StandardScaler(), MLPClassifier((64,), max_iter=150, random_state=0)).fit(X, y)


def test_a_fitted_pipeline_compresses_as_its_network_on_transformed_rows(pipe, data):
    X, _, X_test, y_test = data
    compressed = CoreNetCompressor(keep_ratio=0.3, random_state=0).fit_transform(pipe, X)
    assert isinstance(compressed, Pipeline)
    assert [name for name, _ in compressed.steps] == [name for name, _ in pipe.steps]
    assert isinstance(compressed[-1], SparseMLPClassifier)
    # the same as compressing the last step on the rows the Pipeline feeds it
    network = CoreNetCompressor(keep_ratio=0.3, random_state=0).fit_transform(pipe[-1], pipe[:-1].transform(X))
    np.testing.assert_allclose(compressed.predict_proba(X_test), network.predict_proba(pipe[:-1].transform(X_test)))
    # which keeps the accuracy the raw-row slip loses
    assert compressed.score(X_test, y_test) > pipe.score(X_test, y_test) - 0.05
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        slip = CoreNetCompressor(keep_ratio=0.3, random_state=0).fit_transform(pipe[-1], X)
    assert compressed.score(X_test, y_test) > slip.score(pipe[:-1].transform(X_test), y_test)


def test_the_compressed_pipeline_owns_its_steps(pipe, data):
    X, y, X_test, _ = data
    before = pipe.predict_proba(X_test)
    compressed = CoreNetCompressor(keep_ratio=0.2, random_state=0).fit_transform(pipe, X)
    expected = compressed.predict_proba(X_test)
    np.testing.assert_array_equal(pipe.predict_proba(X_test), before)  # the input is unchanged
    assert compressed[0] is not pipe[0]
    pipe[0].mean_ += 1.0  # what refitting the original's scaler would do
    try:
        np.testing.assert_array_equal(compressed.predict_proba(X_test), expected)
    finally:
        pipe[0].mean_ -= 1.0


def test_nested_pipeline_and_column_transformer(data):
    pd = pytest.importorskip("pandas")
    X, y, X_test, y_test = data
    columns = [f"pixel{i}" for i in range(X.shape[1])]
    frame, test_frame = pd.DataFrame(X, columns=columns), pd.DataFrame(X_test, columns=columns)
    prepare = ColumnTransformer([("low", StandardScaler(), columns[:32]), ("high", MinMaxScaler(), columns[32:])])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = Pipeline([("prepare", prepare), ("model", make_pipeline(StandardScaler(), MLPClassifier((32,), max_iter=150, random_state=0)))]).fit(frame, y)
    compressed = CoreNetCompressor(keep_ratio=0.4, random_state=0).fit_transform(pipe, frame)
    assert isinstance(compressed["model"], Pipeline) and isinstance(compressed["model"][-1], SparseMLPClassifier)
    assert compressed.score(test_frame, y_test) > pipe.score(test_frame, y_test) - 0.05


def test_a_regression_pipeline_and_the_default_certified_mode(data):
    X, y, X_test, _ = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe = make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(32,), max_iter=200, random_state=0)).fit(X, y / 9)
    compressor = CoreNetCompressor(epsilon=0.3, random_state=0)
    compressed = compressor.fit_transform(pipe, X)
    assert isinstance(compressed[-1], SparseMLPRegressor)
    assert compressor.certificate_.holds and compressed[-1].keep_ratio_ < 1
    # the compressor's own certificate, on rows it never saw, through the steps
    certificate = compressor.certify(X_test, compressed=compressed)
    assert certificate.n_points == len(X_test)


def test_pipelines_that_cannot_be_compressed_say_why(data):
    X, y, _, _ = data
    with pytest.raises(NotFittedError, match="step 'standardscaler'.*not fitted"):
        CoreNetCompressor(keep_ratio=0.5).fit(make_pipeline(StandardScaler(), MLPClassifier()), X)
    logistic = make_pipeline(StandardScaler(), LogisticRegression(max_iter=200)).fit(X, y)
    with pytest.raises(TypeError, match="last step 'logisticregression'.*supported models"):
        CoreNetCompressor(keep_ratio=0.5).fit(logistic, X)


def test_the_compressed_pipeline_saves_and_exports(pipe, data):
    X, _, X_test, _ = data
    compressed = CoreNetCompressor(keep_ratio=0.2, random_state=0).fit_transform(pipe, X)
    pytest.importorskip("skops.io")
    from sklearn_corenet import dump, load

    buffer = io.BytesIO()
    dump(compressed, buffer)
    buffer.seek(0)
    np.testing.assert_array_equal(load(buffer).predict(X_test), compressed.predict(X_test))
    onnxruntime = pytest.importorskip("onnxruntime")
    from sklearn_corenet import to_onnx

    onx = to_onnx(compressed, X_test[:1].astype(np.float32), options={id(compressed[-1]): {"zipmap": False}})
    session = onnxruntime.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    labels, probabilities = session.run(None, {session.get_inputs()[0].name: X_test.astype(np.float32)})
    np.testing.assert_allclose(probabilities, compressed.predict_proba(X_test), atol=1e-4)


def test_certify_takes_the_pipelines(pipe, data):
    from sklearn_corenet import certify

    X, y, X_test, y_test = data
    compressed = CoreNetCompressor(keep_ratio=0.3, random_state=0).fit_transform(pipe, X)
    through = certify(pipe, compressed, X_test, y_test, epsilon=0.3)
    scaled = pipe[:-1].transform(X_test)
    direct = certify(pipe[-1], compressed[-1], scaled, y_test, epsilon=0.3)
    assert through.coverage == direct.coverage and through.epsilon_certified == direct.epsilon_certified
    assert through.score_drop == pytest.approx(direct.score_drop)
    # the bare compressed network beside its Pipeline is fed as the original's network
    mixed = certify(pipe, compressed[-1], X_test, epsilon=0.3)
    assert mixed.epsilon_certified == direct.epsilon_certified
    # calibration rows are recognised through the steps too
    with pytest.raises(ValueError, match="calibration"):
        certify(pipe, compressed, X[:300], calibration=X)
    # Pipelines whose steps differ are refused
    other = CoreNetCompressor(keep_ratio=0.3, random_state=0).fit_transform(pipe, X)
    other[0].mean_ = other[0].mean_ + 1
    with pytest.raises(ValueError, match="different rows"):
        certify(pipe, other, X_test)
