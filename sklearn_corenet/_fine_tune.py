"""Retraining a compressed network with its sparsity pattern fixed.

After sparsification the paper trains the kept weights for a few more epochs
with Adam while the removed weights stay zero (Baykal et al. 2019,
Appendix B.4), which recovers most of the accuracy lost to compression at an
unchanged number of parameters. This module implements that step over the
``scipy.sparse`` weights of :class:`SparseMLPClassifier` /
:class:`SparseMLPRegressor`: only the stored entries of each weight matrix
and the non-zero biases are parameters, so no new non-zero can appear.

This module holds the training loop (mini-batches, the validation split and
early stopping); the losses are in ``_losses``, Adam in ``_optimizers``, and
the two interchangeable backends computing the gradients (numpy/scipy, and
torch with dense weights assembled from the kept values) in
``_fine_tune_backends``.
"""

from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state, gen_batches
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import validate_data
from tqdm.auto import tqdm

from ._fine_tune_backends import BACKENDS, KeptLayer, choose_backend
from ._losses import loss_for, output_loss
from ._network import chunk_rows
from ._targets import encode_targets


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


# -- training loop -----------------------------------------------------------


def _rows(X, indices):
    """Rows of X as a dense C-ordered array."""
    batch = X[indices]
    return batch.toarray() if sp.issparse(batch) else np.ascontiguousarray(batch)


def _mean_loss(trainer, X, Y, indices):
    """Loss over the rows ``indices`` (no penalty), computed in row chunks."""
    widest = max(max(layer.shape) for layer in trainer.layers)
    chunk = chunk_rows(3 * widest * Y.itemsize, indices.size)
    total = 0.0
    for rows in gen_batches(indices.size, chunk):
        raw = trainer.decision(_rows(X, indices[rows]))
        total += output_loss(trainer.loss, raw, Y[indices[rows]])[0] * raw.shape[0]
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


def _train(
    trainer, X, Y, train_rows, validation_rows, history, rng,
    *, epochs, batch_size, n_iter_no_change, tol, verbose,
):
    """Run the epochs, recording them in ``history``; leave the best weights.

    Without validation rows every epoch is run and the last weights kept.
    With them, the validation loss is measured after every epoch, training
    stops after ``n_iter_no_change`` epochs without an improvement of at
    least ``tol``, and the weights with the lowest validation loss (possibly
    the initial ones) are restored.
    """
    early_stopping = validation_rows is not None
    if early_stopping:
        best_values = trainer.get_values()
        best = history.initial_validation_loss = _mean_loss(trainer, X, Y, validation_rows)
        n_no_improvement = 0
    progress = tqdm(range(1, epochs + 1), desc="fine-tuning", unit="epoch", disable=verbose <= 0)
    for epoch in progress:
        training_loss = _train_epoch(trainer, X, Y, train_rows, rng, batch_size)
        history.loss_curve.append(training_loss)
        if not early_stopping:
            progress.set_postfix(loss=f"{training_loss:.4g}")
            history.best_epoch = epoch
            continue
        current = _mean_loss(trainer, X, Y, validation_rows)
        history.validation_loss_curve.append(current)
        progress.set_postfix(loss=f"{training_loss:.4g}", val_loss=f"{current:.4g}")
        n_no_improvement = 0 if current < best - tol else n_no_improvement + 1
        if current < best:
            best, best_values, history.best_epoch = current, trainer.get_values(), epoch
        if n_no_improvement >= n_iter_no_change:
            break
    progress.close()
    if early_stopping:
        trainer.set_values(best_values)
        history.best_validation_loss = best


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
    layers, values = _kept_values(coefs, intercepts)
    Y = np.asarray(Y, dtype=coefs[0].dtype).reshape(X.shape[0], -1)
    if sp.issparse(X) and X.format != "csr":
        X = sp.csr_array(X)  # mini-batches are row selections

    rng = check_random_state(random_state)
    history = FineTuneHistory(backend=choose_backend(backend, [W.shape for W in coefs]))
    train_rows, validation_rows = np.arange(X.shape[0]), None
    if early_stopping:
        train_rows, validation_rows = _split(X.shape[0], validation_fraction, stratify, rng)
        history.validation_indices = validation_rows
    trainer = BACKENDS[history.backend](layers, values, activation, loss, alpha, learning_rate)
    _train(
        trainer, X, Y, train_rows, validation_rows, history, rng,
        epochs=epochs, batch_size=batch_size, n_iter_no_change=n_iter_no_change,
        tol=tol, verbose=verbose,
    )

    final = trainer.get_values()
    for W, b, layer, weights, biases in zip(
        coefs, intercepts, layers, final[::2], final[1::2], strict=True
    ):
        W.data[...] = weights
        b[layer.bias_index] = biases
    return history


# -- estimator entry point -----------------------------------------------------


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
    Y, stratify = encode_targets(
        y,
        estimator.head_,
        n_outputs=estimator.n_outputs_,
        n_samples=X.shape[0],
        loss=loss,
        dtype=dtype,
    )
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
        stratify=stratify,
        backend=backend,
        random_state=random_state,
        verbose=verbose,
    )
    # dense copies made for inference hold the old weights
    estimator._clear_caches()
    return estimator
