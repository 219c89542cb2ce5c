"""Export a (compressed) network as a torch module or a skorch net.

This module imports torch (and skorch for :func:`network_to_skorch`); it is
only imported by ``to_torch`` / ``to_skorch`` and the torch adapter.

No name stored in a model chooses what is imported or called: the skorch
class a compressed model names is looked up among skorch's own classes
(:data:`SKORCH_CLASSES`), its torch dtype among torch's floating dtypes;
anything else is the caller's to pass.
"""

import copy
import inspect

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from ..core._torch_common import HIDDEN_MODULES, Exp, SparseLinear, torch_dtype


def _output_module(out_activation):
    if out_activation == "softmax":
        return nn.Softmax(dim=-1)
    if out_activation == "log_softmax":
        return nn.LogSoftmax(dim=-1)
    if out_activation == "logistic":
        return nn.Sigmoid()
    if out_activation == "exp":
        return Exp()
    if out_activation != "identity":
        raise ValueError(f"unknown output activation {out_activation!r}")
    return None


def network_to_torch(
    coefs,
    intercepts,
    activation,
    out_activation,
    *,
    sparse=False,
    dtype=None,
    include_output_activation=True,
):
    """A ``torch.nn.Sequential`` computing the same function as the network.

    Parameters
    ----------
    coefs : list of scipy.sparse array or ndarray of shape (n_in, n_out)
        Weight matrices in scikit-learn's orientation.
    intercepts : list of ndarray of shape (n_out,)
        Bias vectors.
    activation : {"relu", "tanh", "logistic", "identity"}
        Hidden activation.
    out_activation : {"identity", "softmax", "log_softmax", "logistic", "exp"}
        Output activation.
    sparse : bool, default=False
        Use :class:`SparseLinear` layers (fixed sparsity pattern: only the
        non-zero weights and biases stored and trained) instead of
        ``nn.Linear`` layers holding the zeros.
    dtype : torch.dtype or numpy dtype, default=None
        Parameter dtype; the dtype of the weights when None. Sparse layers
        compute in ``torch.float32`` or ``torch.float64`` only; dense ones
        in any floating dtype.
    include_output_activation : bool, default=True
        Append the output activation, so that the module returns what
        :meth:`Network.forward` returns; without it, the module returns the
        last layer's values (logits for classifiers).

    Returns
    -------
    torch.nn.Sequential
        Linear (or SparseLinear) layers with the activation modules between
        them; a fresh module sharing no memory with the arrays, so that
        training it leaves them unchanged.

    Raises
    ------
    ValueError
        If ``sparse=True`` with a dtype torch's CSR product does not compute
        in on the CPU (``torch.float16``, ``torch.bfloat16``).
    """
    if len(coefs) == 0 or len(coefs) != len(intercepts):
        raise ValueError("a network needs as many bias vectors as weight matrices")
    if activation not in (*HIDDEN_MODULES, "identity"):
        raise ValueError(f"unknown hidden activation {activation!r}")
    dtype = torch_dtype(
        dtype if dtype is not None else np.result_type(*(W.dtype for W in coefs))
    )
    layers = []
    last = len(coefs) - 1
    for i, (W, b) in enumerate(zip(coefs, intercepts, strict=True)):
        layers.append(
            SparseLinear(W, b, dtype=dtype) if sparse else _dense_linear(W, b, dtype)
        )
        if i != last and activation != "identity":
            layers.append(HIDDEN_MODULES[activation]())
    final = _output_module(out_activation)
    if include_output_activation and final is not None:
        layers.append(final)
    return nn.Sequential(*layers)


def _dense_linear(W, b, dtype):
    W = W.toarray() if sp.issparse(W) else np.asarray(W)
    layer = nn.utils.skip_init(nn.Linear, W.shape[0], W.shape[1], dtype=dtype)
    with torch.no_grad():
        # copy_ into the layer's own storage: nothing shared with W and b
        layer.weight.copy_(torch.as_tensor(W.T, dtype=dtype))
        layer.bias.copy_(torch.as_tensor(np.asarray(b), dtype=dtype))
    return layer


#: The skorch classes ``to_skorch`` rebuilds by the name a model stores,
#: by qualified name (skorch's own classes only; pass a subclass explicitly).
SKORCH_CLASSES = (
    "skorch.classifier.NeuralNetClassifier",
    "skorch.classifier.NeuralNetBinaryClassifier",
    "skorch.regressor.NeuralNetRegressor",
    "skorch.net.NeuralNet",
)

#: The torch dtypes a stored ``torch_dtype`` name may give.
TORCH_DTYPES = ("float16", "bfloat16", "float32", "float64")


def network_to_skorch(
    model, extra=None, head=None, *, net_class=None, sparse=False, dtype=None, **net_params
):
    """An initialised skorch net wrapping the network, ready to predict and train.

    Parameters
    ----------
    model : SparseMLPClassifier, SparseMLPRegressor, Network or torch.nn.Module
        What to wrap. A compressed estimator or a :class:`Network` is exported
        with :func:`network_to_torch`; a torch module is wrapped as it is (it
        must return what the chosen criterion expects).
    extra : dict, default=None
        ``Network.extra`` written by the torch adapter; taken from ``model``
        when None. When it names the skorch class of the original net, that
        class is used with the original net's parameters (criterion,
        optimizer, threshold, ...).
    head : OutputHead, default=None
        Prediction semantics; taken from ``model`` when None (regression for a
        bare module).
    net_class : type, default=None
        The skorch net class to build. None: the class ``extra`` names when
        it is one of :data:`SKORCH_CLASSES` (a class named otherwise is
        never imported: pass it here), else the class the head calls for.
    sparse : bool, default=False
        Export with :class:`SparseLinear` layers: training then keeps the
        sparsity pattern of the weights and of the biases. With dense
        layers, training makes the zeros non-zero.
    dtype : torch.dtype, default=None
        Parameter dtype; the original module's dtype (from ``extra``) or the
        weights' dtype when None. Sparse layers compute in ``torch.float32``
        or ``torch.float64`` only: pass one of those to export a float16 or
        bfloat16 net with ``sparse=True``.
    **net_params : dict
        Parameters of the skorch net's constructor; they override the stored
        ones.

    Returns
    -------
    skorch.NeuralNet
        A net sharing no memory with ``model`` when ``model`` is a compressed
        estimator or a :class:`Network` (its module, ``classes`` and the
        stored parameters are copies). The same kind of net as the original
        when known, otherwise by head:
        ``NeuralNetRegressor`` (MSELoss) for regression,
        ``NeuralNetClassifier`` (CrossEntropyLoss, ``classes`` set to the
        head's classes) for multiclass, ``NeuralNetBinaryClassifier``
        (BCEWithLogitsLoss, the head's threshold) for binary, and a plain
        ``NeuralNet`` (BCEWithLogitsLoss, ``predict_nonlinearity=torch.sigmoid``,
        so ``predict_proba`` returns the label probabilities) for multilabel.
        ``net.initialize()`` has been called.

    Notes
    -----
    When skorch's predict nonlinearity already applies the output activation
    (``CrossEntropyLoss`` with a softmax output, ``BCEWithLogitsLoss`` with a
    logistic output), the module returns logits, as skorch expects.
    skorch classifiers predict class indices; map them with the net's
    ``classes_`` (``NeuralNetClassifier``) when the original labels were not
    ``0 .. n_classes - 1``.
    """
    network = _network_parts(model)
    if extra is None:
        extra = network["extra"] if network else {}
    if head is None:
        head = network["head"] if network else None
    kind = head.kind if head is not None else "regression"

    net_class, params = _skorch_class_and_params(extra, kind, head, net_class)
    params.update(net_params)
    if network:
        module = _module_for_net(network, extra, kind, net_class, params, sparse, dtype)
    elif isinstance(model, nn.Module):
        module = model
    else:
        raise TypeError(
            f"cannot wrap an object of type {type(model).__qualname__}: expected a "
            "compressed estimator, a Network or a torch.nn.Module"
        )
    net = net_class(module=module, **params)
    net.initialize()
    return net


def _skorch_class_and_params(extra, kind, head, net_class=None):
    """The net class (given, or allowed by name) and the original parameters."""
    import skorch

    stored = extra.get("skorch_class")
    if net_class is None and stored:
        net_class = _allowed_skorch_class(stored, skorch)
    if net_class is None:
        return _default_skorch(kind, head, skorch)
    if not (inspect.isclass(net_class) and issubclass(net_class, skorch.NeuralNet)):
        raise TypeError(f"net_class must be a skorch NeuralNet class; got {net_class!r}")
    # a copy: the net must not share the compressed model's arrays (classes)
    params = copy.deepcopy(dict(extra.get("skorch_params", {}))) if stored else {}
    accepts_classes = "classes" in inspect.signature(net_class).parameters
    if accepts_classes and params.get("classes") is None and "classes" in extra:
        # the labels skorch inferred from y
        params["classes"] = copy.deepcopy(extra["classes"])
    return net_class, params


def _allowed_skorch_class(name, skorch):
    """The skorch class named ``name`` when it is one of SKORCH_CLASSES, else None.

    The lookup reads attributes of the imported ``skorch`` package only:
    no module named by stored data is imported.
    """
    if name not in SKORCH_CLASSES:
        return None
    return getattr(skorch, name.rpartition(".")[2])


def _stored_torch_dtype(name):
    """The torch dtype named ``name`` when it is one of TORCH_DTYPES."""
    if name not in TORCH_DTYPES:
        raise ValueError(
            f"the model stores an unknown torch dtype {name!r}; pass dtype= "
            f"(one of {', '.join(TORCH_DTYPES)})"
        )
    return getattr(torch, name)


def _module_for_net(network, extra, kind, net_class, params, sparse, dtype):
    """The network as the module the net expects (logits when skorch applies the activation)."""
    criterion = params.get(
        "criterion", inspect.signature(net_class).parameters["criterion"].default
    )
    include_output_activation = not _criterion_applies(
        criterion,
        network["out_activation"],
        params.get("predict_nonlinearity", "auto"),
    )
    if dtype is None and "torch_dtype" in extra:
        dtype = _stored_torch_dtype(extra["torch_dtype"])
    module = network_to_torch(
        network["coefs"],
        network["intercepts"],
        network["activation"],
        network["out_activation"],
        sparse=sparse,
        dtype=dtype,
        include_output_activation=include_output_activation,
    )
    if extra.get("module_output_1d") or (not extra.get("skorch_class") and kind == "binary"):
        module.append(nn.Flatten(start_dim=0))
    return module


def _network_parts(model):
    """coefs, intercepts, activations, head and extra of an estimator or Network."""
    from ..core._network import Network

    if isinstance(model, Network):
        return {
            "coefs": model.coefs,
            "intercepts": model.intercepts,
            "activation": model.activation,
            "out_activation": model.out_activation,
            "head": model.head,
            "extra": model.extra,
        }
    if hasattr(model, "coefs_") and hasattr(model, "out_activation_"):
        return {
            "coefs": model.coefs_,
            "intercepts": model.intercepts_,
            "activation": model.activation,
            "out_activation": model.out_activation_,
            "head": model.head_,
            "extra": getattr(model, "source_info_", None) or {},
        }
    return None


def _default_skorch(kind, head, skorch):
    if kind == "regression":
        return skorch.NeuralNetRegressor, {"criterion": nn.MSELoss}
    if kind == "multiclass":
        return skorch.NeuralNetClassifier, {
            "criterion": nn.CrossEntropyLoss,
            "classes": np.array(head.classes, copy=True),
        }
    if kind == "binary":
        return skorch.NeuralNetBinaryClassifier, {
            "criterion": nn.BCEWithLogitsLoss,
            "threshold": head.threshold,
        }
    return skorch.NeuralNet, {
        "criterion": nn.BCEWithLogitsLoss,
        "predict_nonlinearity": torch.sigmoid,
    }


def _is_criterion(criterion, loss_class):
    criterion = getattr(criterion, "_orig_mod", criterion)
    if inspect.isclass(criterion):
        return issubclass(criterion, loss_class)
    return isinstance(criterion, loss_class)


def _criterion_applies(criterion, out_activation, predict_nonlinearity):
    """Whether skorch's predict nonlinearity applies the output activation.

    Then the module must return logits. Raises ValueError when skorch would
    apply a nonlinearity on top of a different output activation.
    """
    if predict_nonlinearity in (torch.sigmoid, nn.functional.sigmoid):
        applied = "logistic"
    elif predict_nonlinearity != "auto":
        return False
    elif _is_criterion(criterion, nn.CrossEntropyLoss):
        applied = "softmax"
    elif _is_criterion(criterion, nn.BCEWithLogitsLoss):
        applied = "logistic"
    else:
        return False
    accepted = ("softmax", "log_softmax") if applied == "softmax" else ("logistic",)
    if out_activation not in accepted:
        raise ValueError(
            f"the skorch net applies a {'softmax' if applied == 'softmax' else 'sigmoid'} "
            f"to the module's output (criterion {getattr(criterion, '__name__', type(criterion).__name__)}), "
            f"but the network's output activation is {out_activation!r}"
        )
    return True
