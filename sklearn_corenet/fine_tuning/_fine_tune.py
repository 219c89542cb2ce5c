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

This module holds the two entry points, for a compressed estimator and for
bare sparse layers; the training loop (mini-batches, the validation split,
early stopping and the choice of the state kept) is in ``_training``, its
settings in ``_settings``, the losses in ``_losses``, Adam in
``_optimizers``, and the two interchangeable backends computing the
gradients (numpy/scipy, and torch with dense weights assembled from the kept
values) in ``_backends``.
"""

import copy

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import StrOptions, validate_params
from sklearn.utils.validation import check_is_fitted, validate_data

from ..adapters._pipeline import final_network
from ..adapters._registry import network_of
from ._backends import BACKENDS, choose_backend
from ._losses import loss_for
from ._settings import FineTuneSettings
from ._targets import encode_targets, teacher_targets
from ._training import (
    FineTuneHistory,
    _kept_values,
    _split,
    _train,
    _Validation,
    resolve_batch_size,
    resolve_learning_rate,
)

# -- training loop -----------------------------------------------------------


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
    stratify=None,
    settings=None,
    validation=None,
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
    X : {ndarray, sparse matrix, MixedRows} of shape (n_samples, n_features)
        Training inputs, of the weights' dtype, read a mini-batch of rows at
        a time (``X[indices]``). Not modified.
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
    stratify : ndarray of shape (n_samples,), default=None
        Class of every row, to stratify the validation split when every class
        allows it.
    settings : FineTuneSettings, default=None
        Epochs, step size, mini-batches, early stopping, backend, seed and
        progress output (see :class:`FineTuneSettings`); None takes the
        defaults.
    validation : _Validation, default=None
        With early stopping, the validation rows and how an epoch is scored
        on them, instead of a ``validation_fraction`` split scored by the
        validation score; the other rows train.

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
    >>> settings = FineTuneSettings(learning_rate=1e-2, random_state=0)
    >>> history = fine_tune_network(coefs, intercepts, X, Y, activation="relu",
    ...                             loss="squared_error", settings=settings)
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

    settings = FineTuneSettings() if settings is None else settings
    rng = check_random_state(settings.random_state)
    history = FineTuneHistory(
        backend=choose_backend(settings.backend, [W.shape for W in coefs]),
        init="current" if start is None else "selected",
    )
    train_rows = np.arange(X.shape[0])
    if not settings.early_stopping:
        validation = None
    elif validation is None:
        train_rows, validation_rows = _split(X.shape[0], settings.validation_fraction, stratify, rng)
        validation = _Validation(validation_rows, loss, out_activation, threshold)
    else:
        train_rows = np.setdiff1d(train_rows, validation.rows)
    if validation is not None:
        history.validation_indices = validation.rows
    history.batch_size = resolve_batch_size(settings.batch_size, train_rows.size)
    history.learning_rate = resolve_learning_rate(settings.learning_rate, train_rows.size, history.batch_size)
    trainer = BACKENDS[history.backend](layers, values, activation, loss, settings.alpha, history.learning_rate)
    kept = _train(
        trainer, X, Y, train_rows, validation, history, rng, start,
        epochs=settings.epochs, batch_size=history.batch_size,
        n_iter_no_change=settings.n_iter_no_change, tol=settings.tol, verbose=settings.verbose,
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
        "y": ["array-like", "sparse matrix", None],
        "init": [StrOptions({"auto", "current", "selected"})],
        "teacher": "no_validation",
        "keep_one_shot": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def fine_tune_estimator(estimator, X, y=None, *, init="auto", keep_one_shot=True, teacher=None, **settings):
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
    y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
        Class labels from ``classes_``, a label-indicator matrix for a
        multilabel head, or numeric targets for a regressor. Not modified.
        None with ``teacher``.
    init : {"auto", "current", "selected"}, default="auto"
        Where training starts; see ``SparseMLPClassifier.fine_tune``.
    keep_one_shot : bool, default=True
        Whether the first call that changes the weights keeps a copy of the
        model as it was in ``one_shot_estimator_`` (None when False).
    teacher : estimator, default=None
        Distillation: instead of ``y``, the model learns this network's
        outputs on ``X`` (Hinton et al. 2015): its class probabilities for a
        classifier, its predictions for a regressor, which needs no labels,
        so any rows can train it. Pass the network the model was compressed
        from (any model the library reads, or a Pipeline ending in one,
        whose network is then fed ``X`` as given); the score kept is then the
        agreement with the teacher (accuracy against its labels, R² against
        its predictions).
    **settings
        The fields of :class:`FineTuneSettings` (``epochs``,
        ``learning_rate``, ``batch_size``, ``validation_fraction``,
        ``early_stopping``, ``n_iter_no_change``, ``tol``, ``alpha``,
        ``backend``, ``random_state``, ``verbose``).

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
    settings = FineTuneSettings(**settings)
    check_is_fitted(estimator)
    dtype = estimator.coefs_[0].dtype
    X = validate_data(
        estimator, X, accept_sparse=["csr", "csc"], dtype=dtype, reset=False
    )
    loss = loss_for(estimator.head_, estimator.out_activation_, estimator.n_outputs_)
    if (y is None) == (teacher is None):
        raise ValueError(
            "fine_tune needs the targets y (labels or values) or a teacher whose outputs "
            "the model learns (distillation), and not both"
        )
    if teacher is None:
        Y, stratify = encode_targets(
            y,
            estimator.head_,
            n_outputs=estimator.n_outputs_,
            n_samples=X.shape[0],
            loss=loss,
            dtype=dtype,
        )
    else:
        Y, stratify = teacher_targets(
            network_of(final_network(teacher, what="distil from"), X),
            X,
            head=estimator.head_,
            n_outputs=estimator.n_outputs_,
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
        stratify=stratify,
        settings=settings,
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
