"""What an exported torch module computes, and how it compiles, trains and refuses dtypes."""

import copy
import io
import warnings

import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier, MLPRegressor

from sklearn_corenet import CoreNetCompressor

torch = pytest.importorskip("torch")
skorch = pytest.importorskip("skorch")

from sklearn_corenet.core import OutputHead
from sklearn_corenet.core._torch_common import SparseLinear
from sklearn_corenet.export._torch import network_to_skorch, network_to_torch
from tests._quiet import fit_quietly
from tests.adapters.test_torch_graph import (
    seed_and_one_thread,  # noqa: F401 - autouse fixture
)
from tests.export.test_torch_export import _sparse_network


@pytest.fixture(scope="module")
def data():
    X = np.random.default_rng(0).normal(size=(300, 6))
    return X, {
        "binary": np.where(X[:, 0] + X[:, 1] > 0, "yes", "no"),
        "multiclass": np.array([3, 5, 7])[np.argmax(X[:, :3], axis=1)],
        "regression": X[:, 0] - X[:, 1],
    }


@pytest.fixture(scope="module")
def compressed(data):
    X, targets = data
    models = {}
    for kind, y in targets.items():
        estimator = MLPRegressor if kind == "regression" else MLPClassifier
        mlp = fit_quietly(estimator(hidden_layer_sizes=(16,), max_iter=300, random_state=0), X, y)
        models[kind] = CoreNetCompressor(
            keep_ratio=0.3, method="corenet+", random_state=0
        ).fit_transform(mlp, X)
    return models


def _run(module, X, dtype=torch.float64):
    with torch.no_grad():
        return module(torch.tensor(X, dtype=dtype)).double().numpy()  # numpy has no bfloat16


def _quietly(compile_, *args):
    # torch deprecates TorchScript (scripting and tracing) in favour of torch.export
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*registered as constants in the trace")
        return compile_(*args)


# -- what the module returns ---------------------------------------------------


@pytest.mark.parametrize("sparse", [False, True])
def test_binary_module_returns_the_positive_class_probability(compressed, data, sparse):
    X, _ = data
    model = compressed["binary"]
    output = _run(model.to_torch(sparse=sparse), X)
    assert output.shape == (len(X), 1)
    np.testing.assert_allclose(output, model.predict_proba(X)[:, 1:], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("sparse", [False, True])
def test_multiclass_and_regression_modules_return_predict_proba_and_predict(compressed, data, sparse):
    X, _ = data
    multiclass, regressor = compressed["multiclass"], compressed["regression"]
    np.testing.assert_allclose(
        _run(multiclass.to_torch(sparse=sparse), X), multiclass.predict_proba(X), rtol=1e-12, atol=1e-15
    )
    output = _run(regressor.to_torch(sparse=sparse), X)
    assert output.shape == (len(X), 1)
    np.testing.assert_allclose(output[:, 0], regressor.predict(X), rtol=1e-12, atol=1e-12)


# -- scripting, tracing, torch.export ------------------------------------------


@pytest.mark.parametrize("sparse", [False, True])
def test_scripted_and_traced_exports_compute_what_the_module_computes(compressed, data, sparse):
    X, _ = data
    module = compressed["multiclass"].to_torch(sparse=sparse)
    expected = _run(module, X)
    scripted = _quietly(torch.jit.script, module)
    saved = io.BytesIO()
    _quietly(torch.jit.save, scripted, saved)
    saved.seek(0)
    loaded = _quietly(torch.jit.load, saved)
    traced = _quietly(torch.jit.trace, module, torch.tensor(X[:5]))  # other rows than checked
    for compiled in (scripted, loaded, traced):
        np.testing.assert_allclose(_run(compiled, X), expected, rtol=1e-12, atol=1e-15)


def test_scripted_sparse_export_trains_as_the_module_does(compressed, data):
    X, _ = data
    module = compressed["multiclass"].to_torch(sparse=True, include_output_activation=False)
    scripted = _quietly(torch.jit.script, copy.deepcopy(module))  # its own parameters
    for trained in (module, scripted):
        trained(torch.tensor(X)).square().sum().backward()
    for eager, compiled in zip(module.parameters(), scripted.parameters(), strict=True):
        assert compiled is not eager and compiled.grad is not None
        np.testing.assert_allclose(compiled.grad.numpy(), eager.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_dense_export_runs_under_torch_export(compressed, data):
    X, _ = data
    module = compressed["binary"].to_torch()
    batch = torch.export.Dim("batch")
    program = torch.export.export(module, (torch.tensor(X[:5]),), dynamic_shapes=({0: batch},))
    np.testing.assert_allclose(_run(program.module(), X), _run(module, X), rtol=1e-12, atol=1e-15)


# -- training keeps the sparsity pattern ---------------------------------------


def _adam_step(module, X, Y):
    optimizer = torch.optim.Adam(module.parameters(), lr=0.1, weight_decay=0.1)
    ((module(torch.tensor(X)) - torch.tensor(Y)) ** 2).mean().backward()
    optimizer.step()


def _skorch_step(module, X, Y):
    net = skorch.NeuralNetRegressor(module, max_epochs=1, lr=0.1, train_split=None, verbose=0)
    net.initialize().partial_fit(X, Y)


@pytest.mark.parametrize("train", [_adam_step, _skorch_step], ids=["adam", "skorch"])
def test_training_keeps_removed_weights_and_biases_at_zero(train):
    network = _sparse_network(widths=(6, 12, 9, 3), seed=3)
    for b in network.intercepts:  # removed and kept biases in every layer
        b[::2], b[1::2] = 0, np.linspace(-1, 1, b[1::2].size)
    rng = np.random.default_rng(4)
    X, Y = rng.normal(size=(40, 6)), rng.normal(size=(40, 3))
    module = network_to_torch(network.coefs, network.intercepts, "relu", "identity", sparse=True)
    train(module, X, Y)
    layers = [layer for layer in module if isinstance(layer, SparseLinear)]
    for layer, W, b in zip(layers, network.coefs, network.intercepts, strict=True):
        weight = layer.weight.to_dense().detach().numpy().T
        bias = layer.bias.detach().numpy()
        np.testing.assert_array_equal(weight[W == 0], 0)
        np.testing.assert_array_equal(bias[b == 0], 0)
        # the kept ones did train (but those of neurons dead on every row)
        assert np.abs(bias[b != 0] - b[b != 0]).max() > 1e-3
        assert np.abs(weight[W != 0] - W[W != 0]).max() > 1e-3


def test_sparse_layer_stores_only_the_kept_biases():
    network = _sparse_network(seed=5)
    module = network_to_torch(network.coefs, network.intercepts, "relu", "identity", sparse=True)
    layers = [layer for layer in module if isinstance(layer, SparseLinear)]
    for layer, b in zip(layers, network.intercepts, strict=True):
        assert layer.bias_values.numel() == np.count_nonzero(b)
        np.testing.assert_array_equal(layer.bias.detach().numpy(), b)


def test_sparse_layer_refuses_a_bias_of_the_wrong_length():
    with pytest.raises(ValueError, match=r"bias has shape \(3,\).*needs shape \(4,\)"):
        SparseLinear(np.ones((5, 4)), np.ones(3))


# -- dtypes ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_sparse_export_refuses_dtypes_the_csr_product_cannot_compute_in(compressed, data, dtype):
    X, _ = data
    model = compressed["binary"]
    message = rf"{dtype}.*torch.float32 and torch.float64.*sparse=False"
    with pytest.raises(ValueError, match=message):
        model.to_torch(sparse=True, dtype=dtype)
    with pytest.raises(ValueError, match=message):
        model.to_skorch(sparse=True, dtype=dtype)
    # what the message offers: the dense export computes in that dtype
    dense = model.to_torch(dtype=dtype)
    np.testing.assert_allclose(
        _run(dense, X, dtype=dtype)[:, 0], model.predict_proba(X)[:, 1], atol=0.03
    )


@pytest.mark.parametrize(
    "dtype, tolerance", [(torch.float32, 1e-5), (torch.float64, 1e-12)]
)
def test_sparse_export_computes_in_float32_and_float64(compressed, data, dtype, tolerance):
    X, _ = data
    model = compressed["binary"]
    module = model.to_torch(sparse=True, dtype=dtype)
    assert all(p.dtype == dtype for p in module.parameters())
    np.testing.assert_allclose(
        _run(module, X, dtype=dtype)[:, 0], model.predict_proba(X)[:, 1], rtol=tolerance, atol=tolerance
    )


def test_skorch_export_of_a_float16_net_names_the_dtypes_that_work():
    network = _sparse_network(
        widths=(6, 8, 1),
        out_activation="logistic",
        head=OutputHead("binary", classes=np.array([0, 1])),
    )
    network.extra = {"torch_dtype": "float16"}
    with pytest.raises(ValueError, match=r"torch.float16.*Pass one of those as dtype"):
        network_to_skorch(network, sparse=True)
    net = network_to_skorch(network, sparse=True, dtype=torch.float32)
    assert all(p.dtype == torch.float32 for p in net.module_.parameters())
