"""Retraining a compressed network with its sparsity pattern fixed.

After sparsification the paper trains the kept weights for a few more epochs
with Adam while the removed weights stay zero (Baykal et al. 2019,
Appendix B.4), which recovers most of the accuracy lost to compression at an
unchanged number of parameters. This module implements that step over the
``scipy.sparse`` weights of :class:`SparseMLPClassifier` /
:class:`SparseMLPRegressor`: only the stored entries of each weight matrix
and the non-zero biases are parameters, so no new non-zero can appear.

Fine-tuning never makes a model worse on its validation split: the model as
it was given is scored on the held-out rows before training (epoch 0), every
epoch after it is scored the same way, and the best of them is kept, the
given model included. A step size too large for the data, or a start that
training cannot bring back, then leaves the model as it was instead of
returning a worse one.

This module holds the training loop (mini-batches, the validation split,
early stopping and the choice of the state kept); the losses are in
``_losses``, Adam in ``_optimizers``, and the two interchangeable backends
computing the gradients (numpy/scipy, and torch with dense weights assembled
from the kept values) in ``_fine_tune_backends``.
"""

import copy
import warnings
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state, gen_batches
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import check_is_fitted, validate_data
from tqdm.auto import tqdm

from ..core._activations import apply_activation
from ..core._network import chunk_rows
from ._backends import BACKENDS, KeptLayer, choose_backend
from ._losses import loss_for, output_loss
from ._targets import encode_targets

# Defaults, measured on small tabular data (hundreds to a few thousand rows)
# with ``python -m benchmarks.fine_tune_start --sweep`` (the table in
# docs/choosing_a_method.md, "Fine-tuning"); the step size shrinks for large
# data (``resolve_learning_rate``, measured on MNIST in the same section).
EPOCHS = 100
LEARNING_RATE = "auto"
# learning_rate="auto": this step size up to STEPS_PER_EPOCH mini-batches per
# epoch, falling in proportion to the steps beyond, never below the floor
# (Adam's usual step size, scikit-learn's MLP default)
LEARNING_RATE_BOUNDS = (1e-3, 1e-2)
VALIDATION_FRACTION = 0.2
N_ITER_NO_CHANGE = 10
# batch_size="auto": about this many mini-batches per epoch, within the bounds
STEPS_PER_EPOCH = 50
BATCH_SIZE_BOUNDS = (16, 200)


@dataclass
class FineTuneHistory:
    """What :func:`fine_tune_network` did.

    Epoch 0 is the model as it was given; with a validation split it is a
    candidate like every other epoch, so ``best_epoch == 0`` means that the
    model was left as it was.

    Attributes
    ----------
    loss_curve : list of float
        Training loss (with the L2 penalty) of every epoch, averaged over the
        epoch's mini-batches.
    validation_loss_curve : list of float
        Validation loss after every epoch (empty without early stopping).
    validation_score_curve : list of float
        Validation score after every epoch: accuracy for a classifier
        (every label right, for several sigmoid outputs), R² for a regressor,
        as the estimator's ``score``; empty without early stopping.
    initial_validation_loss, initial_validation_score : float or None
        Validation loss and score of the model as it was given (epoch 0).
    best_validation_loss, best_validation_score : float or None
        Validation loss and score of the weights kept.
    best_epoch : int
        Epoch whose weights were kept (0: the model as it was given).
    validation_indices : ndarray of int of shape (n_validation,)
        Rows of ``X`` held out for early stopping.
    batch_size : int
        Rows per mini-batch (``batch_size="auto"`` resolved).
    learning_rate : float
        Adam's step size (``learning_rate="auto"`` resolved).
    init : {"current", "selected"}
        Where training started: the model's own weights, or the kept edges'
        values before the least-squares re-fit.
    diverged_epoch : int or None
        First epoch whose weights or training loss were not finite (training
        stopped there), None if training did not diverge.
    backend : str
        "numpy" or "torch".
    """

    loss_curve: list = field(default_factory=list)
    validation_loss_curve: list = field(default_factory=list)
    validation_score_curve: list = field(default_factory=list)
    initial_validation_loss: float | None = None
    initial_validation_score: float | None = None
    best_validation_loss: float | None = None
    best_validation_score: float | None = None
    best_epoch: int = 0
    validation_indices: np.ndarray = field(
        default_factory=lambda: np.empty(0, dtype=np.intp)
    )
    batch_size: int = 0
    learning_rate: float = 0.0
    init: str = "current"
    diverged_epoch: int | None = None
    backend: str = "numpy"

    @property
    def n_epochs(self):
        """Number of epochs run."""
        return len(self.loss_curve)


# -- training loop -----------------------------------------------------------


def _rows(X, indices):
    """Rows of X as a dense C-ordered array."""
    batch = X[indices]
    return batch.toarray() if sp.issparse(batch) else np.ascontiguousarray(batch)


def validation_score(loss, raw, Y, *, out_activation, threshold=0.5):
    """The estimator's ``score`` of the raw outputs ``raw`` against encoded targets.

    Parameters
    ----------
    loss : str
        The training loss, which says how the outputs are read (one of
        ``LOSSES``).
    raw : ndarray of shape (n_samples, n_outputs)
        Last layer's values before the output activation.
    Y : ndarray of shape (n_samples, n_outputs)
        Encoded targets, as :func:`encode_targets` gives them.
    out_activation : str
        The network's output activation, applied before the threshold of
        sigmoid outputs and to the values of a regressor.
    threshold : float, default=0.5
        Probability above which a sigmoid output is positive.

    Returns
    -------
    float
        Accuracy (softmax: the arg-max class; sigmoid outputs: every output
        on the right side of the threshold) or R² (uniform average over the
        outputs), as ``SparseMLPClassifier.score`` / ``SparseMLPRegressor.score``;
        ``-inf`` when an output is not finite.
    """
    if not np.all(np.isfinite(raw)):
        return -np.inf
    if loss == "cross_entropy":
        # softmax and log-softmax keep the order of the raw values
        return float(np.mean(raw.argmax(axis=1) == Y.argmax(axis=1)))
    outputs = apply_activation(out_activation, np.array(raw, copy=True))
    if loss == "binary_cross_entropy":
        return float(np.mean(np.all((outputs > threshold) == (Y == 1), axis=1)))
    if not np.all(np.isfinite(outputs)):
        return -np.inf  # exp of a huge value
    return float(r2_score(Y, outputs))


@dataclass
class _Validation:
    """The held-out rows and how a state of the network is judged on them."""

    rows: np.ndarray
    loss: str
    out_activation: str
    threshold: float

    def measure(self, trainer, X, Y):
        """Validation score and loss (no penalty) of the trainer's weights."""
        widest = max(max(layer.shape) for layer in trainer.layers)
        chunk = chunk_rows(3 * widest * Y.itemsize, self.rows.size)
        raw = np.concatenate(
            [trainer.decision(_rows(X, self.rows[rows])) for rows in gen_batches(self.rows.size, chunk)]
        )
        Y_validation = Y[self.rows]
        with np.errstate(over="ignore", invalid="ignore"):
            loss = output_loss(self.loss, raw, Y_validation)[0]
        score = validation_score(
            self.loss, raw, Y_validation, out_activation=self.out_activation, threshold=self.threshold
        )
        if not np.isfinite(loss):
            score, loss = -np.inf, np.inf
        return score, float(loss)


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


def resolve_batch_size(batch_size, n_train):
    """Rows per mini-batch: ``batch_size``, or for "auto" about ``STEPS_PER_EPOCH`` steps.

    "auto" is ``n_train // STEPS_PER_EPOCH`` clipped to ``BATCH_SIZE_BOUNDS``
    (16 to 200 rows; 200 is scikit-learn's MLP default), and never more than
    ``n_train``: small data sets get enough Adam steps per epoch, large ones
    the batch of scikit-learn's MLP.
    """
    if batch_size != "auto":
        return int(min(batch_size, n_train))
    low, high = BATCH_SIZE_BOUNDS
    return int(min(np.clip(n_train // STEPS_PER_EPOCH, low, high), n_train))


def resolve_learning_rate(learning_rate, n_train, batch_size):
    """Adam's step size: ``learning_rate``, or for "auto" one sized by the steps per epoch.

    "auto" is 1e-2 up to ``STEPS_PER_EPOCH`` (50) mini-batches per epoch and
    falls in proportion to the steps beyond, down to 1e-3 (from 500 steps
    on): an epoch then moves the weights about as far whatever the number
    of rows, the linear scaling of step size with batch size (Goyal et al.,
    "Accurate, large minibatch SGD", 2017). With ``batch_size="auto"`` that
    is 1e-2 up to 10,000 training rows, 2.1e-3 for 48,000 (MNIST) and 1e-3
    from 100,000 on. 1e-2 suits small tabular data; on MNIST it leaves most
    compressed models where they were after 5 epochs, where 1e-3 to 2e-3
    recovers them (see the docs page "Choosing a method", "Fine-tuning").
    """
    if learning_rate != "auto":
        return float(learning_rate)
    low, high = LEARNING_RATE_BOUNDS
    steps = -(-n_train // batch_size)
    return float(np.clip(high * STEPS_PER_EPOCH / steps, low, high))


def _kept_values(coefs, intercepts):
    """Where the trainable entries of every layer are, and their values.

    The values are ``[w_0, b_0, w_1, b_1, ...]``: the stored entries of each
    CSR weight matrix in CSR order and its non-zero biases.
    """
    for W in coefs:
        if not W.has_canonical_format:
            W.sum_duplicates()
    layers = [KeptLayer.from_arrays(W, b) for W, b in zip(coefs, intercepts, strict=True)]
    dtype = coefs[0].dtype
    values = []
    for W, b, layer in zip(coefs, intercepts, layers, strict=True):
        values += [W.data.astype(dtype), b[layer.bias_index].astype(dtype)]
    return layers, values


def _train_epoch(trainer, X, Y, rows, rng, batch_size):
    """One pass over ``rows`` in random mini-batches; the mean training loss."""
    order = rows[rng.permutation(rows.size)]
    total = 0.0
    for batch in gen_batches(order.size, batch_size):
        batch_rows = order[batch]
        total += trainer.train_batch(_rows(X, batch_rows), Y[batch_rows]) * batch_rows.size
    return total / order.size


def _finite(values, loss):
    return np.isfinite(loss) and all(np.all(np.isfinite(v)) for v in values)


def _train(
    trainer, X, Y, train_rows, validation, history, rng, start,
    *, epochs, batch_size, n_iter_no_change, tol, verbose,
):
    """Run the epochs, recording them in ``history``; return the values to keep.

    With a validation split the trainer's weights as given are epoch 0: they
    are scored before training starts (from ``start`` when given), and the
    weights kept are those of the best epoch, 0 included: the highest
    validation score, ties broken by the lower validation loss. Training
    stops after ``n_iter_no_change`` epochs in which neither the highest
    score nor the lowest loss reached since training started (from
    ``start``) improved by more than ``tol``. Without a validation split
    every epoch is run and the last one kept.

    Training also stops at the first epoch whose weights or loss are not
    finite (a step size too large); that epoch is never kept.
    """
    kept = trainer.get_values()
    if validation is not None:
        best_score, best_loss = validation.measure(trainer, X, Y)
        history.initial_validation_score, history.initial_validation_loss = best_score, best_loss
    if start is not None:
        trainer.set_values(start)
    if validation is not None:
        # progress is judged along the training run, which may start below
        # the model as given
        highest_score, lowest_loss = (
            (best_score, best_loss) if start is None else validation.measure(trainer, X, Y)
        )
        n_no_change = 0
    progress = tqdm(range(1, epochs + 1), desc="fine-tuning", unit="epoch", disable=verbose <= 0)
    for epoch in progress:
        with np.errstate(over="ignore", invalid="ignore"):
            training_loss = _train_epoch(trainer, X, Y, train_rows, rng, batch_size)
        history.loss_curve.append(training_loss)
        values = trainer.get_values()
        if not _finite(values, training_loss):
            history.diverged_epoch = epoch
            break
        if validation is None:
            progress.set_postfix(loss=f"{training_loss:.4g}")
            kept, history.best_epoch = values, epoch
            continue
        score, loss = validation.measure(trainer, X, Y)
        history.validation_score_curve.append(score)
        history.validation_loss_curve.append(loss)
        progress.set_postfix(loss=f"{training_loss:.4g}", val_loss=f"{loss:.4g}", val_score=f"{score:.4g}")
        if score > best_score or (score == best_score and loss < best_loss):
            kept, history.best_epoch = values, epoch
        if history.best_epoch == epoch:
            best_score, best_loss = score, loss
        progressed = score > highest_score + tol or loss < lowest_loss - tol
        n_no_change = 0 if progressed else n_no_change + 1
        highest_score, lowest_loss = max(highest_score, score), min(lowest_loss, loss)
        if n_no_change >= n_iter_no_change:
            break
    progress.close()
    if validation is not None:
        history.best_validation_score, history.best_validation_loss = best_score, best_loss
    if history.diverged_epoch is not None:
        warnings.warn(
            f"fine-tuning diverged at epoch {history.diverged_epoch} (the weights or the "
            f"training loss are not finite); the weights of epoch {history.best_epoch} are "
            "kept. Use a smaller learning_rate.",
            ConvergenceWarning,
            stacklevel=4,
        )
    return kept


def fine_tune_network(
    coefs,
    intercepts,
    X,
    Y,
    *,
    activation,
    loss,
    out_activation=None,
    threshold=0.5,
    start=None,
    epochs=EPOCHS,
    learning_rate=LEARNING_RATE,
    batch_size="auto",
    validation_fraction=VALIDATION_FRACTION,
    early_stopping=True,
    n_iter_no_change=N_ITER_NO_CHANGE,
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
    pattern, and with it the compression, is unchanged. The weights kept
    are written into ``coefs[l].data`` and ``intercepts[l]`` in place at the
    end; a kept weight that passes through zero stays a stored entry.

    With early stopping (the default) the network is never made worse on
    its validation split: the weights as given are scored on it before
    training (epoch 0), and the best epoch is kept, 0 included.

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
    out_activation : str, default=None
        Output activation, for the validation score (see
        :func:`validation_score`); None takes the loss's own: logistic for
        "binary_cross_entropy", exp for "poisson", identity otherwise.
    threshold : float, default=0.5
        Probability above which a sigmoid output is positive (validation
        score).
    start : list of ndarray, default=None
        Kept values to start training from, ``[w_0, b_0, w_1, b_1, ...]`` in
        the order of the stored entries and non-zero biases; None starts
        from ``coefs`` and ``intercepts``. Epoch 0 is the weights as given
        either way.
    epochs : int, default=100
        Maximum number of passes over the training rows.
    learning_rate : float or "auto", default="auto"
        Adam's step size α (β1 = 0.9, β2 = 0.999, ε = 1e-8). "auto": 1e-2
        up to 50 mini-batches per epoch, smaller in proportion beyond, down
        to 1e-3 (see :func:`resolve_learning_rate`).
    batch_size : int or "auto", default="auto"
        Rows per mini-batch (the last batch of an epoch may be smaller).
        "auto": a fiftieth of the training rows, between 16 and 200 (see
        :func:`resolve_batch_size`).
    validation_fraction : float, default=0.2
        Fraction of rows held out for early stopping and the choice of the
        weights kept.
    early_stopping : bool, default=True
        Hold out ``validation_fraction`` of the rows, score the weights on
        them before training and after every epoch, stop after
        ``n_iter_no_change`` epochs without progress, and keep the best
        epoch (the highest validation score, ties broken by the lower
        validation loss), epoch 0 (the weights as given) included. Without
        early stopping every row is trained on for ``epochs`` epochs and the
        last weights are kept.
    n_iter_no_change : int, default=10
        Epochs in which neither the validation score rose nor the lowest
        validation loss fell by more than ``tol`` before stopping (early
        stopping only).
    tol : float, default=1e-4
        Change of the validation score or loss that counts as progress
        (early stopping only).
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
        Loss and score curves, the best epoch and the validation rows.

    Warns
    -----
    ConvergenceWarning
        When the weights or the training loss stop being finite; training
        stops there and the best finite epoch is kept.

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
    ...                             loss="squared_error", learning_rate=1e-2,
    ...                             random_state=0)
    >>> history.best_validation_score > history.initial_validation_score
    True
    >>> [W.nnz for W in coefs], int(np.count_nonzero(intercepts[1]))
    ([16, 4], 0)
    """
    layers, values = _kept_values(coefs, intercepts)
    Y = np.asarray(Y, dtype=coefs[0].dtype).reshape(X.shape[0], -1)
    if sp.issparse(X) and X.format != "csr":
        X = sp.csr_array(X)  # mini-batches are row selections
    if out_activation is None:
        out_activation = {"binary_cross_entropy": "logistic", "poisson": "exp"}.get(loss, "identity")

    rng = check_random_state(random_state)
    history = FineTuneHistory(
        backend=choose_backend(backend, [W.shape for W in coefs]),
        init="current" if start is None else "selected",
    )
    train_rows, validation = np.arange(X.shape[0]), None
    if early_stopping:
        train_rows, validation_rows = _split(X.shape[0], validation_fraction, stratify, rng)
        history.validation_indices = validation_rows
        validation = _Validation(validation_rows, loss, out_activation, threshold)
    history.batch_size = resolve_batch_size(batch_size, train_rows.size)
    history.learning_rate = resolve_learning_rate(learning_rate, train_rows.size, history.batch_size)
    trainer = BACKENDS[history.backend](layers, values, activation, loss, alpha, history.learning_rate)
    kept = _train(
        trainer, X, Y, train_rows, validation, history, rng, start,
        epochs=epochs, batch_size=history.batch_size, n_iter_no_change=n_iter_no_change,
        tol=tol, verbose=verbose,
    )

    for W, b, layer, weights, biases in zip(
        coefs, intercepts, layers, kept[::2], kept[1::2], strict=True
    ):
        W.data[...] = weights
        b[layer.bias_index] = biases
    return history


# -- estimator entry point -----------------------------------------------------


def _selected_start(estimator):
    """The kept values before the least-squares re-fit, in the trainer's order."""
    start = []
    for b, (weights, biases) in zip(estimator.intercepts_, estimator.selected_values_, strict=True):
        start += [np.array(weights, copy=True), biases[np.flatnonzero(b)]]
    return start


def _resolve_init(estimator, init):
    """"current" or "selected" for the requested ``init``."""
    has_selected = getattr(estimator, "selected_values_", None) is not None
    if init == "selected" and not has_selected:
        raise ValueError(
            "init='selected' needs a model compressed with reweight='lstsq' that "
            "fine-tuning has not changed yet (a saved and loaded model keeps no "
            "values before the re-fit)"
        )
    if init == "auto":
        return "selected" if has_selected else "current"
    return init


@validate_params(
    {
        "estimator": "no_validation",
        "X": ["array-like", "sparse matrix"],
        "y": ["array-like", "sparse matrix"],
        "init": [StrOptions({"auto", "current", "selected"})],
        "keep_one_shot": ["boolean"],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
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
    init="auto",
    keep_one_shot=True,
    epochs=EPOCHS,
    learning_rate=LEARNING_RATE,
    batch_size="auto",
    validation_fraction=VALIDATION_FRACTION,
    early_stopping=True,
    n_iter_no_change=N_ITER_NO_CHANGE,
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

    The estimator is never made worse on the validation split: the model
    as given is scored on it before training (epoch 0), and the best epoch
    is kept, 0 included, by the estimator's own ``score`` (accuracy or R²),
    ties broken by the validation loss. The first call that changes the
    weights keeps the model as it was in ``one_shot_estimator_``.

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
    init : {"auto", "current", "selected"}, default="auto"
        Where training starts; see ``SparseMLPClassifier.fine_tune``.
    keep_one_shot : bool, default=True
        Whether the first call that changes the weights keeps a copy of the
        model as it was in ``one_shot_estimator_`` (None when False).
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
        If ``y`` does not fit the estimator's head (see :func:`encode_targets`),
        or ``init="selected"`` without values before a re-fit. The estimator
        is then unchanged.

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
    >>> sparse = sparse.fine_tune(X, y, epochs=20, random_state=0)
    >>> sparse.nnz_ == nnz
    True
    >>> history = sparse.fine_tune_history_
    >>> history.best_validation_score >= history.initial_validation_score
    True
    """
    check_is_fitted(estimator)
    dtype = estimator.coefs_[0].dtype
    X = validate_data(
        estimator, X, accept_sparse=["csr", "csc"], dtype=dtype, reset=False
    )
    loss = loss_for(estimator.head_, estimator.out_activation_, estimator.n_outputs_)
    Y, stratify = encode_targets(
        y,
        estimator.head_,
        n_outputs=estimator.n_outputs_,
        n_samples=X.shape[0],
        loss=loss,
        dtype=dtype,
    )
    init = _resolve_init(estimator, init)
    start = _selected_start(estimator) if init == "selected" else None
    # the model as compression made it, until fine-tuning first changes it
    first_change = "one_shot_estimator_" not in estimator.__dict__
    one_shot = None
    if first_change and keep_one_shot:
        one_shot = copy.deepcopy(estimator)
        one_shot.__dict__.pop("fine_tune_history_", None)

    history = fine_tune_network(
        estimator.coefs_,
        estimator.intercepts_,
        X,
        Y,
        activation=estimator.activation,
        loss=loss,
        out_activation=estimator.out_activation_,
        threshold=estimator.head_.threshold,
        start=start,
        epochs=epochs,
        learning_rate=learning_rate,
        batch_size=batch_size,
        validation_fraction=validation_fraction,
        early_stopping=early_stopping,
        n_iter_no_change=n_iter_no_change,
        tol=tol,
        alpha=alpha,
        stratify=stratify,
        backend=backend,
        random_state=random_state,
        verbose=verbose,
    )
    estimator.fine_tune_history_ = history
    if history.best_epoch > 0:
        if first_change:
            estimator.one_shot_estimator_ = one_shot
        if init == "selected":
            # used: "auto" must not restart from them and undo this training
            estimator.selected_values_ = None
        # dense copies made for inference hold the old weights
        estimator._clear_caches()
    return estimator
