"""Trace a torch module and read the layers of its graph.

The module is read with ``torch.fx`` symbolic tracing, so nested
``nn.Sequential`` containers and custom ``forward`` methods are both
understood, as long as the traced graph is a single chain::

    [Flatten] -> Linear -> act -> Linear -> act -> ... -> Linear -> [final activation]

where ``act`` is one kind of hidden activation for the whole network (ReLU,
Tanh or Sigmoid, as modules, ``torch.*`` / ``torch.nn.functional`` functions
or tensor methods; no activation at all reads as ``"identity"``). Dropout and
Identity are skipped (the network is read in evaluation mode), and an
evaluation-mode ``BatchNorm1d`` is folded into the adjacent Linear layer.
The final activation may be Softmax / LogSoftmax over the last dimension,
Sigmoid or ``torch.exp``; a one-output network may end by dropping its last
dimension (``squeeze``, ``flatten``, ``view(-1)``). Anything else raises a
``TypeError`` naming the node.

The network has one input: the first parameter of ``forward``. Parameters
after it that have defaults, ``*args`` and ``**kwargs`` (skorch's modules
take ``forward(self, X, **kwargs)``) are not inputs: a caller that passes
only the input leaves them at their defaults, and the module is read as
called that way. A second parameter without a default is a second input,
which is refused.

What each node means is decided by :mod:`sklearn_corenet.adapters._torch_nodes`, how the chain's
operations become layers by :mod:`sklearn_corenet.adapters._torch_chain`; this module traces the
module and walks its graph.

This module imports torch; it is only imported when a torch or skorch object
is passed to the library.
"""

import copy
import inspect
import traceback

import numpy as np
import torch
from torch import fx, nn
from torch.nn.parameter import is_lazy

from ..core._torch_common import SparseLinear
from ._torch_chain import LayerChain
from ._torch_nodes import SUPPORTED_GRAPH, classify, describe


class _Tracer(fx.Tracer):
    """Default tracer, with the library's sparse layer kept as one node."""

    def is_leaf_module(self, m, module_qualified_name):
        return isinstance(m, SparseLinear) or super().is_leaf_module(
            m, module_qualified_name
        )


def read_module(module, X=None):
    """Read the layers of ``module`` (its evaluation-mode function) as arrays.

    Parameters
    ----------
    module : torch.nn.Module
        A module whose traced graph is a supported chain of layers.
    X : array-like of shape (n_samples, n_features), default=None
        Calibration data, only needed for a module with uninitialised lazy
        layers: they are materialised on a copy of the module with the first
        rows of X.

    Returns
    -------
    LayerChain
        ``coefs``, ``intercepts`` (numpy, copied), ``activation``,
        ``out_activation`` (the module's own final activation), ``output_1d``
        and ``torch_dtype``. The module's train/eval mode is restored
        afterwards; its weights are never written to.
    """
    if any(is_lazy(p) for p in module.parameters()) or any(
        is_lazy(b) for b in module.buffers()
    ):
        if X is None:
            raise ValueError(
                f"the input width of {type(module).__name__} is not known yet "
                "(uninitialized lazy layers); pass calibration data X so that the "
                "layers can be materialised on a copy of the module"
            )
        module = _materialised_copy(module, X)

    modes = [(m, m.training) for m in module.modules()]
    try:
        module.eval()
        graph_module = _trace(module)
        chain = _walk(graph_module)
    finally:
        for m, training in modes:
            m.training = training
    return chain


def _materialised_copy(module, X):
    copied = copy.deepcopy(module)
    dtype = next(
        (
            p.dtype
            for p in copied.parameters()
            if not is_lazy(p) and p.is_floating_point()
        ),
        torch.get_default_dtype(),
    )
    device = next(
        (p.device for p in copied.parameters() if not is_lazy(p)), torch.device("cpu")
    )
    rows = torch.as_tensor(
        np.asarray(X[:2], dtype=np.float64), dtype=dtype, device=device
    )
    copied.eval()
    with torch.no_grad():
        copied(rows)
    return copied


_EXTRA_ARGUMENTS = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


class _CalledWithOneInput(nn.Module):
    """``module`` as a caller passing only its input sees it.

    Its ``forward`` takes one tensor and calls the module's own ``forward``
    with it, so that every other argument keeps its default (an empty
    ``*args`` / ``**kwargs``). It holds the module's submodules, parameters
    and buffers under their own names, so that the traced graph names them
    as the module does.
    """

    def __init__(self, module):
        super().__init__()
        self.__dict__.update(
            _modules=module._modules,
            _parameters=module._parameters,
            _buffers=module._buffers,
            _module_forward=module.forward,
        )

    def forward(self, x):
        return self._module_forward(x)


def _traced_root(module):
    """What to trace: the module, or the module called with its input alone.

    A ``forward`` whose parameters after the first all have defaults (or are
    ``*args`` / ``**kwargs``) is traced as called with one tensor; torch.fx
    would otherwise make every parameter an input of the graph. A second
    parameter without a default is left to the graph walk, which refuses it
    as a second input.
    """
    try:
        parameters = list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):  # no signature to read: trace as it is
        return module
    if len(parameters) < 2:
        return module
    optional = all(
        p.default is not p.empty or p.kind in _EXTRA_ARGUMENTS for p in parameters[1:]
    )
    return _CalledWithOneInput(module) if optional else module


def _trace(module):
    try:
        graph = _Tracer().trace(_traced_root(module))
    except Exception as exc:  # noqa: BLE001 - fx raises many kinds; all mean "cannot read"
        where = _user_frame(exc)
        raise TypeError(
            f"torch.fx cannot trace {type(module).__name__}{where}: {exc}. The "
            "forward pass must not depend on the data (no `if` on tensor values, "
            f"no loops over them); {SUPPORTED_GRAPH}"
        ) from exc
    return fx.GraphModule(module, graph)


def _user_frame(exc):
    """' at file:line (source)' of the innermost frame outside torch, if any."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = frame.filename.replace("\\", "/")
        if "/torch/" in path or frame.filename == __file__:
            continue
        return f" at {frame.filename}:{frame.lineno} ({(frame.line or '').strip()})"
    return ""


def _walk(graph_module):
    """Hand the graph's operations, in order, to a :class:`LayerChain`."""
    chain = LayerChain(graph_module)
    current = None  # the node whose output the next operation must take
    used = {}  # id of each layer's weights -> the node using them
    for node in graph_module.graph.nodes:
        if node.op == "placeholder":
            if current is not None:
                raise TypeError(
                    f"the module's forward takes more than one input ({current.name!r} "
                    f"and {node.name!r}); only a single input tensor is supported (parameters "
                    "of forward after the first need defaults)"
                )
            current = node
        elif node.op == "output":
            if node.args[0] is not current:
                raise TypeError(
                    f"the module returns {node.args[0]!r}, not the end of a single "
                    f"chain of layers; {SUPPORTED_GRAPH}"
                )
            break
        elif node.op != "get_attr":
            kind, payload = _chain_operation(node, current, graph_module)
            _check_used_once(kind, payload, node, used, graph_module)
            chain.add(kind, payload, node)
            current = node
    if not chain.coefs:
        raise TypeError(f"the module has no Linear layer; {SUPPORTED_GRAPH}")
    chain.finish()
    return chain


def _chain_operation(node, previous, graph_module):
    """``(kind, payload)`` of a supported node that takes ``previous`` alone."""
    operation = classify(node, graph_module)
    if operation is None:
        raise TypeError(
            f"unsupported operation {describe(node, graph_module)}; {SUPPORTED_GRAPH}"
        )
    kind, _ = operation
    if not node.args or node.args[0] is not previous or _other_inputs(node, kind):
        raise TypeError(
            f"{describe(node, graph_module)} does not take the output of the "
            "previous operation alone: only a single chain of layers is "
            f"supported (no skip connections or branches); {SUPPORTED_GRAPH}"
        )
    return operation


def _check_used_once(kind, payload, node, used, graph_module):
    """A layer's weights serve one node of the chain (``used`` records them)."""
    if kind not in ("linear", "batchnorm"):
        return
    key = id(payload[0]) if kind == "linear" else id(payload)
    if key in used:
        raise TypeError(
            f"{describe(node, graph_module)} reuses the weights of "
            f"{used[key]!r}; a layer used twice is not supported; {SUPPORTED_GRAPH}"
        )
    used[key] = node.name


def _other_inputs(node, kind):
    """Whether the node reads a graph value besides its first argument."""
    values = []
    fx.node.map_aggregate((node.args[1:], node.kwargs), values.append)
    nodes = [value for value in values if isinstance(value, fx.Node)]
    if kind == "linear" and node.op == "call_function":
        nodes = [
            value for value in nodes if value.op != "get_attr"
        ]  # F.linear's weights
    return bool(nodes)
