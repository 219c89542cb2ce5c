"""Fine-tuning targets: checked against a network's head, encoded for its loss.

Class labels become the rows the classification losses compare the outputs
with through scikit-learn's :func:`~sklearn.preprocessing.label_binarize`
(as ``MLPClassifier`` encodes them); an indicator matrix and regression
values are already in that form and are only checked.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import label_binarize
from sklearn.utils import check_array

from ..core._activations import apply_activation


def encode_targets(y, head, *, n_outputs, n_samples, loss, dtype):
    """Check ``y`` against the network's head and encode it for the loss.

    Parameters
    ----------
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Class labels from ``head.classes``, a label-indicator matrix for a
        multilabel head, or numeric targets for a regression head.
    head : OutputHead
        The network's prediction semantics.
    n_outputs : int
        Width of the network's last layer.
    n_samples : int
        Number of input rows ``y`` must match.
    loss : str
        The training loss, one of ``LOSSES`` (see :func:`loss_for`).
    dtype : numpy dtype
        The weights' dtype, which the encoded targets take.

    Returns
    -------
    Y : ndarray of shape (n_samples, n_outputs)
        One-hot rows (a single positive-class column for a binary head with
        one output), an indicator matrix, or values.
    stratify : ndarray of shape (n_samples,) or None
        Class label of every row for binary and multiclass heads.

    Raises
    ------
    ValueError
        If ``y`` has the wrong length, shape or type for the head, contains
        labels that are not in ``head.classes``, or (Poisson loss) negative
        values.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_corenet.core._network import OutputHead
    >>> head = OutputHead("binary", classes=np.array(["high", "low"]))
    >>> Y, stratify = encode_targets(["low", "high", "low"], head, n_outputs=1,
    ...                              n_samples=3, loss="binary_cross_entropy",
    ...                              dtype=np.float64)
    >>> Y.ravel()
    array([1., 0., 1.])
    """
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
        return _check_values(y, n_outputs, loss).astype(dtype), None
    if head.kind == "multilabel":
        return _check_indicator(y, n_outputs).astype(dtype), None
    labels = _check_labels(y, head)
    Y = label_binarize(labels, classes=head.classes)
    if Y.shape[1] != n_outputs:
        # two classes, one softmax output each: label_binarize gives only the
        # positive column
        Y = np.hstack([1 - Y, Y])
    return Y.astype(dtype), labels


def _check_values(y, n_outputs, loss):
    """Regression targets as an (n_samples, n_outputs) array."""
    if y.dtype.kind not in "biuf":
        raise ValueError(f"a regressor needs numeric targets; y has dtype {y.dtype}")
    if y.ndim == 1:
        y = y.reshape(-1, 1)
    if y.ndim != 2 or y.shape[1] != n_outputs:
        raise ValueError(f"the regressor has {n_outputs} output(s); y has shape {y.shape}")
    if loss == "poisson" and np.any(y < 0):
        raise ValueError("the Poisson loss needs non-negative targets; y has negative values")
    return y


def _check_indicator(y, n_outputs):
    """A label-indicator matrix as a dense array."""
    if sp.issparse(y):
        y = y.toarray()
    if y.ndim != 2 or y.shape[1] != n_outputs:
        raise ValueError(
            f"a multilabel head needs y as an indicator matrix of shape "
            f"(n_samples, {n_outputs}); y has shape {y.shape}"
        )
    if y.dtype.kind not in "biuf" or not np.isin(y, (0, 1)).all():
        raise ValueError("a multilabel indicator matrix y must contain only 0 and 1")
    return y


def _check_labels(y, head):
    """Class labels as a 1-D array, every one of them in ``head.classes``."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(
            f"a {head.kind} classifier needs y as 1-D class labels; y has shape {y.shape}"
        )
    classes = np.asarray(head.classes)
    # label_binarize would give an unknown label an all-zero row: a silent
    # wrong target
    unknown = np.setdiff1d(y, classes)
    if unknown.size:
        raise ValueError(
            f"y contains labels not in classes_ {classes.tolist()}: {unknown[:10].tolist()}"
        )
    return y


#: The output activation whose values a loss compares with its targets.
_LOSS_LINKS = {
    "cross_entropy": "softmax",
    "binary_cross_entropy": "logistic",
    "squared_error": "identity",
    "poisson": "exp",
}


def teacher_targets(network, X, *, head, n_outputs, loss, dtype):
    """Soft targets from another network's outputs on ``X`` (distillation).

    The teacher's last-layer values go through the link of the student's loss:
    class probabilities for cross-entropy (softmax) and binary cross-entropy
    (sigmoid), the predictions of a regressor (identity, or exp for Poisson).
    Knowledge distillation (Hinton, Vinyals and Dean, 2015) at temperature 1,
    which needs no labels.

    Parameters
    ----------
    network : Network
        The teacher, as the adapters read it.
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        Rows, as the student sees them.
    head : OutputHead
        The student's head; the teacher must predict the same kind of target
        with as many outputs (and the same classes).
    n_outputs : int
        Width of the student's last layer.
    loss : str
        The student's training loss.
    dtype : dtype
        The student's weights' dtype.

    Returns
    -------
    Y : ndarray of shape (n_samples, n_outputs)
        The targets.
    stratify : ndarray of shape (n_samples,) or None
        The teacher's predicted class of every row (softmax heads), to
        stratify the validation split.
    """
    teacher = network.head
    if teacher.kind != head.kind or network.n_outputs != n_outputs:
        raise ValueError(
            f"the teacher predicts a {teacher.kind} target with {network.n_outputs} outputs and "
            f"the model a {head.kind} target with {n_outputs}: distillation needs the network "
            "the model was compressed from, or one like it"
        )
    if head.classes is not None and teacher.classes is not None and not np.array_equal(head.classes, teacher.classes):
        raise ValueError(
            f"the teacher's classes {teacher.classes} differ from the model's {head.classes}"
        )
    raw = network.decision(X.astype(network.dtype, copy=False))
    raw = raw.toarray() if sp.issparse(raw) else np.asarray(raw)
    Y = apply_activation(_LOSS_LINKS[loss], np.array(raw, dtype=np.float64)).astype(dtype, copy=False)
    if not np.all(np.isfinite(Y)):
        raise ValueError("the teacher's outputs on X are not finite")
    stratify = Y.argmax(axis=1) if loss == "cross_entropy" else None
    return Y.reshape(X.shape[0], n_outputs), stratify
