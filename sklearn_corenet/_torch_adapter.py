"""Read torch modules and skorch nets into a :class:`~._network.Network`.

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

Prediction semantics (the :class:`~._network.OutputHead`) follow skorch for
skorch nets (see :func:`network_from_torch_world`). A bare module has no
prediction semantics of its own; it is read as

- multiclass (classes ``0 .. n_outputs - 1``) if it ends with Softmax or
  LogSoftmax,
- binary (classes ``[0, 1]``, threshold 0.5) if it ends with Sigmoid and has
  one output, multilabel if it ends with Sigmoid and has several,
- regression otherwise.

This module imports torch; it is only imported when a torch or skorch object
is passed to the library.
"""

import copy
import functools
import pickle
import traceback

import numpy as np
import torch
from sklearn.exceptions import NotFittedError
from torch import fx, nn
from torch.nn import functional as F
from torch.nn.parameter import is_lazy

from ._network import Network, OutputHead
from ._torch_export import SparseLinear

SUPPORTED_GRAPH = (
    "supported: a chain of nn.Linear layers with one kind of hidden activation "
    "(nn.ReLU / F.relu / torch.relu, nn.Tanh, nn.Sigmoid), nn.Dropout and "
    "nn.Identity anywhere, a leading nn.Flatten, nn.BatchNorm1d with running "
    "statistics (folded into the adjacent Linear), and a final nn.Softmax / "
    "nn.LogSoftmax (dim=-1 or 1), nn.Sigmoid or torch.exp"
)

_RELU = (F.relu, torch.relu, torch.relu_, F.relu_)
_TANH = (torch.tanh, F.tanh)
_SIGMOID = (torch.sigmoid, F.sigmoid)
_SOFTMAX = (F.softmax, torch.softmax)
_LOG_SOFTMAX = (F.log_softmax, torch.log_softmax)
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
_SQUEEZE_METHODS = ("squeeze", "flatten", "ravel", "view", "reshape")
_HIDDEN = ("relu", "tanh", "logistic")
_OUTPUT = ("softmax", "log_softmax", "logistic", "exp")


def network_from_torch_world(model, X=None):
    """Translate a skorch net or a torch module into a :class:`Network`.

    Parameters
    ----------
    model : skorch NeuralNet or torch.nn.Module
        A fitted (initialised) ``NeuralNetClassifier``,
        ``NeuralNetBinaryClassifier`` or ``NeuralNetRegressor``, or a module.
        A ``torch.compile``-d module is read through its original module.
    X : array-like of shape (n_samples, n_features), default=None
        Calibration data. Only needed when the input width cannot be read
        from the module (an uninitialised ``nn.LazyLinear``); the layers are
        then materialised on a copy of the module with the first rows of X.

    Returns
    -------
    Network
        Copied weights in scikit-learn orientation, in the module's dtype
        (half precision is widened to float32). The model is read in
        evaluation mode; its weights and train/eval mode are left unchanged.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the skorch net is not initialised.
    TypeError
        If the module is not a supported chain of layers, or the skorch net's
        prediction semantics cannot be represented.
    ValueError
        If the input width is unknown and X is None.

    Notes
    -----
    skorch semantics reproduced:

    - ``NeuralNetClassifier`` with ``CrossEntropyLoss``: the module outputs
      logits, skorch's ``predict_proba`` applies a softmax, so the network's
      output activation is ``"softmax"``. With ``NLLLoss`` (or any criterion
      without an inferred nonlinearity) the module's own final activation is
      kept (``"softmax"``, ``"log_softmax"``, ...). ``predict`` is the argmax,
      returned as a class index: the head's classes are
      ``0 .. n_outputs - 1``.
    - ``NeuralNetBinaryClassifier`` with ``BCEWithLogitsLoss``: one logit
      output, output activation ``"logistic"``, binary head with classes
      ``[0, 1]`` and the net's ``threshold``. With ``BCELoss`` the module's
      output (a probability) is used as is.
    - ``NeuralNetRegressor`` (and a plain ``NeuralNet``, whose ``predict``
      returns the module's output): identity output (or the module's own
      final activation, or ``predict_nonlinearity=torch.sigmoid``),
      regression head.

    The labels skorch inferred from ``y`` are kept in ``extra["classes"]``
    (classifiers); the net's other constructor parameters, its class and
    criterion are kept in ``extra`` for :func:`network_to_skorch`.
    """
    if _is_skorch_net(model):
        return _network_from_skorch(model, X)
    if isinstance(model, nn.Module):
        module, name = _unwrap_compiled(model)
        reading = read_module(module, X)
        kind = _bare_head_kind(reading)
        head = OutputHead(
            kind,
            classes=None if kind == "regression" else _class_indices(kind, reading),
        )
        return _to_network(reading, reading.out_activation, head, name, {})
    raise TypeError(
        f"cannot read an object of type {type(model).__qualname__}: expected a "
        "skorch NeuralNetClassifier / NeuralNetBinaryClassifier / "
        "NeuralNetRegressor or a torch.nn.Module"
    )


# -- skorch ------------------------------------------------------------------


def _is_skorch_net(model):
    if not any(
        (cls.__module__ or "").split(".")[0] == "skorch" for cls in type(model).__mro__
    ):
        return False
    from skorch import NeuralNet

    return isinstance(model, NeuralNet)


def _network_from_skorch(net, X):
    from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier

    try:
        net.check_is_fitted()
    except NotFittedError as exc:
        raise NotFittedError(
            f"this {type(net).__name__} is not initialized yet: call fit (or "
            "initialize) before compressing it"
        ) from exc
    module, module_name = _unwrap_compiled(net.module_)
    reading = read_module(module, X)
    nonlinearity = _skorch_nonlinearity(net)
    out_activation = _compose(nonlinearity, reading, type(net).__name__)
    n_outputs = reading.n_outputs

    extra = {}
    if isinstance(net, NeuralNetBinaryClassifier):
        if nonlinearity not in ("sigmoid_2d", "probabilities_2d") or n_outputs != 1:
            raise TypeError(
                f"a NeuralNetBinaryClassifier needs a module with one output "
                f"(got {n_outputs}) and a BCEWithLogitsLoss or BCELoss criterion "
                "so that predict_proba returns two columns"
            )
        head = OutputHead(
            "binary", classes=np.array([0, 1]), threshold=float(net.threshold)
        )
        extra["threshold"] = float(net.threshold)
    elif isinstance(net, NeuralNetClassifier):
        if nonlinearity in ("sigmoid_2d", "probabilities_2d"):
            # skorch stacks (1 - p, p) and predicts the argmax: p > 0.5
            if n_outputs != 1 or not reading.output_1d:
                raise TypeError(
                    "a NeuralNetClassifier with a BCE criterion is supported only "
                    "for a module returning one value per sample, shape (n,); "
                    "use NeuralNetBinaryClassifier"
                )
            head = OutputHead("binary", classes=np.array([0, 1]), threshold=0.5)
        else:
            head = OutputHead("multiclass", classes=np.arange(n_outputs))
        classes = _skorch_classes(net)
        if classes is not None:
            extra["classes"] = classes
    else:
        if nonlinearity in ("sigmoid_2d", "probabilities_2d"):
            raise TypeError(
                f"{type(net).__name__} with a BCE criterion returns two probability "
                "columns per output; use NeuralNetBinaryClassifier"
            )
        head = OutputHead("regression")

    criterion = getattr(net, "criterion_", None)
    criterion = getattr(criterion, "_orig_mod", criterion)
    extra.update(
        skorch_class=_qualified_name(type(net)),
        skorch_params=_picklable_params(net),
        criterion=_qualified_name(type(criterion)) if criterion is not None else None,
        predict_nonlinearity=nonlinearity,
    )
    source = f"skorch {type(net).__name__}({module_name})"
    return _to_network(reading, out_activation, head, source, extra)


def _skorch_nonlinearity(net):
    """Name what skorch's ``predict_proba`` applies to the module's output.

    Mirrors ``skorch.utils._infer_predict_nonlinearity`` through the net's own
    ``_get_predict_nonlinearity``, so that the criterion and the
    ``predict_nonlinearity`` parameter are interpreted exactly as skorch does.
    """
    from skorch import utils as skorch_utils

    nonlinearity = net._get_predict_nonlinearity()
    if nonlinearity is getattr(skorch_utils, "_identity", None):
        return "identity"
    if nonlinearity is getattr(skorch_utils, "_sigmoid_then_2d", None):
        return "sigmoid_2d"
    if nonlinearity is getattr(skorch_utils, "_make_2d_probs", None):
        return "probabilities_2d"
    if nonlinearity in (torch.sigmoid, F.sigmoid):
        return "sigmoid"
    if (
        isinstance(nonlinearity, functools.partial)
        and nonlinearity.func in _SOFTMAX
        and not nonlinearity.args
        and nonlinearity.keywords.get("dim") in (-1, 1)
    ):
        return "softmax"
    raise TypeError(
        f"{type(net).__name__} has predict_nonlinearity={net.predict_nonlinearity!r}, "
        "whose effect on predictions cannot be represented; supported: 'auto' "
        "(with any criterion), None, torch.sigmoid, or softmax over dim=-1"
    )


def _compose(nonlinearity, reading, net_name):
    """Output activation of skorch's nonlinearity applied after the module's own."""
    own = reading.out_activation
    if nonlinearity in ("identity", "probabilities_2d"):
        return own
    if nonlinearity == "softmax" and own in ("identity", "log_softmax"):
        return "softmax"  # softmax(log_softmax(z)) = softmax(z)
    if nonlinearity in ("sigmoid", "sigmoid_2d") and own == "identity":
        return "logistic"
    applied = "a softmax" if nonlinearity == "softmax" else "a sigmoid"
    raise TypeError(
        f"{net_name} applies {applied} to the module's output, but the module "
        f"already ends with {own!r} ({reading.out_activation_node}); the module "
        "should return logits for this criterion"
    )


def _skorch_classes(net):
    try:
        classes = net.classes_
    except AttributeError:
        return None
    return np.array(classes, copy=True)


def _picklable_params(net):
    """The net's init parameters except the module, copied, picklable ones only.

    A parameter that cannot be pickled (a lambda callback, say) is left out so
    that the compressed estimator stays picklable.
    """
    params = {}
    for key, value in net.get_params(deep=False).items():
        if key == "module" or key.startswith("module__"):
            continue
        try:
            params[key] = pickle.loads(pickle.dumps(value))
        except Exception:  # noqa: BLE001 - any pickling failure means: leave it out
            continue
    return params


def _qualified_name(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


# -- bare modules ------------------------------------------------------------


def _unwrap_compiled(module):
    """The original module of a ``torch.compile``-d one, and a readable name."""
    compiled = False
    while isinstance(getattr(module, "_orig_mod", None), nn.Module):
        module = module._orig_mod
        compiled = True
    name = type(module).__name__
    return module, (f"torch.compile({name})" if compiled else name)


def _bare_head_kind(reading):
    if reading.out_activation in ("softmax", "log_softmax"):
        return "multiclass"
    if reading.out_activation == "logistic":
        return "binary" if reading.n_outputs == 1 else "multilabel"
    return "regression"


def _class_indices(kind, reading):
    return np.array([0, 1]) if kind == "binary" else np.arange(reading.n_outputs)


def _to_network(reading, out_activation, head, source, extra):
    extra = dict(extra)
    extra.update(
        torch_dtype=str(reading.torch_dtype).removeprefix("torch."),
        module_out_activation=reading.out_activation,
        module_output_1d=reading.output_1d,
    )
    return Network(
        coefs=reading.coefs,
        intercepts=reading.intercepts,
        activation=reading.activation,
        out_activation=out_activation,
        head=head,
        source=source,
        extra=extra,
    )


# -- graph reading -----------------------------------------------------------


class _Tracer(fx.Tracer):
    """Default tracer, with the library's sparse layer kept as one node."""

    def is_leaf_module(self, m, module_qualified_name):
        return isinstance(m, SparseLinear) or super().is_leaf_module(
            m, module_qualified_name
        )


class _Reading:
    """What the graph walk collects: layers, activations, the output's shape."""

    def __init__(self):
        self.coefs = []
        self.intercepts = []
        self.gap_activations = [[]]  # activation names (and nodes) after each Linear
        self.input_affine = None  # (scale, shift) waiting for the next Linear
        self.output_1d = False
        self.squeeze_node = None
        self.activation = "relu"
        self.out_activation = "identity"
        self.out_activation_node = None
        self.torch_dtype = None

    @property
    def n_outputs(self):
        return self.coefs[-1].shape[1]


def read_module(module, X=None):
    """Read the layers of ``module`` (evaluation-mode function) as arrays.

    Returns an object with ``coefs``, ``intercepts`` (numpy, copied),
    ``activation``, ``out_activation`` (the module's own final activation),
    ``output_1d`` and ``torch_dtype``. The module's train/eval mode is
    restored afterwards; its weights are never written to.
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
        reading = _walk(graph_module)
    finally:
        for m, training in modes:
            m.training = training
    return reading


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


def _trace(module):
    try:
        graph = _Tracer().trace(module)
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
    reading = _Reading()
    current = None
    used = {}
    for node in graph_module.graph.nodes:
        if node.op == "placeholder":
            if current is not None:
                raise TypeError(
                    f"the module's forward takes more than one input ({current.name!r} "
                    f"and {node.name!r}); only a single input tensor is supported"
                )
            current = node
            continue
        if node.op == "get_attr":
            continue
        if node.op == "output":
            if node.args[0] is not current:
                raise TypeError(
                    f"the module returns {node.args[0]!r}, not the end of a single "
                    f"chain of layers; {SUPPORTED_GRAPH}"
                )
            break
        operation = _classify(node, graph_module)
        if operation is None:
            raise TypeError(
                f"unsupported operation {_describe(node, graph_module)}; {SUPPORTED_GRAPH}"
            )
        kind, payload = operation
        if not node.args or node.args[0] is not current or _other_inputs(node, kind):
            raise TypeError(
                f"{_describe(node, graph_module)} does not take the output of the "
                "previous operation alone: only a single chain of layers is "
                f"supported (no skip connections or branches); {SUPPORTED_GRAPH}"
            )
        if kind in ("linear", "batchnorm"):
            key = id(payload[0]) if kind == "linear" else id(payload)
            if key in used:
                raise TypeError(
                    f"{_describe(node, graph_module)} reuses the weights of "
                    f"{used[key]!r}; a layer used twice is not supported; {SUPPORTED_GRAPH}"
                )
            used[key] = node.name
        _apply(reading, kind, payload, node, graph_module)
        current = node
    if not reading.coefs:
        raise TypeError(f"the module has no Linear layer; {SUPPORTED_GRAPH}")
    _finish(reading, graph_module)
    return reading


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


def _describe(node, graph_module):
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


def _classify(node, graph_module):
    """(kind, payload) for a supported node, None otherwise."""
    if node.op == "call_module":
        module = graph_module.get_submodule(node.target)
        if isinstance(module, SparseLinear):
            return "linear", (module, module.weight.to_dense(), module.bias)
        if isinstance(module, nn.Linear):
            return "linear", (module, module.weight, module.bias)
        if type(module) is nn.BatchNorm1d:
            return "batchnorm", module
        if isinstance(module, nn.ReLU):
            return "activation", "relu"
        if isinstance(module, nn.Tanh):
            return "activation", "tanh"
        if isinstance(module, nn.Sigmoid):
            return "activation", "logistic"
        if isinstance(module, (nn.Softmax, nn.LogSoftmax)):
            if module.dim not in (None, 1, -1):
                return None
            return "activation", "softmax" if isinstance(
                module, nn.Softmax
            ) else "log_softmax"
        if isinstance(module, _SKIPPED_MODULES):
            return "skip", None
        if isinstance(module, nn.Flatten):
            if (module.start_dim, module.end_dim) == (1, -1):
                return "flatten", None
            if (module.start_dim, module.end_dim) == (0, -1):
                return "squeeze", None
        return None

    if node.op == "call_function":
        target = node.target
        if target is F.linear:
            weight = _argument(node, 1, "weight")
            bias = _argument(node, 2, "bias")
            if not (isinstance(weight, fx.Node) and weight.op == "get_attr"):
                return None
            if bias is not None and not (
                isinstance(bias, fx.Node) and bias.op == "get_attr"
            ):
                return None
            weight = _fetch(graph_module, weight.target)
            return "linear", (
                weight,
                weight,
                None if bias is None else _fetch(graph_module, bias.target),
            )
        if target in _RELU:
            return "activation", "relu"
        if target in _TANH:
            return "activation", "tanh"
        if target in _SIGMOID:
            return "activation", "logistic"
        if target is torch.exp:
            return "activation", "exp"
        if target in _SOFTMAX or target in _LOG_SOFTMAX:
            if (
                _argument(node, 1, "dim") not in (1, -1)
                or _softmax_dtype(node) is not None
            ):
                return None
            return "activation", "softmax" if target in _SOFTMAX else "log_softmax"
        if target is F.dropout or target is F.alpha_dropout:
            return ("skip", None) if not _argument(node, 2, "training", True) else None
        if target is torch.flatten:
            dims = (
                _argument(node, 1, "start_dim", 0),
                _argument(node, 2, "end_dim", -1),
            )
            return {(1, -1): ("flatten", None), (0, -1): ("squeeze", None)}.get(dims)
        if target is torch.squeeze:
            return (
                ("squeeze", None)
                if _argument(node, 1, "dim") in (None, 1, -1)
                else None
            )
        return None

    if node.op == "call_method":
        method = node.target
        if method in _ACTIVATION_METHODS:
            if method in ("softmax", "log_softmax") and (
                _argument(node, 1, "dim") not in (1, -1)
                or _softmax_dtype(node) is not None
            ):
                return None
            return "activation", _ACTIVATION_METHODS[method]
        if method in _SKIPPED_METHODS and len(node.args) == 1 and not node.kwargs:
            return "skip", None
        if method in _SQUEEZE_METHODS:
            shape = tuple(node.args[1:])
            if method == "squeeze" and shape in ((), (1,), (-1,)) and not node.kwargs:
                return "squeeze", None
            if method in ("view", "reshape") and shape in ((-1,), ((-1,),)):
                return "squeeze", None
            if method == "ravel" and not shape:
                return "squeeze", None
            if method == "flatten":
                dims = (
                    _argument(node, 1, "start_dim", 0),
                    _argument(node, 2, "end_dim", -1),
                )
                return {(1, -1): ("flatten", None), (0, -1): ("squeeze", None)}.get(
                    dims
                )
        return None
    return None


def _softmax_dtype(node):
    """The ``dtype`` argument of a softmax call (F.softmax has it 4th, torch.softmax 3rd)."""
    position = 3 if node.target in (F.softmax, F.log_softmax) else 2
    return _argument(node, position, "dtype")


def _fetch(graph_module, target):
    value = graph_module
    for part in target.split("."):
        value = getattr(value, part)
    return value


def _to_numpy(tensor):
    tensor = tensor.detach()
    if tensor.dtype in (torch.float16, torch.bfloat16):
        tensor = tensor.float()
    return tensor.cpu().numpy().copy()


def _apply(reading, kind, payload, node, graph_module):
    """Add one supported node to the reading (the chain's state machine)."""
    started = bool(reading.coefs)
    after_squeeze = reading.squeeze_node is not None
    if kind == "skip":
        return
    if kind == "flatten":
        if started:
            raise TypeError(
                f"{_describe(node, graph_module)} after a Linear layer is not "
                f"supported (only a leading Flatten); {SUPPORTED_GRAPH}"
            )
        return
    if kind == "squeeze":
        if not started or reading.n_outputs != 1:
            raise TypeError(
                f"{_describe(node, graph_module)} changes the shape of the "
                "activations; only a one-output network may drop its last "
                f"dimension at the end; {SUPPORTED_GRAPH}"
            )
        reading.squeeze_node = node.name
        reading.output_1d = True
        return
    if after_squeeze and not (
        kind == "activation" and payload in ("logistic", "exp", "relu", "tanh")
    ):
        raise TypeError(
            f"{_describe(node, graph_module)} after {reading.squeeze_node!r} (which "
            f"dropped the output's last dimension) is not supported; {SUPPORTED_GRAPH}"
        )
    if kind == "linear":
        _, weight, bias = payload
        W = _to_numpy(weight).T.copy()  # (out, in) -> scikit-learn's (in, out)
        b = _to_numpy(bias) if bias is not None else np.zeros(W.shape[1], dtype=W.dtype)
        if reading.torch_dtype is None:
            reading.torch_dtype = weight.dtype
        if reading.input_affine is not None:
            scale, shift = reading.input_affine
            _check_width(scale.shape[0], W.shape[0], node, graph_module)
            b = (shift @ W + b).astype(W.dtype)
            W = (scale[:, None] * W).astype(W.dtype)
            reading.input_affine = None
        if reading.coefs:
            _check_width(reading.coefs[-1].shape[1], W.shape[0], node, graph_module)
            reading.gap_activations.append([])
        reading.coefs.append(W)
        reading.intercepts.append(b)
        return
    if kind == "batchnorm":
        scale, shift = _batchnorm_affine(payload, node, graph_module)
        if started and not reading.gap_activations[-1]:
            # Linear -> BatchNorm: rescale the Linear's outputs
            _check_width(reading.coefs[-1].shape[1], scale.shape[0], node, graph_module)
            W, b = reading.coefs[-1], reading.intercepts[-1]
            reading.coefs[-1] = (W * scale).astype(W.dtype)
            reading.intercepts[-1] = (b * scale + shift).astype(b.dtype)
        elif reading.input_affine is None:
            # activation -> BatchNorm (or input normalisation): fold into the next Linear's inputs
            reading.input_affine = (scale, shift)
        else:
            old_scale, old_shift = reading.input_affine
            reading.input_affine = (old_scale * scale, old_shift * scale + shift)
        return
    # activation
    if not started:
        raise TypeError(
            f"{_describe(node, graph_module)} is applied to the input before any "
            f"Linear layer; {SUPPORTED_GRAPH}"
        )
    if reading.input_affine is not None:
        raise TypeError(
            f"{_describe(node, graph_module)} follows a BatchNorm1d that follows an "
            "activation: the normalisation cannot be folded into a Linear layer; "
            f"{SUPPORTED_GRAPH}"
        )
    reading.gap_activations[-1].append((payload, node))


def _check_width(expected, got, node, graph_module):
    if expected != got:
        raise TypeError(
            f"{_describe(node, graph_module)} expects {got} features but the "
            f"previous layer produces {expected}"
        )


def _batchnorm_affine(module, node, graph_module):
    """Scale and shift of an evaluation-mode BatchNorm1d, float64."""
    if (
        module.running_mean is None
        or module.running_var is None
        or is_lazy(module.running_mean)
    ):
        raise TypeError(
            f"{_describe(node, graph_module)} has no running statistics "
            "(track_running_stats=False): in evaluation mode it normalises with "
            "the statistics of each batch, which cannot be folded into a Linear "
            f"layer; {SUPPORTED_GRAPH}"
        )
    mean = _to_numpy(module.running_mean).astype(np.float64)
    var = _to_numpy(module.running_var).astype(np.float64)
    scale = 1.0 / np.sqrt(var + module.eps)
    shift = -mean * scale
    if module.affine:
        gamma = _to_numpy(module.weight).astype(np.float64)
        beta = _to_numpy(module.bias).astype(np.float64)
        scale, shift = scale * gamma, shift * gamma + beta
    return scale, shift


def _finish(reading, graph_module):
    """Resolve activations: one hidden kind, a supported final activation."""
    if reading.input_affine is not None:
        raise TypeError(
            "the module ends with a BatchNorm1d after an activation, which cannot "
            f"be folded into a Linear layer; {SUPPORTED_GRAPH}"
        )
    hidden_kinds = []
    for gap in reading.gap_activations[:-1]:
        names = [name for name, _ in gap]
        if len(set(names)) > 1 or (len(names) > 1 and names[0] != "relu"):
            nodes = ", ".join(repr(node.name) for _, node in gap)
            raise TypeError(
                f"activations {nodes} are applied one after the other between two "
                f"Linear layers; {SUPPORTED_GRAPH}"
            )
        if names and names[0] not in _HIDDEN:
            raise TypeError(
                f"{_describe(gap[0][1], graph_module)} is used as a hidden "
                f"activation; {SUPPORTED_GRAPH}"
            )
        hidden_kinds.append((names[0], gap[0][1]) if names else ("identity", None))
    kinds = {name for name, _ in hidden_kinds}
    if len(kinds) > 1:
        described = ", ".join(
            f"{name} ({'no activation' if node is None else repr(node.name)})"
            for name, node in hidden_kinds
        )
        raise TypeError(
            f"the hidden layers use different activations: {described}; one kind "
            f"for the whole network is supported; {SUPPORTED_GRAPH}"
        )
    if kinds:
        reading.activation = kinds.pop()
    final = reading.gap_activations[-1]
    if len(final) > 1:
        nodes = ", ".join(repr(node.name) for _, node in final)
        raise TypeError(
            f"the output goes through several activations ({nodes}); {SUPPORTED_GRAPH}"
        )
    if final:
        name, node = final[0]
        if name not in _OUTPUT:
            raise TypeError(
                f"the network ends with {_describe(node, graph_module)}, which is "
                f"not a supported output activation; {SUPPORTED_GRAPH}"
            )
        reading.out_activation = name
        reading.out_activation_node = node.name
    dtype = np.result_type(*reading.coefs, *reading.intercepts)
    reading.coefs = [np.asarray(W, dtype=dtype) for W in reading.coefs]
    reading.intercepts = [np.asarray(b, dtype=dtype) for b in reading.intercepts]
