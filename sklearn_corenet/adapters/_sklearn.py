"""Read fitted scikit-learn ``MLPClassifier`` / ``MLPRegressor`` models."""

import numpy as np
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.utils.validation import check_is_fitted

from ..core._head import OutputHead
from ..core._network import Network, stack_layers


def is_sklearn_mlp(model):
    """Whether ``model`` is a scikit-learn MLP (subclasses included)."""
    return isinstance(model, (MLPClassifier, MLPRegressor))


def sklearn_head(model):
    """The :class:`OutputHead` of a fitted scikit-learn MLP.

    Read from the output activation and the number of outputs, as
    scikit-learn's ``predict`` decides: a softmax output is multiclass; a
    logistic output is binary with one output unit (one or two classes)
    and multilabel with several (a label-indicator matrix, whatever the
    label binarizer says).
    """
    if not isinstance(model, MLPClassifier):
        return OutputHead("regression")
    classes = np.array(model.classes_)
    n_outputs = model.coefs_[-1].shape[1]
    if model.out_activation_ == "softmax":
        return OutputHead("multiclass", classes=classes)
    if model.out_activation_ != "logistic":
        raise TypeError(
            f"{type(model).__name__} has output activation {model.out_activation_!r}; "
            "a classifier's is 'logistic' or 'softmax'"
        )
    if n_outputs > 1:
        # scikit-learn predicts the indicator matrix of its labels 0..k-1
        return OutputHead("multilabel", classes=np.arange(n_outputs))
    return OutputHead("binary", classes=classes)


def network_from_sklearn(model):
    """Translate a fitted scikit-learn MLP into a :class:`Network`.

    The arrays are copied (each layer's weights and bias into one array,
    see :func:`~._network.stack_layers`): nothing the caller holds is
    shared with the returned network.
    """
    check_is_fitted(model, "coefs_")
    coefs, intercepts = stack_layers(model.coefs_, model.intercepts_)
    return Network(
        coefs=coefs,
        intercepts=intercepts,
        activation=model.activation,
        out_activation=model.out_activation_,
        head=sklearn_head(model),
        feature_names_in=(
            np.array(model.feature_names_in_, copy=True)
            if hasattr(model, "feature_names_in_")
            else None
        ),
        source=type(model).__name__,
    )
