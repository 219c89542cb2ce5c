"""How much a compressed network differs from the original (Appendix B.2-B.3).

The paper measures compression by two numbers on unseen test data: the
relative error of the network's output in ℓ1 norm (Appendix B.2, Figure 2)
and the drop in classification accuracy (Appendix B.3, Figure 1). This module
computes them for any pair of models, or for their outputs computed once;
:func:`~._evaluation.compression_curve` records them over methods, budgets and
trials.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.metrics import accuracy_score
from sklearn.utils import check_array
from sklearn.utils._param_validation import StrOptions, validate_params

from ..adapters._registry import network_of


def network_output(model, X):
    """The network's output before the output activation: f(x) of Theorem 4.

    Logits for classifiers, the predicted values for regressors.

    Parameters
    ----------
    model : MLPClassifier, MLPRegressor, SparseMLPClassifier, SparseMLPRegressor, skorch net or torch.nn.Module
        A fitted network the library can read.
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Input points.

    Returns
    -------
    ndarray of shape (n_samples, n_outputs)

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.neural_network import MLPClassifier
    >>> from sklearn_corenet import network_output
    >>> X, y = load_iris(return_X_y=True)
    >>> mlp = MLPClassifier(hidden_layer_sizes=(10,), max_iter=20, random_state=0).fit(X, y)
    >>> network_output(mlp, X[:4]).shape
    (4, 3)
    """
    network = network_of(model, X)
    X = check_array(X, accept_sparse=["csr", "csc"], dtype=network.dtype, input_name="X")
    output = network.decision(X)
    return output.toarray() if sp.issparse(output) else np.asarray(output)


def _outputs(model, X, output):
    """``model``'s outputs on ``X``, or ``model`` itself when it is an array."""
    if not (hasattr(model, "predict") or hasattr(model, "forward")):
        values = np.asarray(model)
        return values.reshape(values.shape[0], -1)
    if output == "network":
        values = network_output(model, X)
    else:
        values = np.asarray(getattr(model, output)(X))
    return values.reshape(values.shape[0], -1)


@validate_params(
    {
        "original": "no_validation",
        "compressed": "no_validation",
        "X": ["array-like", "sparse matrix", None],
        "output": [StrOptions({"network", "predict_proba", "predict"})],
    },
    prefer_skip_nested_validation=True,
)
def relative_error(original, compressed, X=None, *, output="network"):
    """Mean relative ℓ1 error of a compressed network (the paper's Figure 2).

    ``mean over x of ‖f̂(x) − f(x)‖₁ / ‖f(x)‖₁`` on the points ``X``
    (Appendix B.2), where f is the original network and f̂ the compressed
    one. A point with ``f(x) = 0`` counts 0 if ``f̂(x) = 0`` too and infinity
    otherwise.

    Parameters
    ----------
    original : estimator or array-like of shape (n_samples, n_outputs)
        The original model, or its outputs on ``X`` (computed once when many
        compressed models are compared with it).
    compressed : estimator or array-like of shape (n_samples, n_outputs)
        The compressed model, or its outputs on ``X``.
    X : {array-like, sparse matrix} of shape (n_samples, n_features), default=None
        Test points; not needed when both models are given as outputs.
    output : {"network", "predict_proba", "predict"}, default="network"
        Which output to compare. "network": the last layer's values before
        the output activation (logits for classifiers), the f(x) whose
        relative error Theorem 4 bounds; models must be networks the library
        reads (scikit-learn MLPs, compressed estimators, skorch nets, torch
        modules). "predict_proba" and "predict" call those methods, for any
        estimator.

    Returns
    -------
    float
        The mean relative error; 0 for identical outputs.

    See Also
    --------
    accuracy_drop : The paper's other measure.
    compression_curve : Both measures over methods, budgets and trials.

    References
    ----------
    C. Baykal et al. "Data-dependent coresets for compressing neural
    networks with applications to generalization bounds", ICLR 2019,
    Appendix B.2.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.neural_network import MLPClassifier
    >>> from sklearn_corenet import CoreNetCompressor, relative_error
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> mlp = MLPClassifier(hidden_layer_sizes=(32,), max_iter=80, random_state=0).fit(X[:1000], y[:1000])
    >>> relative_error(mlp, mlp, X[1000:])
    0.0
    >>> sparse = CoreNetCompressor(keep_ratio=0.5, random_state=0).fit_transform(mlp, X[:1000])
    >>> bool(0 < relative_error(mlp, sparse, X[1000:]) < 1)
    True
    """
    reference = _outputs(original, X, output)
    estimate = _outputs(compressed, X, output)
    if reference.shape != estimate.shape:
        raise ValueError(
            f"the models' outputs differ in shape: {reference.shape} (original) "
            f"and {estimate.shape} (compressed)"
        )
    error = np.abs(estimate.astype(np.float64) - reference).sum(axis=1)
    scale = np.abs(reference.astype(np.float64)).sum(axis=1)
    ratio = np.zeros_like(error)
    np.divide(error, scale, out=ratio, where=scale > 0)
    ratio[(scale == 0) & (error > 0)] = np.inf
    return float(ratio.mean())


def _predictions(model, X):
    if not hasattr(model, "predict"):
        return np.asarray(model)
    return model.predict(X)


@validate_params(
    {
        "original": "no_validation",
        "compressed": "no_validation",
        "X": ["array-like", "sparse matrix", None],
        "y": ["array-like"],
    },
    prefer_skip_nested_validation=True,
)
def accuracy_drop(original, compressed, X, y):
    """Accuracy lost by compression: acc(f) − acc(f̂) (the paper's Figure 1).

    Positive when the compressed model is less accurate (Appendix B.3).

    Parameters
    ----------
    original : classifier or array-like of shape (n_samples,)
        The original model, or its predictions on ``X``.
    compressed : classifier or array-like of shape (n_samples,)
        The compressed model, or its predictions on ``X``.
    X : {array-like, sparse matrix} of shape (n_samples, n_features) or None
        Test points, unseen in training and calibration; None when both
        models are given as predictions.
    y : array-like of shape (n_samples,) or (n_samples, n_labels)
        True labels.

    Returns
    -------
    float
        The difference of the accuracies, a fraction in [-1, 1] (multiply
        by 100 for percentage points).

    See Also
    --------
    relative_error : The paper's other measure.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.neural_network import MLPClassifier
    >>> from sklearn_corenet import CoreNetCompressor, accuracy_drop
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> mlp = MLPClassifier(hidden_layer_sizes=(32,), max_iter=80, random_state=0).fit(X[:1000], y[:1000])
    >>> sparse = CoreNetCompressor(keep_ratio=0.05, method="uniform",
    ...                            random_state=0).fit_transform(mlp, X[:1000])
    >>> bool(accuracy_drop(mlp, sparse, X[1000:], y[1000:]) > 0)
    True
    """
    return float(
        accuracy_score(y, _predictions(original, X)) - accuracy_score(y, _predictions(compressed, X))
    )
