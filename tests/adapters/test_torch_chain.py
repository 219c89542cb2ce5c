"""Folding a chain of torch operations into layers: BatchNorm, activations, the output."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import fx, nn

from sklearn_corenet.adapters._torch_chain import LayerChain
from sklearn_corenet.adapters._torch_nodes import classify
from tests.adapters.test_torch_graph import (
    N_FEATURES,
    assert_parity,
    assert_rejected_by_name,
    make_data,
    seed_and_one_thread,  # noqa: F401 - autouse fixture
    trained_batchnorm,
)


def test_chain_of_operations_reads_as_layers():
    module = nn.Sequential(
        nn.Linear(N_FEATURES, 4), nn.Tanh(), nn.Linear(4, 1), nn.Sigmoid(), nn.Flatten(0)
    )
    graph_module = fx.GraphModule(module, fx.Tracer().trace(module))
    chain = LayerChain(graph_module)
    for node in graph_module.graph.nodes:
        if node.op == "call_module":
            chain.add(*classify(node, graph_module), node)
    chain.finish()
    np.testing.assert_array_equal(chain.coefs[1], module[2].weight.detach().numpy().T)
    assert (chain.activation, chain.out_activation, chain.out_activation_node) == (
        "tanh",
        "logistic",
        "_3",
    )
    assert chain.output_1d
    assert chain.n_outputs == 1
    assert chain.torch_dtype == torch.float32


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_batchnorm_is_folded(dtype):
    module = nn.Sequential(
        nn.Linear(N_FEATURES, 8),
        nn.BatchNorm1d(8),
        nn.ReLU(),
        nn.Linear(8, 5),
        nn.ReLU(),
        nn.BatchNorm1d(
            5, affine=False
        ),  # after the activation: folded into the next layer
        nn.Linear(5, 3),
    ).to(dtype)
    trained_batchnorm(module, dtype)
    assert float(module[1].running_mean.abs().max()) > 0.5
    X = make_data(dtype=np.float32 if dtype == torch.float32 else np.float64)
    rtol, atol = (1e-5, 1e-5) if dtype == torch.float32 else (1e-12, 1e-12)
    network = assert_parity(module, X, rtol=rtol, atol=atol)
    assert network.hidden_layer_sizes == (8, 5)


def test_batchnorm_on_the_input_is_folded_into_the_first_layer():
    module = nn.Sequential(
        nn.BatchNorm1d(N_FEATURES), nn.Linear(N_FEATURES, 4), nn.ReLU(), nn.Linear(4, 2)
    )
    module.train()
    with torch.no_grad():
        for _ in range(10):
            module(torch.randn(64, N_FEATURES) * 4 - 1)
    assert_parity(module, make_data(), atol=1e-5)


@pytest.mark.parametrize(
    ("module", "names"),
    [
        (
            nn.Sequential(
                nn.Linear(N_FEATURES, 4),
                nn.ReLU(),
                nn.Linear(4, 4),
                nn.Tanh(),
                nn.Linear(4, 2),
            ),
            ["relu", "tanh", "one kind"],
        ),
        (
            nn.Sequential(nn.Linear(N_FEATURES, 4), nn.ReLU()),
            ["ReLU", "output activation"],
        ),
        (
            nn.Sequential(
                nn.Linear(N_FEATURES, 4),
                nn.BatchNorm1d(4, track_running_stats=False),
                nn.Linear(4, 2),
            ),
            ["BatchNorm1d", "running statistics"],
        ),
    ],
    ids=["mixed", "relu_end", "batch_stats"],
)
def test_chains_that_are_not_one_network_are_rejected_by_name(module, names):
    assert_rejected_by_name(module, names)
