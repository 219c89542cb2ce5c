"""Compressed estimators with ``scipy.sparse`` weight matrices.

A compressed estimator is a fitted model: compression made it, ``fit``
leaves it as it is (as :class:`~sklearn.frozen.FrozenEstimator` does) and
``clone`` returns a copy of it, so that it goes wherever a fitted
scikit-learn model goes (the last step of a ``Pipeline``,
``FrozenEstimator``, ``CalibratedClassifierCV``, ``VotingClassifier``,
``cross_val_score``, ``permutation_importance``). Saved (pickle, joblib,
skops), its weights are stored compactly (see :mod:`sklearn_corenet.models._storage`).
"""


import numpy as np
import scipy.sparse as sp
from sklearn.base import ClassifierMixin, RegressorMixin

from ._base import _BaseSparseMLP


def make_sparse_estimator(network, n_params_original, info=None, start=None):
    """The compressed estimator of a sparsified :class:`Network`.

    Parameters
    ----------
    network : Network
        The compressed network (dense arrays with zeros, or sparse).
    n_params_original : int
        Parameter count of the original model.
    info : CompressionInfo, default=None
        How it was compressed.
    start : Network, default=None
        The network before a least-squares re-fit, with the same kept edges:
        its values become ``selected_values_`` (the start of
        ``fine_tune(init="selected")``).
    """
    estimator = SparseMLPRegressor() if network.head.kind == "regression" else SparseMLPClassifier()
    estimator.coefs_ = [sp.csr_array(W) for W in network.coefs]
    for W in estimator.coefs_:
        W.eliminate_zeros()
    estimator.selected_values_ = None
    if start is not None:
        estimator.selected_values_ = [
            (np.asarray(S[W.nonzero()]), np.array(c, copy=True))
            for W, S, c in zip(estimator.coefs_, start.coefs, start.intercepts, strict=True)
        ]
    estimator.intercepts_ = [np.array(b, copy=True) for b in network.intercepts]
    estimator.activation = network.activation
    estimator.out_activation_ = network.out_activation
    estimator.n_layers_ = network.n_layers + 1
    estimator.n_outputs_ = network.n_outputs
    estimator.hidden_layer_sizes_ = network.hidden_layer_sizes
    estimator.n_features_in_ = network.n_features_in
    if network.feature_names_in is not None:
        estimator.feature_names_in_ = np.array(network.feature_names_in, dtype=object)
    estimator.n_params_original_ = int(n_params_original)
    estimator.head_ = network.head
    estimator.source_ = network.source
    estimator.source_info_ = dict(network.extra)
    estimator.compression_info_ = info
    return estimator


class SparseMLPClassifier(ClassifierMixin, _BaseSparseMLP):
    """A compressed MLP classifier with sparse weight matrices.

    Produced by :meth:`CoreNetCompressor.transform` from a classifier; it
    predicts with the same semantics as the model it came from (binary
    threshold, softmax, multilabel, class labels).

    Attributes
    ----------
    coefs_ : list of scipy.sparse.csr_array of shape (n_in, n_out)
        Weight matrices in scikit-learn's orientation.
    intercepts_ : list of ndarray of shape (n_out,)
        Bias vectors (zeros where the bias was removed).
    activation : str
        Hidden activation.
    out_activation_ : str
        Output activation.
    classes_ : ndarray
        Class labels.
    hidden_layer_sizes_ : tuple of int
        Hidden widths after neuron pruning.
    n_features_in_ : int
        Number of input features.
    feature_names_in_ : ndarray of str
        Input feature names, when the original model had them.
    nnz_ : int
        Non-zero weights and biases.
    keep_ratio_ : float
        ``nnz_`` divided by the original model's parameter count.
    n_params_original_ : int
        Parameter count of the original model.
    one_shot_estimator_ : SparseMLPClassifier or SparseMLPRegressor
        After the first ``fine_tune`` that changed the weights: the model as
        it was before (not kept with ``keep_one_shot=False``).
    fine_tune_history_ : FineTuneHistory
        After ``fine_tune``: losses and scores per epoch, the epoch kept.
    compression_info_ : CompressionInfo
        How the model was compressed (method, ε, per-layer figures); its
        fields read as attributes or by name.
    selected_values_ : list of tuple of ndarray or None
        Per layer, the kept weights (in the order of ``coefs_[l].data``) and
        the biases before the least-squares re-fit: the start of
        ``fine_tune(init="selected")``. None without a re-fit, once
        ``fine_tune`` has started from them, and in a saved and loaded
        model (saving leaves them out: they are a second copy of the
        weights).
    head_ : OutputHead
        How outputs become predictions (kind, classes, threshold).
    source_ : str
        The type of the original model.
    source_info_ : dict
        What the model adapter read that an export needs (a skorch net's
        class and parameters for ``to_skorch``); empty for scikit-learn
        models.

    See Also
    --------
    CoreNetCompressor : Produces these estimators.
    SparseMLPRegressor : The regression counterpart.

    Notes
    -----
    A compressed model is fitted and takes no hyperparameters: ``fit``
    leaves it unchanged and ``clone`` returns a copy (as for a
    :class:`~sklearn.frozen.FrozenEstimator`), so it works as the last step
    of a ``Pipeline`` with fitted preprocessing, in ``cross_val_score``
    (which then scores the one model on every fold),
    ``CalibratedClassifierCV``, ``VotingClassifier`` and
    ``permutation_importance``. ``fine_tune`` trains it further.

    Saved with pickle, joblib or skops, the weights take their values in
    the model's dtype and indices in the smallest unsigned type that holds
    them (``astype(np.float32)`` halves the values); see the docs page
    "Deployment" for ``to_sklearn``, ``to_torch``, ONNX and safe loading.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.neural_network import MLPClassifier
    >>> from sklearn_corenet import CoreNetCompressor
    >>> X, y = load_digits(return_X_y=True)
    >>> mlp = MLPClassifier((64,), max_iter=300, random_state=0).fit(X / 16, y)
    >>> sparse = CoreNetCompressor(keep_ratio=1.0).fit_transform(mlp, X / 16)
    >>> bool((sparse.predict(X / 16) == mlp.predict(X / 16)).all())
    True
    """

    @property
    def classes_(self):
        self._check_fitted()
        return self.head_.classes

    def predict_proba(self, X):
        """Class probabilities, as the original model computes them.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            For a binary model with one output, columns are ``1 - p`` and ``p``.
        """
        output = self._forward(X)
        if self.n_outputs_ == 1:
            output = output.ravel()
            return np.vstack([1 - output, output]).T
        return output

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        proba = self.predict_proba(X)
        if self.out_activation_ == "log_softmax":
            return proba
        return np.log(proba, out=proba)

    def predict(self, X):
        """Predicted labels (a label-indicator matrix for multilabel models).

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_labels)
            Labels from ``classes_``, as the original model predicts them:
            the argmax of a softmax output, the threshold of a single
            logistic output, and the indicator matrix of several logistic
            outputs (whatever the head says, never one label per output
            entry).
        """
        output = self._forward(X)
        head = self.head_
        if head.kind == "multilabel" or (head.kind == "binary" and output.shape[1] > 1):
            return (output > head.threshold).astype(int)
        if head.kind == "binary":
            if len(head.classes) == 1:  # a model fitted on one class (as scikit-learn predicts it)
                return np.repeat(head.classes, output.shape[0])
            labels = head.classes[(output.ravel() > head.threshold).astype(int)]
            if self.source_info_.get("skorch_class", "").endswith(".NeuralNetBinaryClassifier"):
                labels = labels.astype(np.uint8)  # as skorch predicts them
            return labels
        return head.classes[np.argmax(output, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        tags.input_tags.sparse = True
        return tags


class SparseMLPRegressor(RegressorMixin, _BaseSparseMLP):
    """A compressed MLP regressor with sparse weight matrices.

    Produced by :meth:`CoreNetCompressor.transform` from a regressor;
    attributes as :class:`SparseMLPClassifier` (without ``classes_``).

    See Also
    --------
    CoreNetCompressor : Produces these estimators.
    SparseMLPClassifier : The classification counterpart.

    Notes
    -----
    Fitted, without hyperparameters: ``fit`` leaves it unchanged and
    ``clone`` returns a copy (see :class:`SparseMLPClassifier`).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neural_network import MLPRegressor
    >>> from sklearn_corenet import CoreNetCompressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 8)); y = X @ rng.normal(size=8)
    >>> mlp = MLPRegressor(hidden_layer_sizes=(100, 100), max_iter=500, random_state=0).fit(X, y)
    >>> sparse = CoreNetCompressor(keep_ratio=0.5, random_state=0).fit_transform(mlp, X)
    >>> round(sparse.keep_ratio_, 2)
    0.5
    """

    def predict(self, X):
        """Predicted values, shape (n_samples,) for a single output.

        A skorch net whose module returns one column keeps it, shape
        (n_samples, 1), as skorch's ``predict`` does.
        """
        output = self._forward(X)
        info = self.source_info_
        one_column = "skorch_class" in info and not info.get("module_output_1d", False)
        if output.shape[1] == 1 and not one_column:
            return output.ravel()
        return output

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
