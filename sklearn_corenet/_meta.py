"""``CoreNetClassifier`` and ``CoreNetRegressor``: train, compress, predict.

The meta-estimators make compression a step that ``Pipeline`` and
``GridSearchCV`` understand: ``fit(X, y)`` trains the network (unless it is
already trained or wrapped in :class:`~sklearn.frozen.FrozenEstimator`) and
compresses it with ``X`` as calibration data; prediction uses the compressed
network. Every :class:`CoreNetCompressor` hyperparameter is a hyperparameter
of the meta-estimators, so a grid over ``keep_ratio`` or ``epsilon`` is an
ordinary parameter grid.
"""

import inspect

from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    MetaEstimatorMixin,
    RegressorMixin,
    _fit_context,
    clone,
    is_regressor,
)
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.utils import get_tags
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.validation import check_is_fitted, validate_data

from ._adapters import is_supported, unsupported_model_error
from ._compressor import CoreNetCompressor
from ._compressor_params import COMPRESSOR_PARAMETERS_DOC, fill_docstring


def compressor_parameters():
    """Names of :class:`CoreNetCompressor`'s hyperparameters, in signature order.

    The meta-estimators forward exactly these to the compressor they build.
    """
    signature = inspect.signature(CoreNetCompressor.__init__)
    return [name for name in signature.parameters if name != "self"]


def _meta_signature():
    """``(self, estimator=None, *, <every CoreNetCompressor hyperparameter>)``.

    scikit-learn reads an estimator's hyperparameters, and their defaults,
    from the signature of its ``__init__`` (``get_params``, ``clone``, the
    repr): giving the meta-estimators the compressor's keeps the two in step.
    """
    compressor = inspect.signature(CoreNetCompressor.__init__)
    self_, *hyperparameters = compressor.parameters.values()
    estimator = inspect.Parameter(
        "estimator", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None
    )
    return compressor.replace(parameters=[self_, estimator, *hyperparameters])


_SIGNATURE = _meta_signature()


#: Docstring sections the two meta-estimators share (see fill_docstring).
_SHARED_DOC = {
    "compressor_parameters": COMPRESSOR_PARAMETERS_DOC,
    "training": """\
An unfitted estimator is cloned and trained by ``fit``; a fitted or
frozen one is compressed as it is and never changed.
""",
    "fitted_attributes": """\
estimator_ : estimator
    The trained network that was compressed (the wrapped estimator when
    ``estimator`` is a ``FrozenEstimator``).
compressor_ : CoreNetCompressor
    The fitted compressor, with the sensitivities and sample sizes.
""",
    "feature_attributes": """\
n_features_in_ : int
    Number of features seen during ``fit``.
feature_names_in_ : ndarray of shape (n_features_in_,)
    Names of the features seen during ``fit``, when ``X`` has string
    column names.
""",
    "references": """\
C. Baykal, L. Liebenwein, I. Gilitschenski, D. Feldman, D. Rus.
"Data-dependent coresets for compressing neural networks with
applications to generalization bounds", ICLR 2019.
""",
}


def _is_fitted(estimator):
    try:
        check_is_fitted(estimator)
    except (NotFittedError, TypeError):
        return False
    return True


class _BaseCoreNet(MetaEstimatorMixin, BaseEstimator):
    """Shared code of :class:`CoreNetClassifier` and :class:`CoreNetRegressor`."""

    def __init__(self, estimator=None, **compressor_parameters):
        # stores every argument under its own name, the defaults included, as
        # scikit-learn requires; binding refuses the names the signature lacks
        try:
            arguments = _SIGNATURE.bind(self, estimator, **compressor_parameters)
        except TypeError as exc:
            raise TypeError(f"{type(self).__name__}.__init__() {exc}") from None
        arguments.apply_defaults()
        for name, value in arguments.arguments.items():
            if name != "self":
                setattr(self, name, value)

    __init__.__signature__ = _SIGNATURE

    _parameter_constraints = {
        # a bare torch module has no fit: CoreNetCompressor reads those
        "estimator": [HasMethods(["fit", "predict"]), None],
        **CoreNetCompressor._parameter_constraints,
    }

    def _default_estimator(self):
        raise NotImplementedError

    def _compressor(self):
        """A :class:`CoreNetCompressor` with this estimator's settings."""
        return CoreNetCompressor(
            **{name: getattr(self, name) for name in compressor_parameters()}
        )

    def _fitted_model(self, X, y):
        """The network to compress: ``estimator`` itself when it is already
        trained or frozen, otherwise a clone fitted on ``X, y``."""
        estimator = self._default_estimator() if self.estimator is None else self.estimator
        frozen = isinstance(estimator, FrozenEstimator)
        model = estimator.estimator if frozen else estimator
        # checked before any training: an unsupported model fails at once
        if not is_supported(model):
            raise unsupported_model_error(
                model, f"{type(self).__name__} cannot compress an estimator"
            )
        fitted = _is_fitted(model)
        if frozen and not fitted:
            raise NotFittedError(
                f"the FrozenEstimator wraps an unfitted {type(model).__name__}: "
                "freeze a trained network, or pass the estimator unfrozen to "
                "have it trained"
            )
        if not (frozen or fitted):
            return clone(model).fit(X, y)
        n_features = getattr(model, "n_features_in_", None)
        if n_features is not None and n_features != self.n_features_in_:
            raise ValueError(
                f"X has {self.n_features_in_} features, but the already fitted "
                f"{type(model).__name__} was fitted on {n_features} features"
            )
        return model

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Train the network unless it is trained already, then compress it.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Training data, also the calibration data of the compression.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets; not used when ``estimator`` is already fitted or frozen.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        # checked here so that errors name this estimator; the original X goes
        # on to the network so that it keeps the column names. Two rows at
        # least: "corenet++" holds calibration points out for amplification.
        validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            y_numeric=is_regressor(self),
            ensure_min_samples=2,
        )
        model = self._fitted_model(X, y)
        self.estimator_ = model
        self.compressor_ = self._compressor().fit(model, X)
        self.compressed_ = self.compressor_.transform()
        return self

    def _check_predict_input(self, X):
        check_is_fitted(self, "compressed_")
        # shape and column names, with errors naming this estimator; X itself
        # goes on unconverted, so that the compressed network sees the names too
        validate_data(
            self,
            X,
            reset=False,
            accept_sparse=["csr", "csc"],
            dtype=None,
            ensure_all_finite=False,
        )

    def predict(self, X):
        """Predict with the compressed network.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Input data.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predictions of :attr:`compressed_`.
        """
        self._check_predict_input(X)
        return self.compressed_.predict(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        estimator = self._default_estimator() if self.estimator is None else self.estimator
        inner = get_tags(estimator)
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.target_tags.multi_output = inner.target_tags.multi_output
        if tags.classifier_tags is not None and inner.classifier_tags is not None:
            tags.classifier_tags.multi_label = inner.classifier_tags.multi_label
        return tags


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
        wrapped in ``FrozenEstimator``. None means ``MLPClassifier()`` (ReLU).
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
    a plain fitted network is unfitted, so it would be trained again.

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
        self._check_predict_input(X)
        return self.compressed_.predict_proba(X)

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
        self._check_predict_input(X)
        return self.compressed_.predict_log_proba(X)


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
        wrapped in ``FrozenEstimator``. None means ``MLPRegressor()`` (ReLU).
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
