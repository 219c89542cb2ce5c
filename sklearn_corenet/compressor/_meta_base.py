"""What the meta-estimators share: their signature (the compressor's, with ``estimator`` in front), training the network, compressing it and predicting with the compressed network."""

import inspect
import warnings
from numbers import Integral

import numpy as np
from sklearn.base import (
    BaseEstimator,
    MetaEstimatorMixin,
    _fit_context,
    clone,
    is_classifier,
    is_regressor,
)
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.utils import check_random_state, get_tags
from sklearn.utils._metadata_requests import (
    MetadataRouter,
    MethodMapping,
    _raise_for_params,
    _routing_enabled,
    process_routing,
)
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    check_memory,
    has_fit_parameter,
    validate_data,
)

from ..adapters._registry import is_supported, unsupported_model_error
from ..core._validation import unchanged_on_error
from ..core._version import RecordsVersion
from ._compressor import CoreNetCompressor


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


def _is_fitted(estimator):
    try:
        check_is_fitted(estimator)
    except (NotFittedError, TypeError):
        return False
    return True


def train_network(estimator, X, y, fit_params):
    """A clone of ``estimator`` fitted on ``X, y`` (what ``memory`` caches).

    A module-level function of the training data and the estimator's
    parameters only, so that ``joblib.Memory`` keys its results on them.
    """
    return clone(estimator).fit(X, y, **fit_params)


class _BaseCoreNet(RecordsVersion, MetaEstimatorMixin, BaseEstimator):
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

    def _estimator(self):
        return self._default_estimator() if self.estimator is None else self.estimator

    def _network_seed(self):
        """The ``random_state`` of the default network: an int drawn from ours.

        An int ``random_state`` makes two fits train the same network; None
        leaves the network unseeded, as the compression is.
        """
        if self.random_state is None:
            return None
        if isinstance(self.random_state, Integral):
            return int(self.random_state)
        # a RandomState: one draw of it, so that successive fits differ
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _check_task(self, model):
        """A TypeError when ``model`` is a regressor given to the classifier,
        or a classifier given to the regressor."""
        wrong = is_regressor(model) if is_classifier(self) else is_classifier(model)
        if wrong:
            ours = type(self).__name__
            theirs = type(model).__name__
            task = "a regressor" if is_classifier(self) else "a classifier"
            other = "CoreNetRegressor" if is_classifier(self) else "CoreNetClassifier"
            raise TypeError(
                f"{ours} cannot compress {theirs}, which is {task}: wrap it in {other}"
            )

    def _fitted_model(self, X, y, fit_params):
        """The network to compress: ``estimator`` itself when it is already
        trained or frozen, otherwise a clone fitted on ``X, y`` (through
        ``memory``)."""
        estimator = self._estimator()
        if self.estimator is None:  # the default network, seeded from ours
            estimator.set_params(random_state=self._network_seed())
        frozen = isinstance(estimator, FrozenEstimator)
        model = estimator.estimator if frozen else estimator
        # checked before any training: an unsupported model fails at once
        if not is_supported(model):
            raise unsupported_model_error(
                model, f"{type(self).__name__} cannot compress an estimator"
            )
        self._check_task(model)
        fitted = _is_fitted(model)
        if frozen and not fitted:
            raise NotFittedError(
                f"the FrozenEstimator wraps an unfitted {type(model).__name__}: "
                "freeze a trained network, or pass the estimator unfrozen to "
                "have it trained"
            )
        if not (frozen or fitted):
            if "sample_weight" in fit_params and not has_fit_parameter(model, "sample_weight"):
                raise TypeError(
                    f"{type(model).__name__}.fit does not take sample_weight, "
                    f"which was passed to {type(self).__name__}.fit"
                )
            train = check_memory(self.memory).cache(train_network)
            return train(model, X, y, fit_params)
        n_features = getattr(model, "n_features_in_", None)
        if n_features is not None and n_features != self.n_features_in_:
            raise ValueError(
                f"X has {self.n_features_in_} features, but the already fitted "
                f"{type(model).__name__} was fitted on {n_features} features"
            )
        return model

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None, **fit_params):
        """Train the network unless it is trained already, then compress it.

        Parameters
        ----------
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Training data, also the calibration data of the compression.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets; not used when ``estimator`` is already fitted or frozen.
        sample_weight : array-like of shape (n_samples,), default=None
            Passed to the network's ``fit`` when it is trained, and to the
            compression, which counts a calibration row of weight w as w
            copies of it (rows of weight 0 play no part).
        **fit_params : dict
            Other metadata for the network's ``fit``; only with
            ``sklearn.set_config(enable_metadata_routing=True)``, which
            routes what the network requests (``sample_weight`` included).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        # a fit that raises leaves the estimator as it was before the call
        with unchanged_on_error(self):
            return self._fit(X, y, sample_weight, fit_params)

    def _fit(self, X, y, sample_weight, fit_params):
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
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X)
        if _routing_enabled():
            routed = process_routing(self, "fit", sample_weight=sample_weight, **fit_params)
            network_params = routed.estimator.fit
        else:
            _raise_for_params(fit_params, self, "fit")
            network_params = {} if sample_weight is None else {"sample_weight": sample_weight}
        model = self._fitted_model(X, y, network_params)
        # y: score targets of keep_ratio="certified"; the weights act on the calibration too
        compressor = self._compressor().fit(model, X, y, sample_weight=sample_weight)
        compressed = compressor.transform()
        self.estimator_, self.compressor_, self.compressed_ = model, compressor, compressed
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

    def _compressed(self, method, X):
        """``compressed_.<method>(X)`` after this estimator's checks of ``X``.

        When the compressed network was fitted with the feature names of this
        estimator (or both without), its own feature-name warning would
        repeat the one just given: it is left out.
        """
        self._check_predict_input(X)
        ours = getattr(self, "feature_names_in_", None)
        theirs = getattr(self.compressed_, "feature_names_in_", None)
        same = (ours is None and theirs is None) or (
            ours is not None and theirs is not None and np.array_equal(ours, theirs)
        )
        with warnings.catch_warnings():
            if same:
                warnings.filterwarnings("ignore", message="X (has|does not have valid) feature names")
            return getattr(self.compressed_, method)(X)

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
        return self._compressed("predict", X)

    def get_metadata_routing(self):
        """How metadata reach the network's ``fit`` (scikit-learn's routing).

        The default network (``estimator=None``), which the user cannot
        configure, requests ``sample_weight``. Weights that reach ``fit``
        weigh the compression's calibration rows too.

        Returns
        -------
        routing : MetadataRouter
            ``fit`` routes to the network's ``fit``.
        """
        network = self._estimator()
        if self.estimator is None:
            network = network.set_fit_request(sample_weight=True)
        return MetadataRouter(owner=self).add(
            estimator=network, method_mapping=MethodMapping().add(caller="fit", callee="fit")
        )

    def __getstate__(self):
        """What pickle, joblib and skops save: ``compressor_`` without the
        calibration data (see ``CoreNetCompressor._without_calibration``)."""
        # a copy: BaseEstimator returns the instance's own __dict__
        state = dict(super().__getstate__())
        compressor = state.get("compressor_")
        if compressor is not None:
            state["compressor_"] = compressor._without_calibration()
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        estimator = self._estimator()
        inner = get_tags(estimator)
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.target_tags.multi_output = inner.target_tags.multi_output
        if tags.classifier_tags is not None and inner.classifier_tags is not None:
            tags.classifier_tags.multi_label = inner.classifier_tags.multi_label
        return tags
