"""Exporting networks as torch modules and skorch nets."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp

torch = pytest.importorskip("torch")
skorch = pytest.importorskip("skorch")

from torch import nn

from sklearn_corenet.adapters._torch import network_from_torch_world
from sklearn_corenet.core import Network, OutputHead
from sklearn_corenet.core._torch_common import SparseLinear
from sklearn_corenet.export._torch import network_to_skorch, network_to_torch
from tests.adapters.test_torch_adapter import head_predict, head_predict_proba
from tests.adapters.test_torch_graph import (
    N_FEATURES,
    seed_and_one_thread,  # noqa: F401 - autouse fixture
)


def _sparse_network(
    widths=(N_FEATURES, 9, 7, 3),
    activation="relu",
    out_activation="identity",
    head=None,
    dtype=np.float64,
    density=0.4,
    seed=0,
):
    """A network with sparse weights (about 60% zeros) and some zero biases."""
    rng = np.random.default_rng(seed)
    coefs = [
        sp.random_array(
            (n_in, n_out),
            density=density,
            rng=rng,
            dtype=dtype,
            data_sampler=rng.standard_normal,
        ).toarray()
        for n_in, n_out in zip(widths[:-1], widths[1:], strict=True)
    ]
    intercepts = [
        np.where(rng.random(n) < 0.3, 0, rng.normal(size=n)).astype(dtype)
        for n in widths[1:]
    ]
    return Network(
        coefs=coefs,
        intercepts=intercepts,
        activation=activation,
        out_activation=out_activation,
        head=head or OutputHead("regression"),
    )


def _data(n=30, dtype=np.float64, seed=1):
    return np.random.default_rng(seed).normal(size=(n, N_FEATURES)).astype(dtype)


def _run(module, X):
    with torch.no_grad():
        return module(torch.from_numpy(X)).numpy()


def _export(network, **kwargs):
    return network_to_torch(
        [sp.csr_array(W) for W in network.coefs],
        network.intercepts,
        network.activation,
        network.out_activation,
        **kwargs,
    )


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
@pytest.mark.parametrize(
    "out_activation", ["identity", "softmax", "log_softmax", "logistic", "exp"]
)
def test_network_to_torch_computes_network_forward(sparse, activation, out_activation):
    network = _sparse_network(activation=activation, out_activation=out_activation)
    X = _data()
    module = _export(network, sparse=sparse)
    np.testing.assert_allclose(
        _run(module, X), network.forward(X.copy()), rtol=1e-12, atol=1e-12
    )
    without = _export(network, sparse=sparse, include_output_activation=False)
    np.testing.assert_allclose(
        _run(without, X), network.decision(X.copy()), rtol=1e-12, atol=1e-12
    )


def test_exported_modules_keep_the_dtype_and_the_sparsity():
    network = _sparse_network(dtype=np.float32)
    dense = _export(network)
    assert all(p.dtype == torch.float32 for p in dense.parameters())
    sparse = _export(network, sparse=True)
    layers = [layer for layer in sparse if isinstance(layer, SparseLinear)]
    assert [layer.nnz for layer in layers] == [
        np.count_nonzero(W) for W in network.coefs
    ]
    assert all(layer.weight.layout == torch.sparse_csr for layer in layers)
    as_float64 = _export(network, sparse=True, dtype=torch.float64)
    assert all(p.dtype == torch.float64 for p in as_float64.parameters())
    X = _data(dtype=np.float32)
    np.testing.assert_allclose(
        _run(sparse, X), network.forward(X.copy()), rtol=1e-5, atol=1e-6
    )


def test_sparse_linear_gradients_are_the_dense_gradients_on_the_kept_weights():
    """Training a SparseLinear is training nn.Linear with the dropped weights and biases held at zero."""
    network = _sparse_network(widths=(N_FEATURES, 6))
    W, b = network.coefs[0], network.intercepts[0]
    sparse = SparseLinear(sp.csr_array(W), b)
    dense = nn.Linear(*W.shape, dtype=torch.float64)
    with torch.no_grad():
        dense.weight.copy_(torch.from_numpy(W.T))
        dense.bias.copy_(torch.from_numpy(b))
    x = torch.from_numpy(_data(n=11))
    target = torch.from_numpy(np.random.default_rng(3).normal(size=(11, 6)))
    for layer in (sparse, dense):
        ((layer(x) - target) ** 2).sum().backward()
    rows, cols = sparse.indices.numpy()
    np.testing.assert_array_equal(np.sort(rows * W.shape[0] + cols), np.flatnonzero(W.T))
    np.testing.assert_allclose(sparse.values.grad.numpy(), dense.weight.grad.numpy()[rows, cols], rtol=1e-12)
    kept = sparse.bias_indices.numpy()
    np.testing.assert_array_equal(kept, np.flatnonzero(b))
    np.testing.assert_allclose(sparse.bias_values.grad.numpy(), dense.bias.grad.numpy()[kept], rtol=1e-12)


def test_sparse_linear_predicts_without_warnings():
    # torch warns once per process about its CSR layout: a fresh process sees it
    import subprocess
    import sys

    code = (
        "import numpy as np, scipy.sparse as sp, torch\n"
        "from sklearn_corenet.export._torch import SparseLinear\n"
        "W = sp.random_array((5, 4), density=0.5, rng=0)\n"
        "SparseLinear(W, np.zeros(4))(torch.ones(3, 5, dtype=torch.float64))\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("sparse", [False, True])
def test_exported_module_reads_back_as_the_same_network(sparse):
    network = _sparse_network(out_activation="softmax")
    back = network_from_torch_world(_export(network, sparse=sparse))
    for W, W_back in zip(network.coefs, back.coefs, strict=True):
        np.testing.assert_array_equal(W, W_back)
    assert (back.activation, back.out_activation) == ("relu", "softmax")


def test_exported_module_shares_no_memory():
    network = _sparse_network()
    module = _export(network)
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.zero_()
    assert np.count_nonzero(network.coefs[0]) > 0


# -- skorch ------------------------------------------------------------------


HEADS = {
    "regression": (
        dict(
            widths=(N_FEATURES, 8, 2),
            out_activation="identity",
            head=OutputHead("regression"),
        ),
        skorch.NeuralNetRegressor,
    ),
    "multiclass": (
        dict(
            out_activation="softmax",
            head=OutputHead("multiclass", classes=np.arange(3)),
        ),
        skorch.NeuralNetClassifier,
    ),
    "binary": (
        dict(
            widths=(N_FEATURES, 8, 1),
            out_activation="logistic",
            head=OutputHead("binary", classes=np.array([0, 1]), threshold=0.4),
        ),
        skorch.NeuralNetBinaryClassifier,
    ),
    "multilabel": (
        dict(
            out_activation="logistic",
            head=OutputHead("multilabel", classes=np.arange(3)),
        ),
        skorch.NeuralNet,
    ),
}


def _targets(kind, X):
    if kind == "regression":
        return X[:, :2].copy()
    if kind == "multiclass":
        return np.argmax(X[:, :3], axis=1)
    if kind == "binary":
        return (X[:, 0] > 0).astype(X.dtype)
    return (X[:, :3] > 0).astype(X.dtype)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("kind", sorted(HEADS))
def test_network_to_skorch_predicts_like_the_network_and_trains(kind, sparse):
    network_params, net_class = HEADS[kind]
    network = _sparse_network(**network_params)
    X = _data()
    net = network_to_skorch(
        network, sparse=sparse, max_epochs=1, train_split=None, verbose=0
    )
    assert type(net) is net_class
    assert net.initialized_
    proba = net.predict_proba(X)
    if kind == "multilabel":
        np.testing.assert_allclose(proba, network.forward(X.copy()), rtol=1e-10)
    else:
        np.testing.assert_allclose(
            proba, head_predict_proba(network, X), rtol=1e-10, atol=1e-12
        )
        np.testing.assert_allclose(
            net.predict(X), head_predict(network, X), rtol=1e-10, atol=0
        )

    pattern = [
        layer.indices.clone()
        for layer in net.module_
        if isinstance(layer, SparseLinear)
    ]
    before = [p.detach().clone() for p in net.module_.parameters()]
    net.partial_fit(X, _targets(kind, X))
    assert len(net.history) == 1
    changed = any(
        not torch.equal(a, b)
        for a, b in zip(before, net.module_.parameters(), strict=True)
    )
    assert changed
    assert net.predict_proba(X).shape == proba.shape
    expected_shape = {"regression": (len(X), 2), "multilabel": (len(X), 3)}.get(
        kind, (len(X),)
    )
    assert net.predict(X).shape == expected_shape
    if sparse:  # training keeps the sparsity pattern
        after = [
            layer.indices for layer in net.module_ if isinstance(layer, SparseLinear)
        ]
        assert all(torch.equal(a, b) for a, b in zip(pattern, after, strict=True))


def test_cross_entropy_classifier_module_returns_logits():
    network = _sparse_network(
        out_activation="softmax",
        head=OutputHead("multiclass", classes=np.array(["a", "b", "c"])),
    )
    net = network_to_skorch(network)
    assert not any(isinstance(layer, nn.Softmax) for layer in net.module_)
    X = _data()
    np.testing.assert_allclose(
        net.forward(X).numpy(), network.decision(X.copy()), rtol=1e-12
    )
    # skorch predicts class indices; classes_ maps them back to the labels
    np.testing.assert_array_equal(
        net.classes_[net.predict(X)], head_predict(network, X)
    )


def _fit(net, X, y):
    return net.set_params(max_epochs=3, train_split=None, verbose=0, lr=0.1).fit(X, y)


def _skorch_nets():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, N_FEATURES)).astype(np.float32)
    y_class = np.argmax(X[:, :3], axis=1)

    def mlp(n_out, *tail):
        return nn.Sequential(
            nn.Linear(N_FEATURES, 12), nn.ReLU(), nn.Linear(12, n_out), *tail
        )

    return X, {
        "cross_entropy": (
            _fit(
                skorch.NeuralNetClassifier(mlp(3), criterion=nn.CrossEntropyLoss),
                X,
                y_class,
            ),
            y_class,
        ),
        "nll_softmax": (
            _fit(skorch.NeuralNetClassifier(mlp(3, nn.Softmax(dim=-1))), X, y_class),
            y_class,
        ),
        "binary": (
            _fit(
                skorch.NeuralNetBinaryClassifier(mlp(1, nn.Flatten(0)), threshold=0.45),
                X,
                (X[:, 0] > 0).astype(np.float32),
            ),
            (X[:, 0] > 0).astype(np.float32),
        ),
        "regressor": (
            _fit(skorch.NeuralNetRegressor(mlp(2)), X, X[:, :2].copy()),
            X[:, :2].copy(),
        ),
    }


@pytest.mark.parametrize("sparse", [False, True])
def test_skorch_round_trip_keeps_kind_parameters_and_predictions(sparse):
    X, nets = _skorch_nets()
    for name, (net, y) in nets.items():
        network = network_from_torch_world(net)
        exported = network_to_skorch(network, sparse=sparse)
        assert type(exported) is type(net), name
        assert exported.criterion == net.criterion, name
        assert exported.max_epochs == net.max_epochs
        np.testing.assert_allclose(
            exported.predict_proba(X),
            net.predict_proba(X),
            rtol=1e-5,
            atol=1e-6,
            err_msg=name,
        )
        if name == "regressor":
            np.testing.assert_allclose(
                exported.predict(X), net.predict(X), rtol=1e-5, atol=1e-6
            )
        else:
            np.testing.assert_array_equal(
                exported.predict(X), net.predict(X), err_msg=name
            )
        if name == "binary":
            assert exported.threshold == 0.45
            assert exported.forward(X).shape == (len(X),)
        exported.partial_fit(X, y, epochs=1)
        assert exported.predict(X).shape == net.predict(X).shape


def test_skorch_export_keeps_float32():
    X, nets = _skorch_nets()
    exported = network_to_skorch(network_from_torch_world(nets["cross_entropy"][0]))
    assert all(p.dtype == torch.float32 for p in exported.module_.parameters())


def test_incompatible_criterion_is_rejected():
    network = _sparse_network(
        out_activation="identity", head=OutputHead("multiclass", classes=np.arange(3))
    )
    with pytest.raises(ValueError, match="softmax"):
        network_to_skorch(network)


def test_bare_module_is_wrapped_as_it_is():
    module = nn.Sequential(nn.Linear(N_FEATURES, 4), nn.ReLU(), nn.Linear(4, 2))
    net = network_to_skorch(module, train_split=None)
    assert net.module_ is module
    assert isinstance(net, skorch.NeuralNetRegressor)


def test_compressed_estimator_to_skorch():
    from sklearn_corenet import CoreNetCompressor

    X, nets = _skorch_nets()
    net = nets["cross_entropy"][0]
    compressed = CoreNetCompressor(keep_ratio=1.0, random_state=0).fit_transform(net, X)
    # what the adapter stored in Network.extra pickles
    compressed = pickle.loads(pickle.dumps(compressed))
    exported = compressed.to_skorch(train_split=None, max_epochs=1)
    np.testing.assert_array_equal(exported.classes_, [0, 1, 2])
    assert isinstance(exported, skorch.NeuralNetClassifier)
    np.testing.assert_array_equal(exported.predict(X), net.predict(X))
    np.testing.assert_allclose(
        exported.predict_proba(X), compressed.predict_proba(X), rtol=1e-5, atol=1e-6
    )
    exported.partial_fit(X, nets["cross_entropy"][1])
    assert exported.predict(X).shape == (len(X),)


def test_to_torch_of_an_sklearn_model_takes_float32():
    from sklearn.neural_network import MLPClassifier

    from sklearn_corenet import CoreNetCompressor

    X = _data(200)
    mlp = MLPClassifier((16,), max_iter=50, random_state=0).fit(X, (X[:, 0] > 0).astype(int))
    compressed = CoreNetCompressor(keep_ratio=0.5, random_state=0).fit_transform(mlp, X)
    assert next(compressed.to_torch().parameters()).dtype == torch.float64  # the weights' dtype
    for sparse in (False, True):
        module = compressed.to_torch(dtype=torch.float32, sparse=sparse)
        assert all(p.dtype == torch.float32 for p in module.parameters())
        output = _run(module, X.astype(np.float32))
        assert output.dtype == np.float32
        np.testing.assert_allclose(output.ravel(), compressed.predict_proba(X)[:, 1], rtol=1e-5, atol=1e-6)


def test_to_skorch_imports_nothing_a_stored_name_chooses(monkeypatch):
    from sklearn_corenet import CoreNetCompressor

    X, nets = _skorch_nets()
    net = nets["cross_entropy"][0]
    compressed = CoreNetCompressor(keep_ratio=1.0, random_state=0).fit_transform(net, X)
    assert compressed.source_info_["skorch_class"] == "skorch.classifier.NeuralNetClassifier"
    imported = []
    import importlib

    monkeypatch.setattr(importlib, "import_module", lambda name, *a: imported.append(name))
    # the original's class, from skorch's own classes, with its parameters
    exported = compressed.to_skorch(train_split=None)
    assert type(exported) is skorch.NeuralNetClassifier
    assert exported.max_epochs == net.max_epochs
    # a class name from elsewhere is not imported: the head's default class
    compressed.source_info_["skorch_class"] = "os.NeuralNetClassifier"
    assert type(compressed.to_skorch(train_split=None)) is skorch.NeuralNetClassifier
    assert imported == []

    class MyNet(skorch.NeuralNetClassifier):
        pass

    # the user names a subclass: the stored parameters go with it
    exported = compressed.to_skorch(net_class=MyNet, train_split=None)
    assert type(exported) is MyNet and exported.max_epochs == net.max_epochs
    np.testing.assert_array_equal(exported.predict(X), net.predict(X))
    with pytest.raises(TypeError, match="skorch NeuralNet class"):
        compressed.to_skorch(net_class=dict)
    # a dtype name is looked up among torch's floating dtypes only
    compressed.source_info_["torch_dtype"] = "load"
    with pytest.raises(ValueError, match="unknown torch dtype 'load'"):
        compressed.to_skorch()
    assert type(compressed.to_skorch(dtype=torch.float32)) is skorch.NeuralNetClassifier
