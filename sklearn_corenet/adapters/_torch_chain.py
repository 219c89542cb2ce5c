"""Fold a chain of supported torch operations into the layers of a Network.

The graph walk of :func:`~._torch_graph.read_module` hands the operations of a
module's chain, classified by :func:`~._torch_nodes.classify`, one after the
other to :meth:`LayerChain.add`. The chain copies each Linear layer into
arrays in scikit-learn's orientation, folds each evaluation-mode
``BatchNorm1d`` into the adjacent Linear layer (into its outputs when it
follows the Linear, into the next Linear's inputs when it follows an
activation or the input) and records the activations between the layers.
:meth:`LayerChain.finish` then checks that the hidden layers share one kind
of activation and that the output activation is one a Network has.

This module imports torch; it is only imported when a torch or skorch object
is passed to the library.
"""

import numpy as np
import torch
from torch.nn.parameter import is_lazy

from ._torch_nodes import SUPPORTED_GRAPH, describe

_HIDDEN = ("relu", "tanh", "logistic")
_OUTPUT = ("softmax", "log_softmax", "logistic", "exp")
# element-wise activations, which may follow the squeeze of a one-output network
_AFTER_SQUEEZE = ("logistic", "exp", "relu", "tanh")


class LayerChain:
    """The layers and activations read from a chain of operations, in order.

    Parameters
    ----------
    graph_module : torch.fx.GraphModule
        The traced module the operations come from (it names them in errors).

    Attributes
    ----------
    coefs : list of ndarray of shape (n_in, n_out)
        Copied weights, in scikit-learn's orientation.
    intercepts : list of ndarray of shape (n_out,)
        Copied biases (zeros for a Linear layer without bias).
    activation : str
        The hidden activation (``"identity"`` for none), set by :meth:`finish`.
    out_activation : str
        The module's own final activation, set by :meth:`finish`.
    out_activation_node : str or None
        The name of the node applying the final activation.
    output_1d : bool
        Whether the module drops the last dimension of its single output.
    torch_dtype : torch.dtype
        The dtype of the first Linear layer's weight.
    """

    def __init__(self, graph_module):
        self.graph_module = graph_module
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

    def add(self, kind, payload, node):
        """Add the next operation of the chain, a ``(kind, payload)`` of ``node``."""
        if self.squeeze_node is not None and kind in ("linear", "batchnorm", "activation"):
            if not (kind == "activation" and payload in _AFTER_SQUEEZE):
                raise TypeError(
                    f"{self._describe(node)} after {self.squeeze_node!r} (which "
                    "dropped the output's last dimension) is not supported; "
                    f"{SUPPORTED_GRAPH}"
                )
        self._ADD[kind](self, payload, node)

    def finish(self):
        """Resolve the activations: one hidden kind, a supported final activation."""
        if self.input_affine is not None:
            raise TypeError(
                "the module ends with a BatchNorm1d after an activation, which "
                f"cannot be folded into a Linear layer; {SUPPORTED_GRAPH}"
            )
        self._resolve_hidden_activation()
        self._resolve_output_activation()
        dtype = np.result_type(*self.coefs, *self.intercepts)
        self.coefs = [np.asarray(W, dtype=dtype) for W in self.coefs]
        self.intercepts = [np.asarray(b, dtype=dtype) for b in self.intercepts]

    def _describe(self, node):
        return describe(node, self.graph_module)

    def _add_skip(self, payload, node):
        pass

    def _add_flatten(self, payload, node):
        if self.coefs:
            raise TypeError(
                f"{self._describe(node)} after a Linear layer is not supported "
                f"(only a leading Flatten); {SUPPORTED_GRAPH}"
            )

    def _add_squeeze(self, payload, node):
        if not self.coefs or self.n_outputs != 1:
            raise TypeError(
                f"{self._describe(node)} changes the shape of the activations; "
                "only a one-output network may drop its last dimension at the "
                f"end; {SUPPORTED_GRAPH}"
            )
        self.squeeze_node = node.name
        self.output_1d = True

    def _add_linear(self, payload, node):
        _, weight, bias = payload
        W = _to_numpy(weight).T.copy()  # (out, in) -> scikit-learn's (in, out)
        b = _to_numpy(bias) if bias is not None else np.zeros(W.shape[1], dtype=W.dtype)
        if self.torch_dtype is None:
            self.torch_dtype = weight.dtype
        if self.input_affine is not None:
            scale, shift = self.input_affine
            self._check_width(scale.shape[0], W.shape[0], node)
            b = (shift @ W + b).astype(W.dtype)
            W = (scale[:, None] * W).astype(W.dtype)
            self.input_affine = None
        if self.coefs:
            self._check_width(self.coefs[-1].shape[1], W.shape[0], node)
            self.gap_activations.append([])
        self.coefs.append(W)
        self.intercepts.append(b)

    def _add_batchnorm(self, module, node):
        scale, shift = self._batchnorm_affine(module, node)
        if self.coefs and not self.gap_activations[-1]:
            # Linear -> BatchNorm: rescale the Linear's outputs
            self._check_width(self.coefs[-1].shape[1], scale.shape[0], node)
            W, b = self.coefs[-1], self.intercepts[-1]
            self.coefs[-1] = (W * scale).astype(W.dtype)
            self.intercepts[-1] = (b * scale + shift).astype(b.dtype)
        elif self.input_affine is None:
            # activation -> BatchNorm (or input normalisation): fold into the next Linear's inputs
            self.input_affine = (scale, shift)
        else:
            old_scale, old_shift = self.input_affine
            self.input_affine = (old_scale * scale, old_shift * scale + shift)

    def _add_activation(self, name, node):
        if not self.coefs:
            raise TypeError(
                f"{self._describe(node)} is applied to the input before any "
                f"Linear layer; {SUPPORTED_GRAPH}"
            )
        if self.input_affine is not None:
            raise TypeError(
                f"{self._describe(node)} follows a BatchNorm1d that follows an "
                "activation: the normalisation cannot be folded into a Linear "
                f"layer; {SUPPORTED_GRAPH}"
            )
        self.gap_activations[-1].append((name, node))

    _ADD = {
        "skip": _add_skip,
        "flatten": _add_flatten,
        "squeeze": _add_squeeze,
        "linear": _add_linear,
        "batchnorm": _add_batchnorm,
        "activation": _add_activation,
    }

    def _check_width(self, expected, got, node):
        if expected != got:
            raise TypeError(
                f"{self._describe(node)} expects {got} features but the "
                f"previous layer produces {expected}"
            )

    def _batchnorm_affine(self, module, node):
        """Scale and shift of an evaluation-mode BatchNorm1d, float64."""
        if (
            module.running_mean is None
            or module.running_var is None
            or is_lazy(module.running_mean)
        ):
            raise TypeError(
                f"{self._describe(node)} has no running statistics "
                "(track_running_stats=False): in evaluation mode it normalises "
                "with the statistics of each batch, which cannot be folded into "
                f"a Linear layer; {SUPPORTED_GRAPH}"
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

    def _resolve_hidden_activation(self):
        """The one activation of the hidden layers (``"identity"`` for none)."""
        hidden_kinds = [self._gap_activation(gap) for gap in self.gap_activations[:-1]]
        kinds = {name for name, _ in hidden_kinds}
        if len(kinds) > 1:
            described = ", ".join(
                f"{name} ({'no activation' if node is None else repr(node.name)})"
                for name, node in hidden_kinds
            )
            raise TypeError(
                f"the hidden layers use different activations: {described}; one "
                f"kind for the whole network is supported; {SUPPORTED_GRAPH}"
            )
        if kinds:
            self.activation = kinds.pop()

    def _gap_activation(self, gap):
        """(name, node) of the activation between two Linear layers."""
        names = [name for name, _ in gap]
        # relu(relu(z)) = relu(z): only a repeated ReLU is one activation
        if len(set(names)) > 1 or (len(names) > 1 and names[0] != "relu"):
            nodes = ", ".join(repr(node.name) for _, node in gap)
            raise TypeError(
                f"activations {nodes} are applied one after the other between "
                f"two Linear layers; {SUPPORTED_GRAPH}"
            )
        if names and names[0] not in _HIDDEN:
            raise TypeError(
                f"{self._describe(gap[0][1])} is used as a hidden activation; "
                f"{SUPPORTED_GRAPH}"
            )
        return (names[0], gap[0][1]) if names else ("identity", None)

    def _resolve_output_activation(self):
        final = self.gap_activations[-1]
        if len(final) > 1:
            nodes = ", ".join(repr(node.name) for _, node in final)
            raise TypeError(
                f"the output goes through several activations ({nodes}); "
                f"{SUPPORTED_GRAPH}"
            )
        if final:
            name, node = final[0]
            if name not in _OUTPUT:
                raise TypeError(
                    f"the network ends with {self._describe(node)}, which is not "
                    f"a supported output activation; {SUPPORTED_GRAPH}"
                )
            self.out_activation = name
            self.out_activation_node = node.name


def _to_numpy(tensor):
    """A numpy copy of a tensor; half precision widened to float32."""
    tensor = tensor.detach()
    if tensor.dtype in (torch.float16, torch.bfloat16):
        tensor = tensor.float()
    return tensor.cpu().numpy().copy()
