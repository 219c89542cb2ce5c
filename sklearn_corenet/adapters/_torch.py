"""Read torch modules and skorch nets into a :class:`~._network.Network`.

The layers are read from the module's graph by :func:`~._torch_graph.read_module`
(which chains of layers are supported is described there); this module adds
the prediction semantics, the :class:`~._network.OutputHead`. They follow
skorch for skorch nets (see :func:`_network_from_skorch`). A bare module
has no prediction semantics of its own; it is read as

- multiclass (classes ``0 .. n_outputs - 1``) if it ends with Softmax or
  LogSoftmax,
- binary (classes ``[0, 1]``, threshold 0.5) if it ends with Sigmoid and has
  one output, multilabel if it ends with Sigmoid and has several,
- regression otherwise,

unless it comes wrapped in :class:`~._class_scores.ClassScores`, which says
that its outputs are class scores (see :func:`_class_scores_head`).

This module imports torch; it is only imported when a torch or skorch object
is passed to the library.
"""

import functools
import pickle

import numpy as np
from sklearn.exceptions import NotFittedError
from torch import nn

from ..core._head import OutputHead
from ..core._network import Network
from ._torch_graph import read_module
from ._torch_nodes import ACTIVATION_FUNCTIONS, SOFTMAX_FUNCTIONS

# what skorch's predict_proba applies when it stacks (1 - p, p)
_TWO_COLUMNS = ("sigmoid_2d", "probabilities_2d")


def network_from_torch_world(model, X=None, *, class_scores=None):
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
    class_scores : ClassScores, default=None
        For a bare module: its outputs are class scores, with these labels
        (``model`` is then ``class_scores.module``).

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

    See Also
    --------
    read_module : The layers of a module, and which modules are supported.

    Notes
    -----
    The output head follows skorch's prediction semantics for a skorch net
    (:func:`_network_from_skorch` lists them) and the final activation for a
    bare module (see this module's docstring).
    """
    if _is_skorch_net(model):
        return _network_from_skorch(model, X)
    if isinstance(model, nn.Module):
        module, name = _unwrap_compiled(model)
        reading = read_module(module, X)
        if class_scores is not None:
            out_activation, head = _class_scores_head(reading, class_scores)
            return _to_network(reading, out_activation, head, name, {})
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
    """The network of a skorch net, with skorch's prediction semantics.

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
    head, extra = _skorch_head(net, nonlinearity, reading)

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


def _skorch_head(net, nonlinearity, reading):
    """The net's OutputHead, and the labels and threshold to keep in ``extra``."""
    from skorch import NeuralNetBinaryClassifier, NeuralNetClassifier

    n_outputs = reading.n_outputs
    if isinstance(net, NeuralNetBinaryClassifier):
        if nonlinearity not in _TWO_COLUMNS or n_outputs != 1:
            raise TypeError(
                f"a NeuralNetBinaryClassifier needs a module with one output "
                f"(got {n_outputs}) and a BCEWithLogitsLoss or BCELoss criterion "
                "so that predict_proba returns two columns"
            )
        threshold = float(net.threshold)
        head = OutputHead("binary", classes=np.array([0, 1]), threshold=threshold)
        return head, {"threshold": threshold}
    if isinstance(net, NeuralNetClassifier):
        if nonlinearity not in _TWO_COLUMNS:
            head = OutputHead("multiclass", classes=np.arange(n_outputs))
        elif n_outputs == 1 and reading.output_1d:
            # skorch stacks (1 - p, p) and predicts the argmax: p > 0.5
            head = OutputHead("binary", classes=np.array([0, 1]), threshold=0.5)
        else:
            # several sigmoid outputs (multilabel): skorch stacks (1 - p, p) on
            # axis 1 and predicts its argmax, a 0/1 matrix with 1 where p > 0.5
            head = OutputHead("multilabel", classes=np.arange(n_outputs), threshold=0.5)
            return head, {}
        classes = _skorch_classes(net)
        return head, {} if classes is None else {"classes": classes}
    if nonlinearity in _TWO_COLUMNS:
        raise TypeError(
            f"{type(net).__name__} with a BCE criterion returns two probability "
            "columns per output; use NeuralNetBinaryClassifier"
        )
    return OutputHead("regression"), {}


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
    if nonlinearity in ACTIVATION_FUNCTIONS["logistic"]:
        return "sigmoid"
    if (
        isinstance(nonlinearity, functools.partial)
        and nonlinearity.func in SOFTMAX_FUNCTIONS
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


def _class_scores_head(reading, scores):
    """Output activation and head of a module whose outputs are class scores.

    Logits get the activation of the kind: a sigmoid for one output or
    multilabel outputs, a softmax otherwise; a module ending with one of
    those keeps it. Labels are ``scores.classes`` (checked against the
    outputs) or the class indices.
    """
    own, n_outputs = reading.out_activation, reading.n_outputs
    if n_outputs == 1:
        kind = "binary"
    elif scores.multilabel:
        kind = "multilabel"
    else:
        kind = "multiclass"
    expected = ("softmax", "log_softmax") if kind == "multiclass" else ("logistic",)
    if own == "identity":
        out_activation = expected[0]
    elif own in expected:
        out_activation = own
    else:
        raise TypeError(
            f"the module ends with {own!r} ({reading.out_activation_node}), which "
            f"does not give {kind} class scores; it should return logits"
        )
    if scores.classes is None:
        classes = _class_indices(kind, reading)
    else:
        classes = np.asarray(scores.classes)
        n_expected = 2 if kind == "binary" else n_outputs
        if classes.shape != (n_expected,):
            raise ValueError(
                f"the module has {n_outputs} output(s), so a {kind} model needs "
                f"{n_expected} classes; got {classes.shape[0]}"
            )
    return out_activation, OutputHead(kind, classes=classes, threshold=scores.threshold)


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
