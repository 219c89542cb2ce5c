"""Training losses of the fine-tuning step and the derivatives backprop needs.

Every loss is the mean over samples of a per-sample loss of the last layer's
raw values (before the output activation), with the output activation as its
canonical link, so its gradient with respect to the raw values is simply
(output - target) / n_samples. They are the losses scikit-learn's MLP trains
with (``sklearn/neural_network/_base.py``), so a fine-tuned network continues
the training its original went through.
"""

import numpy as np
from scipy.special import expit, log_softmax, xlogy

#: Training losses, each the mean over samples of a per-sample loss of the
#: last layer's raw values (before the output activation).
LOSSES = ("squared_error", "poisson", "cross_entropy", "binary_cross_entropy")


def loss_for(head, out_activation, n_outputs):
    """The training loss matching an output head and output activation.

    Classification losses are computed from the raw outputs, so a head whose
    output activation is the identity (logits) is trained with the same loss
    as one ending in softmax or sigmoid.

    Parameters
    ----------
    head : OutputHead
        The network's prediction semantics (its ``kind`` and ``classes``).
    out_activation : str
        Output activation, one of ``OUTPUT_ACTIVATIONS``.
    n_outputs : int
        Width of the last layer.

    Returns
    -------
    loss : str
        One of ``LOSSES``.

    Raises
    ------
    ValueError
        For a combination without a natural loss (e.g. a regressor ending
        in softmax).
    """
    kind = head.kind
    if kind == "regression" and out_activation == "identity":
        return "squared_error"
    if kind == "regression" and out_activation == "exp":
        return "poisson"
    one_sigmoid_per_output = kind == "multilabel" or (kind == "binary" and n_outputs == 1)
    if one_sigmoid_per_output and out_activation in ("logistic", "identity"):
        return "binary_cross_entropy"
    if (
        kind in ("binary", "multiclass")
        and n_outputs == len(head.classes)
        and out_activation in ("softmax", "log_softmax", "identity")
    ):
        return "cross_entropy"
    raise ValueError(
        f"cannot fine-tune a {kind} head with output activation "
        f"{out_activation!r} and {n_outputs} output(s): no matching loss"
    )


def output_loss(loss, raw, Y):
    """Mean loss of the raw outputs and its gradient with respect to them.

    Parameters
    ----------
    loss : str
        One of ``LOSSES``: "squared_error" (½ mean squared error, as
        scikit-learn's ``MLPRegressor``), "poisson" (half Poisson deviance
        with ``exp`` output, as ``MLPRegressor(loss="poisson")``),
        "cross_entropy" (negative log-likelihood of ``log_softmax(raw)``),
        "binary_cross_entropy" (of ``sigmoid(raw)``, summed over outputs).
    raw : ndarray of shape (n_samples, n_outputs)
        Last layer's values before the output activation.
    Y : ndarray of shape (n_samples, n_outputs)
        Encoded targets (one-hot, indicator or values).

    Returns
    -------
    value : float
        The loss, averaged over samples.
    gradient : ndarray of shape (n_samples, n_outputs)
        Its derivative with respect to ``raw``. With the canonical link of
        every loss this is (output - Y) / n_samples (squared error: divided
        by all entries, as the loss averages over outputs too).
    """
    n_samples = raw.shape[0]
    if loss == "squared_error":
        difference = raw - Y
        return 0.5 * float(np.mean(difference**2)), difference / difference.size
    if loss == "poisson":
        mean = np.exp(raw)
        value = np.sum(mean - Y * raw + xlogy(Y, Y) - Y) / n_samples
        return float(value), (mean - Y) / n_samples
    if loss == "cross_entropy":
        log_proba = log_softmax(raw, axis=1)
        value = -np.sum(Y * log_proba) / n_samples
        return float(value), (np.exp(log_proba) - Y) / n_samples
    if loss == "binary_cross_entropy":
        # log(1 + e^raw) - y raw: -log σ(raw) for y = 1, -log(1 - σ(raw)) for 0
        value = np.sum(np.logaddexp(0, raw) - Y * raw) / n_samples
        return float(value), (expit(raw) - Y) / n_samples
    raise ValueError(f"unknown loss {loss!r}; known: {', '.join(LOSSES)}")


def torch_output_loss(loss, raw, Y):
    """:func:`output_loss`'s value as a differentiable torch scalar.

    Parameters
    ----------
    loss : str
        One of ``LOSSES``.
    raw : torch.Tensor of shape (n_samples, n_outputs)
        Last layer's values before the output activation.
    Y : torch.Tensor of shape (n_samples, n_outputs)
        Encoded targets.

    Returns
    -------
    torch.Tensor of shape ()
        The loss, averaged over samples; autograd gives its gradient.
    """
    import torch

    n_samples = raw.shape[0]
    if loss == "squared_error":
        return 0.5 * torch.mean((raw - Y) ** 2)
    if loss == "poisson":
        constant = torch.special.xlogy(Y, Y) - Y
        return torch.sum(torch.exp(raw) - Y * raw + constant) / n_samples
    if loss == "cross_entropy":
        return -torch.sum(Y * torch.log_softmax(raw, dim=1)) / n_samples
    if loss == "binary_cross_entropy":
        zero = torch.zeros((), dtype=raw.dtype)
        return torch.sum(torch.logaddexp(zero, raw) - Y * raw) / n_samples
    raise ValueError(f"unknown loss {loss!r}; known: {', '.join(LOSSES)}")


def inplace_activation_derivative(name, activation, delta):
    """Multiply ``delta`` in place by a hidden activation's derivative.

    The derivative is expressed through the activation's output, as
    scikit-learn's MLP does, so the backward pass needs only the values the
    forward pass kept.

    Parameters
    ----------
    name : {"relu", "identity", "tanh", "logistic"}
        Hidden activation.
    activation : ndarray of shape (n_samples, n_units)
        The activation's output.
    delta : ndarray of shape (n_samples, n_units)
        Gradient with respect to the activation's output; becomes the
        gradient with respect to its input.

    Returns
    -------
    delta : ndarray of shape (n_samples, n_units)
        The same array.
    """
    if name == "relu":
        delta[activation <= 0] = 0
    elif name == "tanh":
        delta *= 1 - activation**2
    elif name == "logistic":
        delta *= activation * (1 - activation)
    return delta
