"""No export, conversion or copy shares a writable buffer with the compressed model.

Each test changes the export (or copy) in place, the way a user trains or
edits it, and checks that the compressed model predicts and stores exactly
what it did before.
"""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.neural_network import MLPClassifier, MLPRegressor

from sklearn_corenet import CoreNetCompressor

torch = pytest.importorskip("torch")
skorch = pytest.importorskip("skorch")

from torch import nn

from tests._quiet import fit_quietly
from tests.adapters.test_torch_graph import (
    seed_and_one_thread,  # noqa: F401 - autouse fixture
)

pd = pytest.importorskip("pandas")




@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(300, 6)), columns=list("abcdef"))
    X = frame.to_numpy(copy=True)  # writable: torch takes it as it is
    return frame, X, {
        "binary": np.where(X[:, 0] + X[:, 1] > 0, "yes", "no"),
        "multiclass": np.array(["x", "y", "z"])[np.argmax(X[:, :3], axis=1)],
        "regression": X[:, 0] - X[:, 1],
    }


@pytest.fixture(scope="module")
def compressed(data):
    """Compressed scikit-learn models with feature names and removed biases."""
    frame, _, targets = data
    models = {}
    for kind, y in targets.items():
        estimator = MLPRegressor if kind == "regression" else MLPClassifier
        mlp = fit_quietly(estimator(hidden_layer_sizes=(24,), max_iter=300, random_state=0), frame, y)
        models[kind] = CoreNetCompressor(
            keep_ratio=0.3, method="corenet+", random_state=0
        ).fit_transform(mlp, frame)
    return models


@pytest.fixture(scope="module")
def compressed_skorch():
    """A compressed skorch classifier: its stored net parameters and classes."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 6)).astype(np.float32)
    y = np.argmax(X[:, :3], axis=1)
    torch.manual_seed(0)
    net = skorch.NeuralNetClassifier(
        nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3)),
        criterion=nn.CrossEntropyLoss,
        max_epochs=5,
        lr=0.1,
        train_split=None,
        verbose=0,
    ).fit(X, y)
    model = CoreNetCompressor(keep_ratio=0.3, random_state=0).fit_transform(net, X)
    return model, X, y


def _arrays(model):
    """Every numpy array the compressed model predicts with."""
    arrays = [model.head_.classes] if model.head_.classes is not None else []
    for W in model.coefs_:
        arrays += [W.data, W.indices, W.indptr]
    arrays += list(model.intercepts_)
    if hasattr(model, "feature_names_in_"):
        arrays.append(model.feature_names_in_)
    return arrays


def _assert_shares_nothing(arrays, model):
    for array in arrays:
        for own in _arrays(model):
            assert not np.shares_memory(np.asarray(array), own)


def _tensors(module):
    return [t.detach().numpy() for t in [*module.parameters(), *module.buffers()]]


def _outputs(model, X):
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)
    return model.predict(X)


def _snapshot(model, X):
    return {
        "outputs": _outputs(model, X),
        "predictions": model.predict(X),
        "coefs": [W.toarray() for W in model.coefs_],
        "intercepts": [np.array(b, copy=True) for b in model.intercepts_],
        "nnz": model.nnz_,
        "classes": None if model.head_.classes is None else model.head_.classes.copy(),
        "source_info": pickle.dumps(model.source_info_),
    }


def _assert_unchanged(model, snapshot, X):
    np.testing.assert_array_equal(_outputs(model, X), snapshot["outputs"])
    np.testing.assert_array_equal(model.predict(X), snapshot["predictions"])
    for W, before in zip(model.coefs_, snapshot["coefs"], strict=True):
        np.testing.assert_array_equal(W.toarray(), before)
    for b, before in zip(model.intercepts_, snapshot["intercepts"], strict=True):
        np.testing.assert_array_equal(b, before)
    assert model.nnz_ == snapshot["nnz"]
    if snapshot["classes"] is not None:
        np.testing.assert_array_equal(model.head_.classes, snapshot["classes"])
    assert pickle.dumps(model.source_info_) == snapshot["source_info"]


def _add_one(module):
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            if tensor.is_floating_point():
                tensor.add_(1)


def _adam_step(module, X):
    optimizer = torch.optim.Adam(module.parameters(), lr=0.1)
    module(torch.tensor(X)).square().sum().backward()
    optimizer.step()


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_training_or_editing_the_torch_export_leaves_the_model(compressed, data, kind, sparse):
    frame, X, _ = data
    model = compressed[kind]
    snapshot = _snapshot(model, frame)
    module = model.to_torch(sparse=sparse)
    _assert_shares_nothing(_tensors(module), model)
    _adam_step(module, X)
    _add_one(module)
    _assert_unchanged(model, snapshot, frame)


def _skorch_targets(model, y):
    if model.head_.kind == "multiclass":
        return np.searchsorted(model.classes_, y)  # skorch trains on class indices
    if model.head_.kind == "binary":
        return (y == model.classes_[1]).astype(np.float64)
    return y.reshape(-1, 1)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_training_or_editing_the_skorch_export_leaves_the_model(compressed, data, kind, sparse):
    frame, X, targets = data
    model = compressed[kind]
    snapshot = _snapshot(model, frame)
    net = model.to_skorch(sparse=sparse, train_split=None, max_epochs=1, lr=0.1, verbose=0)
    _assert_shares_nothing(_tensors(net.module_), model)
    if kind == "multiclass":
        _assert_shares_nothing([net.classes_], model)
    net.partial_fit(X, _skorch_targets(model, targets[kind]))
    _add_one(net.module_)
    if kind == "multiclass":
        net.classes_[0] = net.classes_[1]
    _assert_unchanged(model, snapshot, frame)


@pytest.mark.parametrize("sparse", [False, True])
def test_skorch_export_of_a_skorch_model_copies_the_stored_parameters(compressed_skorch, sparse):
    model, X, y = compressed_skorch
    snapshot = _snapshot(model, X)
    net = model.to_skorch(sparse=sparse, max_epochs=1)
    _assert_shares_nothing([*_tensors(net.module_), net.classes_], model)
    stored = model.source_info_["classes"]
    assert not np.shares_memory(np.asarray(net.classes_), np.asarray(stored))
    net.partial_fit(X, y)
    _add_one(net.module_)
    net.classes_[0] = 7
    net.set_params(max_epochs=3)
    _assert_unchanged(model, snapshot, X)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_training_or_editing_the_sklearn_export_leaves_the_model(compressed, data, kind):
    frame, X, targets = data
    model = compressed[kind]
    snapshot = _snapshot(model, frame)
    exported = model.to_sklearn()
    arrays = [*exported.coefs_, *exported.intercepts_, exported.feature_names_in_]
    if kind != "regression":
        arrays.append(exported.classes_)
    _assert_shares_nothing(arrays, model)
    fit_quietly(exported.set_params(warm_start=True, max_iter=2), frame, targets[kind])
    for array in [*exported.coefs_, *exported.intercepts_]:
        array += 1
    exported.feature_names_in_[0] = "z"
    if kind != "regression":
        exported.classes_[0] = exported.classes_[1]
    _assert_unchanged(model, snapshot, frame)


def test_editing_the_network_leaves_the_model(compressed, compressed_skorch, data):
    frame, _, _ = data
    for model, rows in [(compressed["multiclass"], frame), compressed_skorch[:2]]:
        snapshot = _snapshot(model, rows)
        network = model.to_network()
        arrays = [*network.coefs, *network.intercepts, network.head.classes]
        if network.feature_names_in is not None:
            arrays.append(network.feature_names_in)
        _assert_shares_nothing(arrays, model)
        for array in [*network.coefs, *network.intercepts]:
            array += 1
        network.head.classes[0] = network.head.classes[1]
        if network.feature_names_in is not None:
            network.feature_names_in[0] = "z"
        network.extra["edited"] = True
        for value in network.extra.values():
            if isinstance(value, dict):
                value["edited"] = True
        _assert_unchanged(model, snapshot, rows)


def _edit_in_place(model):
    for W in model.coefs_:
        W.data += 1
    for b in model.intercepts_:
        b += 1
    model.head_.classes[0] = model.head_.classes[-1]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_editing_an_astype_copy_leaves_the_model(compressed, data, dtype):
    frame, _, _ = data
    model = compressed["multiclass"]
    snapshot = _snapshot(model, frame)
    converted = model.astype(dtype)
    _assert_shares_nothing(_arrays(converted), model)
    _edit_in_place(converted)
    _assert_unchanged(model, snapshot, frame)


def test_clone_and_the_fine_tuned_one_shot_copy_share_nothing(compressed, data):
    frame, _, targets = data
    model = clone(compressed["multiclass"])
    copied = clone(model)
    _assert_shares_nothing(_arrays(copied), model)

    model.fine_tune(frame, targets["multiclass"], epochs=10, random_state=0)
    assert model.fine_tune_history_.best_epoch > 0  # the weights changed
    one_shot = model.one_shot_estimator_
    _assert_shares_nothing(_arrays(one_shot), model)
    # the one-shot copy is the model as it was before fine-tuning
    _assert_unchanged(one_shot, _snapshot(copied, frame), frame)

    # training the model further leaves the copy; editing the copy leaves the model
    one_shot_before = _snapshot(one_shot, frame)
    model.fine_tune(
        frame, targets["multiclass"], epochs=10, learning_rate=0.05,
        early_stopping=False, random_state=1,
    )
    _assert_unchanged(one_shot, one_shot_before, frame)
    model_before = _snapshot(model, frame)
    _edit_in_place(one_shot)
    _edit_in_place(copied)
    _assert_unchanged(model, model_before, frame)
