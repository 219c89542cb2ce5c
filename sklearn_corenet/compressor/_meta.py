"""``CoreNetClassifier`` and ``CoreNetRegressor``: train, compress, predict.

The meta-estimators make compression a step that ``Pipeline`` and
``GridSearchCV`` understand: ``fit(X, y)`` trains the network (unless it is
already trained or wrapped in :class:`~sklearn.frozen.FrozenEstimator`) and
compresses it with ``X`` as calibration data; prediction uses the compressed
network. Every :class:`CoreNetCompressor` hyperparameter is a hyperparameter
of the meta-estimators, so a grid over ``keep_ratio`` or ``epsilon`` is an
ordinary parameter grid.
"""


from sklearn.base import (
    ClassifierMixin,
    RegressorMixin,
)
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.utils.validation import (
    check_is_fitted,
)

from ._meta_base import _BaseCoreNet
from ._params import _SHARED_DOC, fill_docstring


@fill_docstring(**_SHARED_DOC)
class CoreNetClassifier(ClassifierMixin, _BaseCoreNet):
    """Train an MLP classifier, compress it with CoreNet, predict sparsely.

    ``fit(X, y)`` fits a clone of ``estimator`` unless it is already fitted
    or wrapped in :class:`~sklearn.frozen.FrozenEstimator`, then compresses it
    with :class:`CoreNetCompressor`, ``X`` serving as calibration data.
    ``predict``, ``predict_proba`` and ``score`` use the compressed network.
    Since the compression settings are hyperparameters, ``GridSearchCV`` over
    ``keep_ratio`` or ``epsilon`` works as for any estimator; with a frozen
    network and ``memory`` set it never retrains the network and computes the
    sensitivities and sampling plans once per fold.

    Parameters
    ----------
    estimator : estimator, default=None
        The network: an ``MLPClassifier``, a skorch classifier, or either one
        wrapped in ``FrozenEstimator``. None means ``MLPClassifier()`` (ReLU),
        seeded from ``random_state`` as ``BaggingClassifier`` seeds its own.
        {training}
    {compressor_parameters}

    Attributes
    ----------
    {fitted_attributes}
    compressed_ : SparseMLPClassifier
        The compressed network used for prediction.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    {feature_attributes}

    See Also
    --------
    CoreNetRegressor : The regression counterpart.
    CoreNetCompressor : Compress a trained model directly.
    kept_fraction_scorer : Record the kept fraction in a grid search.
    sparsest_within : Pick the sparsest model that scores well enough.

    Notes
    -----
    Put the network in a ``FrozenEstimator`` to tune the compression alone:
    ``GridSearchCV`` clones its estimator for every candidate, and a clone of
    a plain fitted network is unfitted, so it would be trained again (once
    per fold with ``memory``).

    {notes}

    References
    ----------
    {references}

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.frozen import FrozenEstimator
    >>> from sklearn.neural_network import MLPClassifier
    >>> from sklearn_corenet import CoreNetClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> mlp = MLPClassifier((64,), max_iter=300, random_state=0).fit(X, y)
    >>> net = CoreNetClassifier(FrozenEstimator(mlp), keep_ratio=0.5, random_state=0)
    >>> net = net.fit(X, y)  # compresses mlp, does not train it
    >>> net.estimator_ is mlp
    True
    >>> round(net.compressed_.keep_ratio_, 2)
    0.5
    >>> bool(net.score(X, y) > 0.9)
    True
    """

    def _default_estimator(self):
        return MLPClassifier()

    @property
    def classes_(self):
        """Class labels, as the compressed network predicts them."""
        check_is_fitted(self, "compressed_")
        return self.compressed_.classes_

    def predict_proba(self, X):
        """Class probabilities from the compressed network.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Probabilities, columns in the order of :attr:`classes_`.
        """
        return self._compressed("predict_proba", X)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Log-probabilities.
        """
        return self._compressed("predict_log_proba", X)


@fill_docstring(**_SHARED_DOC)
class CoreNetRegressor(RegressorMixin, _BaseCoreNet):
    """Train an MLP regressor, compress it with CoreNet, predict sparsely.

    The regression counterpart of :class:`CoreNetClassifier`: ``fit(X, y)``
    fits a clone of ``estimator`` unless it is already fitted or wrapped in
    :class:`~sklearn.frozen.FrozenEstimator`, then compresses it with ``X`` as
    calibration data; ``predict`` and ``score`` (R²) use the compressed
    network.

    Parameters
    ----------
    estimator : estimator, default=None
        The network: an ``MLPRegressor``, a skorch regressor, or either one
        wrapped in ``FrozenEstimator``. None means ``MLPRegressor()`` (ReLU),
        seeded from ``random_state`` as ``BaggingRegressor`` seeds its own.
        {training}
    {compressor_parameters}

    Attributes
    ----------
    {fitted_attributes}
    compressed_ : SparseMLPRegressor
        The compressed network used for prediction.
    {feature_attributes}

    See Also
    --------
    CoreNetClassifier : The classification counterpart.
    CoreNetCompressor : Compress a trained model directly.

    Notes
    -----
    {notes}

    References
    ----------
    {references}

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neural_network import MLPRegressor
    >>> from sklearn_corenet import CoreNetRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 8)); y = X @ rng.normal(size=8)
    >>> mlp = MLPRegressor(hidden_layer_sizes=(64,), max_iter=500, random_state=0)
    >>> net = CoreNetRegressor(mlp, keep_ratio=0.5, random_state=0).fit(X, y)
    >>> net.estimator_ is mlp  # a clone was trained
    False
    >>> round(net.compressed_.keep_ratio_, 2)
    0.5
    """

    def _default_estimator(self):
        return MLPRegressor()
