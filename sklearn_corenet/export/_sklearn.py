"""A compressed model as a plain scikit-learn MLP (``to_sklearn``).

The compressed weights become the dense ``coefs_`` of an ``MLPClassifier``
or ``MLPRegressor`` whose hidden layers have the widths compression left;
the fitted attributes are those scikit-learn's own ``fit`` sets, so that
the model predicts, pickles, converts (skl2onnx, hummingbird) and trains on
(``warm_start``) like any fitted scikit-learn MLP.
"""

import numpy as np
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import LabelBinarizer

# output activation of a scikit-learn MLPRegressor -> its loss
_REGRESSION_LOSS = {"identity": "squared_error", "exp": "poisson"}


def sparse_to_sklearn(estimator):
    """A fitted scikit-learn MLP with the weights of a compressed estimator.

    Parameters
    ----------
    estimator : SparseMLPClassifier or SparseMLPRegressor
        A compressed model.

    Returns
    -------
    MLPClassifier or MLPRegressor
        Dense copies of the weights; nothing shared with ``estimator``.

    Raises
    ------
    ValueError
        If scikit-learn's MLP cannot express the model's predictions.
    """
    head, out_activation = estimator.head_, estimator.out_activation_
    hyperparameters = {
        "hidden_layer_sizes": tuple(int(n) for n in estimator.hidden_layer_sizes_),
        "activation": estimator.activation,
    }
    if head.kind == "regression":
        if out_activation not in _REGRESSION_LOSS:
            raise ValueError(
                f"an MLPRegressor has no output activation {out_activation!r}; "
                f"it has {', '.join(map(repr, _REGRESSION_LOSS))}"
            )
        model = MLPRegressor(loss=_REGRESSION_LOSS[out_activation], **hyperparameters)
    else:
        model = MLPClassifier(**hyperparameters)
        _set_classes(model, head, out_activation)
    model.coefs_ = [W.toarray() for W in estimator.coefs_]
    model.intercepts_ = [np.array(b, copy=True) for b in estimator.intercepts_]
    model.out_activation_ = out_activation
    model.n_layers_ = len(model.coefs_) + 1
    model.n_outputs_ = int(estimator.n_outputs_)
    model.n_features_in_ = int(estimator.n_features_in_)
    if hasattr(estimator, "feature_names_in_"):
        model.feature_names_in_ = np.array(estimator.feature_names_in_, copy=True)
    _set_fresh_training_state(model)
    return model


def _set_classes(model, head, out_activation):
    """``classes_`` and the label binarizer of an MLPClassifier with ``head``."""
    expected = "softmax" if head.kind == "multiclass" else "logistic"
    if out_activation != expected:
        raise ValueError(
            f"a scikit-learn MLPClassifier with a {head.kind} output applies "
            f"{expected!r}; this model applies {out_activation!r}"
        )
    if head.kind != "multiclass" and head.threshold != 0.5:
        raise ValueError(
            f"a scikit-learn MLPClassifier predicts the positive class above 0.5; "
            f"this model's threshold is {head.threshold}"
        )
    # a copy: classes_ must not be the compressed model's own array
    classes = np.array(head.classes, copy=True)
    binarizer = LabelBinarizer()
    if head.kind == "multilabel":
        # the binarizer of a multilabel fit: labels 0 .. n_labels - 1
        binarizer.fit(np.vstack([np.eye(len(classes), dtype=int), np.zeros(len(classes), int)]))
    else:
        binarizer.fit(classes)
    model._label_binarizer = binarizer
    model.classes_ = binarizer.classes_ if head.kind == "multilabel" else classes


def _set_fresh_training_state(model):
    """What ``MLP*._initialize`` sets besides the weights (a fresh fit's state)."""
    model.n_iter_ = 0
    model.t_ = 0
    model.loss_curve_ = []
    model.best_loss_ = np.inf
    model.validation_scores_ = None
    model.best_validation_score_ = None
    model._no_improvement_count = 0
    model._best_coefs = [W.copy() for W in model.coefs_]
    model._best_intercepts = [b.copy() for b in model.intercepts_]
