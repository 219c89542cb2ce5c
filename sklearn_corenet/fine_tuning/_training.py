"""The training loop of fine-tuning: mini-batches, the validation split, early stopping, the choice of the state kept, and the history of a run."""

import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils import gen_batches
from tqdm.auto import tqdm

from ..core._activations import apply_activation
from ..core._network import chunk_rows
from ._backends import KeptLayer
from ._losses import output_loss
from ._settings import BATCH_SIZE_BOUNDS, LEARNING_RATE_BOUNDS, STEPS_PER_EPOCH


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
        # targets above the threshold: labels of 1, or a teacher's probabilities
        return float(np.mean(np.all((outputs > threshold) == (Y > threshold), axis=1)))
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
