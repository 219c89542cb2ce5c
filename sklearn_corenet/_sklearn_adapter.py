"""Read fitted scikit-learn ``MLPClassifier`` / ``MLPRegressor`` models."""

import numpy as np
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.utils.validation import check_is_fitted

from ._network import Network, OutputHead


def is_sklearn_mlp(model):
    """Whether ``model`` is a scikit-learn MLP (subclasses included)."""
    return isinstance(model, (MLPClassifier, MLPRegressor))


def network_from_sklearn(model):
    """Translate a fitted scikit-learn MLP into a :class:`Network`.

    The arrays are copied: nothing the caller holds is shared with the
    returned network.
    """
    check_is_fitted(model, "coefs_")
    if isinstance(model, MLPClassifier):
        binarizer = model._label_binarizer
        if binarizer.y_type_ == "multilabel-indicator":
            head = OutputHead("multilabel", classes=np.array(model.classes_))
        elif model.out_activation_ == "logistic":
            head = OutputHead("binary", classes=np.array(model.classes_))
        else:
            head = OutputHead("multiclass", classes=np.array(model.classes_))
    else:
        head = OutputHead("regression")
    return Network(
        coefs=[np.array(W, copy=True) for W in model.coefs_],
        intercepts=[np.array(b, copy=True) for b in model.intercepts_],
        activation=model.activation,
        out_activation=model.out_activation_,
        head=head,
        feature_names_in=(
            np.array(model.feature_names_in_, copy=True)
            if hasattr(model, "feature_names_in_")
            else None
        ),
        source=type(model).__name__,
    )
