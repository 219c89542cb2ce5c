"""What each node of a traced torch module means to the torch adapter.

:func:`classify` names the operation of one ``torch.fx`` node as a
``(kind, payload)`` pair, or None when the operation is not supported:

- ``("linear", (owner, weight, bias))``: ``nn.Linear``, the library's
  :class:`~._torch_export.SparseLinear` or ``F.linear`` of parameters, with
  the dense weight of shape (out_features, in_features) and the bias (or None);
- ``("batchnorm", module)``: ``nn.BatchNorm1d``;
- ``("activation", name)``: an activation by the library's name (``"relu"``,
  ``"tanh"``, ``"logistic"``, ``"exp"``, ``"softmax"``, ``"log_softmax"``), as
  a module, a ``torch.*`` / ``torch.nn.functional`` function or a tensor method;
- ``("skip", None)``: Dropout, Identity and copies (``.contiguous()``, ...);
- ``("flatten", None)``: flattening each sample's features;
- ``("squeeze", None)``: dropping the last dimension (``squeeze``,
  ``flatten``, ``view(-1)``, ...).

Where these operations may stand in the chain is decided by
:class:`~._torch_chain.LayerChain`.

This module imports torch; it is only imported when a torch or skorch object
is passed to the library.
"""

import torch
from torch import fx, nn
from torch.nn import functional as F

from ..core._torch_common import HIDDEN_MODULES, SparseLinear

SUPPORTED_GRAPH = (
    "supported: a chain of nn.Linear layers with one kind of hidden activation "
    "(nn.ReLU / F.relu / torch.relu, nn.Tanh, nn.Sigmoid), nn.Dropout and "
    "nn.Identity anywhere, a leading nn.Flatten, nn.BatchNorm1d with running "
    "statistics (folded into the adjacent Linear), and a final nn.Softmax / "
    "nn.LogSoftmax (dim=-1 or 1), nn.Sigmoid or torch.exp"
)

#: The functions computing each activation (softmaxes apart: they take a dim).
ACTIVATION_FUNCTIONS = {
    "relu": (F.relu, torch.relu, torch.relu_, F.relu_),
    "tanh": (torch.tanh, F.tanh),
    "logistic": (torch.sigmoid, F.sigmoid),
    "exp": (torch.exp,),
}
SOFTMAX_FUNCTIONS = (F.softmax, torch.softmax)
_LOG_SOFTMAX_FUNCTIONS = (F.log_softmax, torch.log_softmax)
_ACTIVATION_METHODS = {
    "relu": "relu",
    "relu_": "relu",
    "tanh": "tanh",
    "sigmoid": "logistic",
    "softmax": "softmax",
    "log_softmax": "log_softmax",
    "exp": "exp",
}
_SKIPPED_MODULES = (nn.Dropout, nn.AlphaDropout, nn.Identity)
_SKIPPED_METHODS = ("contiguous", "clone", "detach")
# (start_dim, end_dim) of a flatten: of the features, or of a (n, 1) output
_FLATTEN_DIMS = {(1, -1): ("flatten", None), (0, -1): ("squeeze", None)}


def classify(node, graph_module):
    """``(kind, payload)`` of a supported node, None otherwise.

    Parameters
    ----------
    node : torch.fx.Node
        A node of ``graph_module``'s graph.
    graph_module : torch.fx.GraphModule
        The traced module, holding the submodules and parameters the node uses.

    Returns
    -------
    tuple or None
        The node's kind and payload (see the module's docstring).
    """
    kind_of = _KIND_BY_OPCODE.get(node.op)
    return None if kind_of is None else kind_of(node, graph_module)


def describe(node, graph_module):
    """The node as an error message names it: the module, function or method."""
    if node.op == "call_module":
        module = graph_module.get_submodule(node.target)
        return f"module {node.target!r} ({type(module).__name__})"
    if node.op == "call_function":
        target = node.target
        name = getattr(target, "__qualname__", None) or getattr(
            target, "__name__", repr(target)
        )
        owner = getattr(target, "__module__", None) or ""
        full = f"{owner}.{name}" if owner and not name.startswith(owner) else name
        return f"function {full} at node {node.name!r}"
    return f"method .{node.target}() at node {node.name!r}"


def _argument(node, position, name, default=None):
    if len(node.args) > position:
        return node.args[position]
    return node.kwargs.get(name, default)


def _module_kind(node, graph_module):
    module = graph_module.get_submodule(node.target)
    if isinstance(module, SparseLinear):
        return "linear", (module, module.weight.to_dense(), module.bias)
    if isinstance(module, nn.Linear):
        return "linear", (module, module.weight, module.bias)
    if type(module) is nn.BatchNorm1d:
        return "batchnorm", module
    for name, module_class in HIDDEN_MODULES.items():
        if isinstance(module, module_class):
            return "activation", name
    if isinstance(module, (nn.Softmax, nn.LogSoftmax)):
        if module.dim not in (None, 1, -1):
            return None
        return "activation", "softmax" if isinstance(module, nn.Softmax) else "log_softmax"
    if isinstance(module, _SKIPPED_MODULES):
        return "skip", None
    if isinstance(module, nn.Flatten):
        return _FLATTEN_DIMS.get((module.start_dim, module.end_dim))
    return None


def _function_kind(node, graph_module):
    target = node.target
    if target is F.linear:
        return _functional_linear(node, graph_module)
    for name, functions in ACTIVATION_FUNCTIONS.items():
        if target in functions:
            return "activation", name
    if target in SOFTMAX_FUNCTIONS:
        return _softmax(node, "softmax")
    if target in _LOG_SOFTMAX_FUNCTIONS:
        return _softmax(node, "log_softmax")
    if target is F.dropout or target is F.alpha_dropout:
        return ("skip", None) if not _argument(node, 2, "training", True) else None
    if target is torch.flatten:
        return _flatten(node)
    if target is torch.squeeze:
        return ("squeeze", None) if _argument(node, 1, "dim") in (None, 1, -1) else None
    return None


def _method_kind(node, graph_module):
    method = node.target
    if method in ("softmax", "log_softmax"):
        return _softmax(node, method)
    if method in _ACTIVATION_METHODS:
        return "activation", _ACTIVATION_METHODS[method]
    if method in _SKIPPED_METHODS and len(node.args) == 1 and not node.kwargs:
        return "skip", None
    if method == "flatten":
        return _flatten(node)
    if _drops_last_dimension(method, tuple(node.args[1:]), node.kwargs):
        return "squeeze", None
    return None


_KIND_BY_OPCODE = {
    "call_module": _module_kind,
    "call_function": _function_kind,
    "call_method": _method_kind,
}


def _functional_linear(node, graph_module):
    """``F.linear(x, weight, bias)`` of the module's own parameters."""
    weight = _argument(node, 1, "weight")
    bias = _argument(node, 2, "bias")
    if not (isinstance(weight, fx.Node) and weight.op == "get_attr"):
        return None
    if bias is not None and not (isinstance(bias, fx.Node) and bias.op == "get_attr"):
        return None
    weight = _fetch(graph_module, weight.target)
    bias = None if bias is None else _fetch(graph_module, bias.target)
    return "linear", (weight, weight, bias)


def _softmax(node, name):
    """A softmax over the features, in the input's dtype (function or method)."""
    # F.softmax takes the dtype 4th, torch.softmax and the method 3rd
    dtype_position = 3 if node.target in (F.softmax, F.log_softmax) else 2
    if (
        _argument(node, 1, "dim") not in (1, -1)
        or _argument(node, dtype_position, "dtype") is not None
    ):
        return None
    return "activation", name


def _flatten(node):
    """``torch.flatten(x, start_dim, end_dim)`` or ``x.flatten(start_dim, end_dim)``."""
    dims = (_argument(node, 1, "start_dim", 0), _argument(node, 2, "end_dim", -1))
    return _FLATTEN_DIMS.get(dims)


def _drops_last_dimension(method, shape, kwargs):
    """Whether ``x.method(*shape, **kwargs)`` turns (n, 1) outputs into (n,)."""
    if method == "squeeze":
        return shape in ((), (1,), (-1,)) and not kwargs
    if method in ("view", "reshape"):
        return shape in ((-1,), ((-1,),))
    return method == "ravel" and not shape


def _fetch(graph_module, target):
    value = graph_module
    for part in target.split("."):
        value = getattr(value, part)
    return value
