"""Retraining a compressed network with its sparsity pattern fixed.

After sparsification the paper trains the kept weights for a few more epochs
with Adam while the removed weights stay zero (Baykal et al. 2019,
Appendix B.4), which recovers most of the accuracy lost to compression at an
unchanged number of parameters. This module implements that step over the
``scipy.sparse`` weights of :class:`SparseMLPClassifier` /
:class:`SparseMLPRegressor`: only the stored entries of each weight matrix
and the non-zero biases are parameters, so no new non-zero can appear.

Two interchangeable backends compute the gradients: plain numpy/scipy, and
torch (optional) with dense weights assembled from the kept values.
"""

from dataclasses import dataclass, field
from functools import cached_property
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, log_softmax, xlogy
from sklearn.model_selection import train_test_split
from sklearn.utils import check_array, check_random_state, gen_batches
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import validate_data
from tqdm.auto import tqdm

from ._network import apply_activation
from ._sensitivity import chunk_rows

#: Training losses, each the mean over samples of a per-sample loss of the
#: last layer's raw values (before the output activation).
LOSSES = ("squared_error", "poisson", "cross_entropy", "binary_cross_entropy")

#: Adam's β1, β2 and ε (Kingma & Ba 2015, the values the paper uses).
ADAM_BETAS = (0.9, 0.999)
ADAM_EPSILON = 1e-8

# numpy backend, per layer. Below this density the products with the weight
# matrix use scipy's sparse kernels, above it dense BLAS on a dense copy that
# is kept in sync with the kept values.
_SPARSE_PRODUCT_DENSITY = 0.1
# Below this density the gradient of the kept weights is summed over the
# batch for each kept (i, j) pair; above it the dense Aᵀ δ is cheaper even
# though most of it is thrown away.
_GATHER_GRADIENT_DENSITY = 0.01
# backend="auto" uses torch (when importable) from this many weights before
# compression on. Measured on 2 cores, torch's dense products with a fixed
# mask were 1.2-2x slower than the numpy backend up to a 784-1000-1000-10
# network and only drew level around ten million weights.
_TORCH_FROM_DENSE_PARAMETERS = 10_000_000


@dataclass
class FineTuneHistory:
    """What :func:`fine_tune_network` did.

    Attributes
    ----------
    loss_curve : list of float
        Training loss (with the L2 penalty) of every epoch, averaged over the
        epoch's mini-batches.
    validation_loss_curve : list of float
        Validation loss after every epoch (empty without early stopping).
    initial_validation_loss : float or None
        Validation loss of the weights before fine-tuning.
    best_validation_loss : float or None
        Lowest validation loss seen, including the initial one; the returned
        weights have this validation loss.
    best_epoch : int
        Epoch whose weights were kept (0: the weights before fine-tuning).
    validation_indices : ndarray of int of shape (n_validation,)
        Rows of ``X`` held out for early stopping.
    backend : str
        "numpy" or "torch".
    """

    loss_curve: list = field(default_factory=list)
    validation_loss_curve: list = field(default_factory=list)
    initial_validation_loss: float | None = None
    best_validation_loss: float | None = None
    best_epoch: int = 0
    validation_indices: np.ndarray = field(
        default_factory=lambda: np.empty(0, dtype=np.intp)
    )
    backend: str = "numpy"

    @property
    def n_epochs(self):
        """Number of epochs run."""
        return len(self.loss_curve)


# -- losses ------------------------------------------------------------------


def loss_for(head, out_activation, n_outputs):
    """The training loss matching an output head and output activation.

    Classification losses are computed from the raw outputs, so a head whose
    output activation is the identity (logits) is trained with the same loss
    as one ending in softmax or sigmoid.

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
        value = np.sum(np.logaddexp(0, raw) - Y * raw) / n_samples
        return float(value), (expit(raw) - Y) / n_samples
    raise ValueError(f"unknown loss {loss!r}; known: {', '.join(LOSSES)}")


def _torch_output_loss(torch, loss, raw, Y):
    """:func:`output_loss`'s value as a differentiable torch scalar."""
    n_samples = raw.shape[0]
    if loss == "squared_error":
        return 0.5 * torch.mean((raw - Y) ** 2)
    if loss == "poisson":
        constant = torch.special.xlogy(Y, Y) - Y
        return torch.sum(torch.exp(raw) - Y * raw + constant) / n_samples
    if loss == "cross_entropy":
        return -torch.sum(Y * torch.log_softmax(raw, dim=1)) / n_samples
    zero = torch.zeros((), dtype=raw.dtype)
    return torch.sum(torch.logaddexp(zero, raw) - Y * raw) / n_samples


def _activation_derivative(name, activation, delta):
    """Multiply ``delta`` in place by the activation's derivative.

    Expressed through the activation's output, as scikit-learn's MLP does.
    """
    if name == "relu":
        delta[activation <= 0] = 0
    elif name == "tanh":
        delta *= 1 - activation**2
    elif name == "logistic":
        delta *= activation * (1 - activation)
    return delta


# -- the kept parameters -----------------------------------------------------


@dataclass
class _KeptLayer:
    """Where the trainable entries of one layer are.

    ``rows[k], cols[k]`` is the position of ``coefs.data[k]`` (CSR order);
    ``bias_index`` lists the non-zero biases.
    """

    shape: tuple
    indices: np.ndarray
    indptr: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    bias_index: np.ndarray

    @classmethod
    def from_arrays(cls, W, b):
        rows = np.repeat(np.arange(W.shape[0]), np.diff(W.indptr))
        return cls(
            shape=W.shape,
            indices=W.indices,
            indptr=W.indptr,
            rows=rows,
            cols=np.asarray(W.indices, dtype=np.intp),
            bias_index=np.flatnonzero(b),
        )

    @property
    def density(self):
        return self.rows.size / max(self.shape[0] * self.shape[1], 1)

    @cached_property
    def flat_index(self):
        """Position of every kept weight in the row-major dense matrix."""
        return self.rows * self.shape[1] + self.cols


class _Adam:
    """Adam (Kingma & Ba 2015, Alg. 1) over a list of arrays, updated in place.

    The bias-corrected step is arranged as in ``torch.optim.Adam`` so that
    both backends take the same steps.
    """

    def __init__(self, parameters, learning_rate):
        self.parameters = parameters
        self.learning_rate = learning_rate
        self.first_moments = [np.zeros_like(p) for p in parameters]
        self.second_moments = [np.zeros_like(p) for p in parameters]
        self.n_steps = 0

    def step(self, gradients):
        beta1, beta2 = ADAM_BETAS
        self.n_steps += 1
        step_size = self.learning_rate / (1 - beta1**self.n_steps)
        correction2 = np.sqrt(1 - beta2**self.n_steps)
        for parameter, gradient, m, v in zip(
            self.parameters, gradients, self.first_moments, self.second_moments, strict=True
        ):
            m *= beta1
            m += (1 - beta1) * gradient
            v *= beta2
            v += (1 - beta2) * gradient**2
            parameter -= step_size * m / (np.sqrt(v) / correction2 + ADAM_EPSILON)


# -- backends ----------------------------------------------------------------


class _Backend:
    """Settings shared by the training backends.

    Every backend trains the same list of kept values and provides
    ``get_values``, ``set_values``, ``decision`` and ``train_batch``.
    """

    def __init__(self, layers, activation, loss, alpha):
        self.layers = layers
        self.activation = activation
        self.loss = loss
        self.alpha = alpha


class _NumpyBackend(_Backend):
    """Forward and backward passes with numpy and scipy.sparse.

    Parameters are ``values = [w_0, b_0, w_1, b_1, ...]``: the kept weights of
    each layer in CSR order and its kept biases.
    """

    name = "numpy"

    def __init__(self, layers, values, activation, loss, alpha, learning_rate):
        super().__init__(layers, activation, loss, alpha)
        self.values = [np.array(v, copy=True) for v in values]
        self.optimizer = _Adam(self.values, learning_rate)
        dtype = self.values[0].dtype
        self.sparse = [
            sp.csr_array((self.values[2 * i], layer.indices, layer.indptr), shape=layer.shape)
            for i, layer in enumerate(layers)
        ]
        for i, matrix in enumerate(self.sparse):
            # the parameters themselves, so that every update reaches the matrix
            matrix.data = self.values[2 * i]
        self.dense = [
            np.zeros(layer.shape, dtype=dtype)
            if layer.density >= _SPARSE_PRODUCT_DENSITY
            else None
            for layer in layers
        ]
        self.biases = [np.zeros(layer.shape[1], dtype=dtype) for layer in layers]
        self._sync()

    def _sync(self):
        """Copy the kept values into the dense weights and full bias vectors."""
        for i, layer in enumerate(self.layers):
            if self.dense[i] is not None:
                self.dense[i].reshape(-1)[layer.flat_index] = self.values[2 * i]
            self.biases[i][layer.bias_index] = self.values[2 * i + 1]

    def get_values(self):
        return [np.array(v, copy=True) for v in self.values]

    def set_values(self, values):
        for target, source in zip(self.values, values, strict=True):
            target[...] = source
        self._sync()

    def _product(self, A, i):
        """A @ W_i."""
        if self.dense[i] is not None:
            return A @ self.dense[i]
        # (Wᵀ Aᵀ)ᵀ: Wᵀ of a CSR array is a CSC view, no copy
        return np.asarray((self.sparse[i].T @ A.T).T)

    def _back_product(self, delta, i):
        """delta @ W_iᵀ."""
        if self.dense[i] is not None:
            return delta @ self.dense[i].T
        return np.asarray((self.sparse[i] @ delta.T).T)

    def _kept_gradient(self, A, delta, i):
        """Σ over the batch of A[:, r] δ[:, c] for every kept (r, c) of layer i."""
        layer = self.layers[i]
        if layer.density >= _GATHER_GRADIENT_DENSITY:
            return (A.T @ delta)[layer.rows, layer.cols]
        # transposed so that gathering a unit's values reads contiguous memory
        A_t, delta_t = np.ascontiguousarray(A.T), np.ascontiguousarray(delta.T)
        gradient = np.empty(layer.rows.size, dtype=delta.dtype)
        chunk = chunk_rows(2 * A.shape[0] * A.itemsize, layer.rows.size)
        for kept in gen_batches(layer.rows.size, chunk):
            gradient[kept] = np.einsum(
                "kb,kb->k", A_t[layer.rows[kept]], delta_t[layer.cols[kept]]
            )
        return gradient

    def _activations(self, X):
        """Inputs of every layer, then the raw output."""
        activations = [X]
        last = len(self.layers) - 1
        for i in range(len(self.layers)):
            Z = self._product(activations[-1], i)
            Z += self.biases[i]
            if i != last:
                apply_activation(self.activation, Z)
            activations.append(Z)
        return activations

    def decision(self, X):
        return self._activations(X)[-1]

    def train_batch(self, X, Y):
        activations = self._activations(X)
        n_samples = X.shape[0]
        value, delta = output_loss(self.loss, activations[-1], Y)
        gradients = [None] * len(self.values)
        for i in reversed(range(len(self.layers))):
            weights = self.values[2 * i]
            gradient = self._kept_gradient(activations[i], delta, i)
            if self.alpha:
                # L2 penalty ½α‖W‖² / n_samples, as scikit-learn's MLP
                value += 0.5 * self.alpha * float(weights @ weights) / n_samples
                gradient += (self.alpha / n_samples) * weights
            gradients[2 * i] = gradient
            gradients[2 * i + 1] = delta.sum(axis=0)[self.layers[i].bias_index]
            if i:
                delta = self._back_product(delta, i)
                _activation_derivative(self.activation, activations[i], delta)
        self.optimizer.step(gradients)
        self._sync()
        return value


class _TorchBackend(_Backend):
    """Forward and backward passes with torch autograd.

    The parameters are the same vectors of kept values as for numpy; every
    step scatters them into dense weight matrices, so the gradient reaches
    only the kept entries.
    """

    name = "torch"

    def __init__(self, layers, values, activation, loss, alpha, learning_rate):
        import torch

        super().__init__(layers, activation, loss, alpha)
        self.torch = torch
        self.parameters = [torch.tensor(np.array(v, copy=True), requires_grad=True) for v in values]
        self.flat_index = [torch.from_numpy(layer.flat_index) for layer in layers]
        self.bias_index = [torch.from_numpy(layer.bias_index) for layer in layers]
        self.optimizer = torch.optim.Adam(
            self.parameters, lr=learning_rate, betas=ADAM_BETAS, eps=ADAM_EPSILON
        )

    def get_values(self):
        return [p.detach().numpy().copy() for p in self.parameters]

    def set_values(self, values):
        with self.torch.no_grad():
            for parameter, source in zip(self.parameters, values, strict=True):
                parameter.copy_(self.torch.from_numpy(source))

    def _raw(self, X):
        torch = self.torch
        A = torch.from_numpy(X)
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            weights, biases = self.parameters[2 * i], self.parameters[2 * i + 1]
            n_in, n_out = layer.shape
            W = weights.new_zeros(n_in * n_out).scatter(0, self.flat_index[i], weights)
            b = biases.new_zeros(n_out).scatter(0, self.bias_index[i], biases)
            A = torch.addmm(b, A, W.view(n_in, n_out))
            if i != last:
                A = self._activate(A)
        return A

    def _activate(self, Z):
        torch = self.torch
        if self.activation == "relu":
            return torch.relu(Z)
        if self.activation == "tanh":
            return torch.tanh(Z)
        if self.activation == "logistic":
            return torch.sigmoid(Z)
        return Z

    def decision(self, X):
        with self.torch.no_grad():
            return self._raw(np.ascontiguousarray(X)).numpy()

    def train_batch(self, X, Y):
        torch = self.torch
        self.optimizer.zero_grad(set_to_none=True)
        objective = _torch_output_loss(torch, self.loss, self._raw(X), torch.from_numpy(Y))
        if self.alpha:
            penalty = sum(torch.sum(w**2) for w in self.parameters[::2])
            objective = objective + 0.5 * self.alpha * penalty / X.shape[0]
        objective.backward()
        self.optimizer.step()
        return float(objective.item())


def _torch_available():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def choose_backend(backend, shapes):
    """Resolve ``backend="auto"`` for layers of the given (n_in, n_out) shapes.

    torch when it is importable and the layers hold at least
    ``_TORCH_FROM_DENSE_PARAMETERS`` weights before compression, else numpy.
    """
    if backend == "numpy":
        return "numpy"
    if backend == "torch":
        if not _torch_available():
            raise ImportError(
                "backend='torch' needs torch; install it (pip install "
                "'sklearn-corenet[torch]') or use backend='numpy'"
            )
        return "torch"
    dense_parameters = sum(n_in * n_out for n_in, n_out in shapes)
    if dense_parameters >= _TORCH_FROM_DENSE_PARAMETERS and _torch_available():
        return "torch"
    return "numpy"


# -- training loop -----------------------------------------------------------


def _rows(X, indices):
    """Rows of X as a dense C-ordered array."""
    batch = X[indices]
    return batch.toarray() if sp.issparse(batch) else np.ascontiguousarray(batch)


def _mean_loss(trainer, loss, X, Y, indices):
    """Loss over the rows ``indices`` (no penalty), computed in row chunks."""
    widest = max(max(layer.shape) for layer in trainer.layers)
    chunk = chunk_rows(3 * widest * Y.itemsize, indices.size)
    total = 0.0
    for rows in gen_batches(indices.size, chunk):
        raw = trainer.decision(_rows(X, indices[rows]))
        total += output_loss(loss, raw, Y[indices[rows]])[0] * raw.shape[0]
    return total / indices.size


def _split(n_samples, validation_fraction, stratify, rng):
    """Training and validation rows; stratified when the classes allow it."""
    seed = rng.randint(np.iinfo(np.int32).max)
    rows = np.arange(n_samples)
    if stratify is not None:
        try:
            return train_test_split(
                rows, test_size=validation_fraction, stratify=stratify, random_state=seed
            )
        except ValueError:
            # a class with a single member, or fewer validation rows than classes
            pass
    return train_test_split(rows, test_size=validation_fraction, random_state=seed)


def fine_tune_network(
    coefs,
    intercepts,
    X,
    Y,
    *,
    activation,
    loss,
    epochs=5,
    learning_rate=1e-3,
    batch_size=300,
    validation_fraction=0.1,
    early_stopping=True,
    n_iter_no_change=3,
    tol=1e-4,
    alpha=0.0,
    stratify=None,
    backend="auto",
    random_state=None,
    verbose=0,
):
    """Train the kept weights of a sparse network with Adam (Appendix B.4).

    Only the stored entries of every CSR weight matrix and the non-zero
    biases are trained; every other weight stays zero, so the sparsity
    pattern, and with it the compression, is unchanged. Updated values are
    written into ``coefs[l].data`` and ``intercepts[l]`` in place; a kept
    weight that passes through zero stays a stored entry.

    Parameters
    ----------
    coefs : list of scipy.sparse.csr_array of shape (n_in, n_out)
        Weight matrices, first layer first; a layer computes
        ``a @ coefs[l] + intercepts[l]``. Updated in place.
    intercepts : list of ndarray of shape (n_out,)
        Bias vectors; only their non-zero entries are trained. Updated in
        place.
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Training inputs, of the weights' dtype. Not modified.
    Y : ndarray of shape (n_samples, n_outputs)
        Encoded targets: one-hot rows ("cross_entropy"), an indicator matrix
        ("binary_cross_entropy") or values. Not modified.
    activation : {"relu", "identity", "tanh", "logistic"}
        Hidden activation.
    loss : {"squared_error", "poisson", "cross_entropy", "binary_cross_entropy"}
        Training loss of the raw outputs, see :func:`output_loss`.
    epochs : int, default=5
        Maximum number of passes over the training rows.
    learning_rate : float, default=1e-3
        Adam's step size α (β1 = 0.9, β2 = 0.999, ε = 1e-8).
    batch_size : int, default=300
        Rows per mini-batch (the last batch of an epoch may be smaller).
    validation_fraction : float, default=0.1
        Fraction of rows held out for early stopping.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the rows, measure the loss on
        them after every epoch, stop after ``n_iter_no_change`` epochs
        without an improvement of at least ``tol``, and return the weights
        with the lowest validation loss (possibly the initial ones). Without
        early stopping every row is trained on for ``epochs`` epochs.
    n_iter_no_change : int, default=3
        Epochs without improvement before stopping (early stopping only).
    tol : float, default=1e-4
        Improvement of the validation loss that counts (early stopping only).
    alpha : float, default=0.0
        L2 penalty ``½ alpha ‖W‖² / batch size`` on the kept weights, as
        scikit-learn's MLP.
    stratify : ndarray of shape (n_samples,), default=None
        Class of every row, to stratify the validation split when every class
        allows it.
    backend : {"auto", "numpy", "torch"}, default="auto"
        "numpy" computes the gradients of the kept weights with numpy and
        scipy.sparse; "torch" with torch autograd on dense weights assembled
        from the kept values. Both give the same steps up to rounding.
        "auto" chooses torch when it is importable and the layers have at
        least ten million weights before compression (below that, numpy was
        measured faster).
    random_state : int, RandomState instance or None, default=None
        Controls the validation split and the order of the mini-batches,
        drawn from one generator whatever the backend: with an int, both
        backends see the same batches and take the same steps.
    verbose : int, default=0
        Show a progress bar over the epochs with the training and validation
        losses when > 0.

    Returns
    -------
    FineTuneHistory
        Loss curves, the best epoch and the validation rows.

    References
    ----------
    C. Baykal, L. Liebenwein, I. Gilitschenski, D. Feldman, D. Rus.
    "Data-dependent coresets for compressing neural networks with
    applications to generalization bounds", ICLR 2019, Appendix B.4.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 4)); Y = X[:, :1] - X[:, 1:2]
    >>> coefs = [sp.random_array((4, 8), density=0.5, rng=0, format="csr"),
    ...          sp.random_array((8, 1), density=0.5, rng=1, format="csr")]
    >>> intercepts = [np.full(8, 0.1), np.zeros(1)]
    >>> history = fine_tune_network(coefs, intercepts, X, Y, activation="relu",
    ...                             loss="squared_error", epochs=20,
    ...                             learning_rate=1e-2, random_state=0)
    >>> history.best_validation_loss < history.initial_validation_loss
    True
    >>> [W.nnz for W in coefs], int(np.count_nonzero(intercepts[1]))
    ([16, 4], 0)
    """
    for W in coefs:
        if not W.has_canonical_format:
            W.sum_duplicates()
    layers = [_KeptLayer.from_arrays(W, b) for W, b in zip(coefs, intercepts, strict=True)]
    dtype = coefs[0].dtype
    values = []
    for W, b, layer in zip(coefs, intercepts, layers, strict=True):
        values += [W.data.astype(dtype), b[layer.bias_index].astype(dtype)]
    Y = np.asarray(Y, dtype=dtype).reshape(X.shape[0], -1)
    if sp.issparse(X) and X.format != "csr":
        X = sp.csr_array(X)  # mini-batches are row selections

    rng = check_random_state(random_state)
    history = FineTuneHistory(backend=choose_backend(backend, [W.shape for W in coefs]))
    if early_stopping:
        train_rows, validation_rows = _split(X.shape[0], validation_fraction, stratify, rng)
        history.validation_indices = validation_rows
    else:
        train_rows = np.arange(X.shape[0])
    trainer_class = _TorchBackend if history.backend == "torch" else _NumpyBackend
    trainer = trainer_class(layers, values, activation, loss, alpha, learning_rate)

    if early_stopping:
        best_values = trainer.get_values()
        best = history.initial_validation_loss = _mean_loss(trainer, loss, X, Y, validation_rows)
        n_no_improvement = 0
    progress = tqdm(range(1, epochs + 1), desc="fine-tuning", unit="epoch", disable=verbose <= 0)
    for epoch in progress:
        order = train_rows[rng.permutation(train_rows.size)]
        total = 0.0
        for batch in gen_batches(order.size, batch_size):
            rows = order[batch]
            total += trainer.train_batch(_rows(X, rows), Y[rows]) * rows.size
        history.loss_curve.append(total / order.size)
        if not early_stopping:
            progress.set_postfix(loss=f"{history.loss_curve[-1]:.4g}")
            history.best_epoch = epoch
            continue
        current = _mean_loss(trainer, loss, X, Y, validation_rows)
        history.validation_loss_curve.append(current)
        progress.set_postfix(loss=f"{history.loss_curve[-1]:.4g}", val_loss=f"{current:.4g}")
        n_no_improvement = 0 if current < best - tol else n_no_improvement + 1
        if current < best:
            best, best_values, history.best_epoch = current, trainer.get_values(), epoch
        if n_no_improvement >= n_iter_no_change:
            break
    progress.close()

    if early_stopping:
        trainer.set_values(best_values)
        history.best_validation_loss = best
    final = trainer.get_values()
    for W, b, layer, weights, biases in zip(
        coefs, intercepts, layers, final[::2], final[1::2], strict=True
    ):
        W.data[...] = weights
        b[layer.bias_index] = biases
    return history


# -- estimator entry point -----------------------------------------------------


def encode_targets(estimator, y, n_samples):
    """Check ``y`` against the estimator's head and encode it for the loss.

    Returns
    -------
    Y : ndarray of shape (n_samples, n_outputs)
        One-hot rows, a positive-class column, an indicator matrix or values.
    stratify : ndarray of shape (n_samples,) or None
        Class index of every row for binary and multiclass heads.

    Raises
    ------
    ValueError
        If ``y`` has the wrong length, shape or type for the head, contains
        labels that are not in ``classes_``, or (Poisson loss) negative
        values.
    """
    head, n_outputs = estimator.head_, estimator.n_outputs_
    dtype = estimator.coefs_[0].dtype
    y = check_array(
        y,
        ensure_2d=False,
        dtype=None,
        accept_sparse=["csr", "csc"] if head.kind == "multilabel" else False,
        ensure_all_finite=head.kind == "regression",
        input_name="y",
    )
    if y.shape[0] != n_samples:
        raise ValueError(f"y has {y.shape[0]} samples but X has {n_samples}")

    if head.kind == "regression":
        if y.dtype.kind not in "biuf":
            raise ValueError(f"a regressor needs numeric targets; y has dtype {y.dtype}")
        if y.ndim == 1:
            y = y.reshape(-1, 1)
        if y.ndim != 2 or y.shape[1] != n_outputs:
            raise ValueError(
                f"the regressor has {n_outputs} output(s); y has shape {y.shape}"
            )
        if estimator.out_activation_ == "exp" and np.any(y < 0):
            raise ValueError("the Poisson loss needs non-negative targets; y has negative values")
        return y.astype(dtype), None

    if head.kind == "multilabel":
        if sp.issparse(y):
            y = y.toarray()
        if y.ndim != 2 or y.shape[1] != n_outputs:
            raise ValueError(
                f"a multilabel head needs y as an indicator matrix of shape "
                f"(n_samples, {n_outputs}); y has shape {y.shape}"
            )
        if y.dtype.kind not in "biuf" or not np.isin(y, (0, 1)).all():
            raise ValueError("a multilabel indicator matrix y must contain only 0 and 1")
        return y.astype(dtype), None

    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(
            f"a {head.kind} classifier needs y as 1-D class labels; y has shape {y.shape}"
        )
    classes = np.asarray(head.classes)
    lookup = {label: index for index, label in enumerate(classes.tolist())}
    labels, inverse = np.unique(y, return_inverse=True)
    codes = np.array([lookup.get(label, -1) for label in labels.tolist()], dtype=np.intp)
    if np.any(codes < 0):
        unknown = labels[codes < 0]
        raise ValueError(
            f"y contains labels not in classes_ {classes.tolist()}: {unknown[:10].tolist()}"
        )
    classes_of_rows = codes[inverse.ravel()]
    if n_outputs == 1:
        return (classes_of_rows == 1).astype(dtype).reshape(-1, 1), classes_of_rows
    return np.eye(n_outputs, dtype=dtype)[classes_of_rows], classes_of_rows


@validate_params(
    {
        "estimator": "no_validation",
        "X": ["array-like", "sparse matrix"],
        "y": ["array-like", "sparse matrix"],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "early_stopping": ["boolean"],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "backend": [StrOptions({"auto", "numpy", "torch"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    },
    prefer_skip_nested_validation=True,
)
def fine_tune_estimator(
    estimator,
    X,
    y,
    *,
    epochs=5,
    learning_rate=1e-3,
    batch_size=300,
    validation_fraction=0.1,
    early_stopping=True,
    n_iter_no_change=3,
    tol=1e-4,
    alpha=0.0,
    backend="auto",
    random_state=None,
    verbose=0,
):
    """Fine-tune a compressed estimator in place, its sparsity pattern fixed.

    The paper's retraining step (Baykal et al. 2019, Appendix B.4): the
    weights kept by the compression are trained further with Adam while the
    removed ones stay zero. The loss follows the estimator's head:
    cross-entropy for softmax (and log-softmax) classifiers, binary
    cross-entropy for binary and multilabel classifiers, ½ mean squared error
    for regressors, and half Poisson deviance for regressors with an ``exp``
    output (as ``MLPRegressor(loss="poisson")``).

    Parameters
    ----------
    estimator : SparseMLPClassifier or SparseMLPRegressor
        A compressed estimator; its ``coefs_`` and ``intercepts_`` are
        updated in place.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Training inputs. Not modified.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Class labels from ``classes_``, a label-indicator matrix for a
        multilabel head, or numeric targets for a regressor. Not modified.
    epochs, learning_rate, batch_size, validation_fraction, early_stopping, \
n_iter_no_change, tol, alpha, backend, random_state, verbose
        As in :func:`fine_tune_network`.

    Returns
    -------
    estimator
        The same estimator, with ``fine_tune_history_`` (a
        :class:`FineTuneHistory`) set.

    Raises
    ------
    ValueError
        If ``y`` does not fit the estimator's head (see :func:`encode_targets`).

    References
    ----------
    C. Baykal, L. Liebenwein, I. Gilitschenski, D. Feldman, D. Rus.
    "Data-dependent coresets for compressing neural networks with
    applications to generalization bounds", ICLR 2019, Appendix B.4.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.neural_network import MLPClassifier
    >>> from sklearn_corenet import CoreNetCompressor
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> mlp = MLPClassifier((16,), max_iter=50, random_state=0).fit(X, y)
    >>> compressor = CoreNetCompressor(keep_ratio=0.2, method="corenet++", random_state=0)
    >>> sparse = compressor.fit_transform(mlp, X)
    >>> nnz = sparse.nnz_
    >>> sparse = sparse.fine_tune(X, y, epochs=10, learning_rate=1e-2, random_state=0)
    >>> sparse.nnz_ == nnz
    True
    """
    dtype = estimator.coefs_[0].dtype
    X = validate_data(
        estimator, X, accept_sparse=["csr", "csc"], dtype=dtype, reset=False
    )
    loss = loss_for(estimator.head_, estimator.out_activation_, estimator.n_outputs_)
    Y, classes_of_rows = encode_targets(estimator, y, X.shape[0])
    estimator.fine_tune_history_ = fine_tune_network(
        estimator.coefs_,
        estimator.intercepts_,
        X,
        Y,
        activation=estimator.activation,
        loss=loss,
        epochs=epochs,
        learning_rate=learning_rate,
        batch_size=batch_size,
        validation_fraction=validation_fraction,
        early_stopping=early_stopping,
        n_iter_no_change=n_iter_no_change,
        tol=tol,
        alpha=alpha,
        stratify=classes_of_rows,
        backend=backend,
        random_state=random_state,
        verbose=verbose,
    )
    # dense copies made for inference hold the old weights
    estimator._clear_caches()
    return estimator
