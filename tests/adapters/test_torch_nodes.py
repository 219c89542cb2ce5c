"""What each node of a traced torch module means."""

import operator

import pytest

torch = pytest.importorskip("torch")

from torch import fx, nn
from torch.nn import functional as F

from sklearn_corenet.adapters._torch_nodes import classify, describe
from tests.adapters.test_torch_graph import (
    N_FEATURES,
    assert_rejected_by_name,
    seed_and_one_thread,  # noqa: F401 - autouse fixture
)


class Spellings(nn.Module):
    """One operation of every kind, each spelled another way."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(N_FEATURES, 4)
        self.weight = nn.Parameter(torch.randn(4, 4))
        self.tanh = nn.Tanh()
        self.dropout = nn.Dropout()

    def forward(self, x):
        x = torch.flatten(x, 1)
        x = self.dropout(self.linear(x))
        x = F.relu(x).relu_()
        x = F.linear(self.tanh(x), self.weight)
        x = x.contiguous().sigmoid()
        x = F.softmax(x, dim=-1)
        return x.view(-1)


def _kinds(module):
    graph_module = fx.GraphModule(module, fx.Tracer().trace(module))
    nodes = [node for node in graph_module.graph.nodes if node.op.startswith("call_")]
    return graph_module, nodes, [classify(node, graph_module) for node in nodes]


def test_every_spelling_is_classified():
    module = Spellings()
    _, _, operations = _kinds(module)
    kinds = [(kind, payload if isinstance(payload, str) else None) for kind, payload in operations]
    assert kinds == [
        ("flatten", None),
        ("linear", None),
        ("skip", None),
        ("activation", "relu"),
        ("activation", "relu"),
        ("activation", "tanh"),
        ("linear", None),
        ("skip", None),
        ("activation", "logistic"),
        ("activation", "softmax"),
        ("squeeze", None),
    ]
    # linear payloads: (owner, weight of shape (out, in), bias)
    assert operations[1][1][1] is module.linear.weight
    assert operations[6][1] == (module.weight, module.weight, None)


def test_unsupported_nodes_are_none_and_described_by_name():
    class Unsupported(nn.Module):
        def forward(self, x):
            return torch.softmax(x + 1, dim=0)

    graph_module, nodes, operations = _kinds(Unsupported())
    assert operations == [None, None]
    assert [node.target for node in nodes] == [operator.add, torch.softmax]
    described = describe(nodes[1], graph_module)
    assert described.startswith("function torch.") and described.endswith("softmax at node 'softmax'")


@pytest.mark.parametrize(
    ("module", "names"),
    [
        (
            nn.Sequential(nn.Conv1d(1, 2, 3), nn.Flatten(), nn.Linear(8, 2)),
            ["'0'", "Conv1d"],
        ),
        (
            nn.Sequential(nn.Linear(N_FEATURES, 4), nn.LeakyReLU(), nn.Linear(4, 2)),
            ["LeakyReLU"],
        ),
        (nn.Sequential(nn.Linear(N_FEATURES, 4), nn.Softmax(dim=0)), ["Softmax"]),
    ],
    ids=["conv1d", "leaky_relu", "softmax_dim0"],
)
def test_unsupported_operations_are_rejected_by_name(module, names):
    assert_rejected_by_name(module, names)
