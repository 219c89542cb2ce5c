"""``CoreNetCompressor``: the scikit-learn face of the algorithm."""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    StrOptions,
)
from sklearn.utils.validation import check_is_fitted, check_memory

from ..adapters._pipeline import final_network, split_pipeline, with_final_estimator
from ..adapters._registry import network_from_model
from ..adapters._sklearn import is_sklearn_mlp
from ..algorithm._draw import draw_compression, warn_constant_predictions
from ..algorithm._plan import CompressionSettings, build_sampling_plans
from ..algorithm._reweight import DEFAULT_RIDGE, ReweightOption
from ..algorithm._sensitivity import (
    DELTA_CAP,
)
from ..certification._bounds import DEFAULT_OUTPUT_FLOOR, ERROR_TARGETS, ERRORS
from ..core._validation import (
    check_activations,
    check_calibration_data,
    check_network,
    same_weights,
    unchanged_on_error,
)
from ..core._version import RecordsVersion
from ..methods._registry import MethodOption
from ..models._sparse_mlp import make_sparse_estimator
from ..models._summary import CompressionSummary
from ._fitting import (
    FitInputs,
    certify_compressed,
    check_targets_need_certified_mode,
    compression_info,
    drop_unweighted_rows,
    fit_to_budget,
    fit_to_target,
    resolve_fidelity,
    resolve_method,
    statistics_function,
    warn_if_theory_keeps_most,
    without_calibration,
)
from ._params import (
    COMPRESSOR_ATTRIBUTES_DOC,
    COMPRESSOR_PARAMETERS_DOC,
    fill_docstring,
)


@fill_docstring(compressor_parameters=COMPRESSOR_PARAMETERS_DOC, compressor_attributes=COMPRESSOR_ATTRIBUTES_DOC)
class CoreNetCompressor(RecordsVersion, BaseEstimator):
    """Compress a trained MLP by sampling its edges (CoreNet, Baykal et al. 2019).

    ``fit`` reads a trained network and calibration data, computes every
    edge's empirical sensitivity and the sample sizes; ``transform`` draws a
    sparsified network and returns it as a :class:`SparseMLPClassifier` or
    :class:`SparseMLPRegressor`.

    Parameters
    ----------
    {compressor_parameters}

    Attributes
    ----------
    {compressor_attributes}

    See Also
    --------
    CoreNetClassifier : Train, compress and predict in one estimator.
    SparseMLPClassifier : What ``transform`` returns for classifiers.
    certify : Certify any compressed model on held-out points.

    Notes
    -----
    Theorem 4 of the paper: with probability at least 1 − δ, the compressed
    network's output is within (1 ± ε) of the original's, entry-wise, for a
    random input. The sample sizes that guarantee it (theory mode) grow with
    the product of the layers' Δ^ℓ; budget mode keeps the sampling
    distribution and its unbiasedness but lets the user fix the size.

    ``keep_ratio="certified"`` checks the statement instead of deriving it:
    ``fit`` holds out ``validation_fraction`` of the calibration rows,
    compresses with the others at budgets searched on a geometric grid, and
    keeps the smallest budget whose certificate on the held-out rows holds
    (see :func:`certify`); ``transform`` returns that certified network.

    References
    ----------
    C. Baykal, L. Liebenwein, I. Gilitschenski, D. Feldman, D. Rus.
    "Data-dependent coresets for compressing neural networks with
    applications to generalization bounds", ICLR 2019.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.neural_network import MLPClassifier
    >>> from sklearn_corenet import CoreNetCompressor
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16
    >>> mlp = MLPClassifier((100, 100), max_iter=300, random_state=0).fit(X, y)
    >>> compressor = CoreNetCompressor(keep_ratio=0.3, random_state=0)
    >>> sparse = compressor.fit_transform(mlp, X[:500])
    >>> sparse.nnz_ == compressor.budget_
    True
    >>> bool(sparse.score(X, y) > 0.9)
    True

    Compression to a target, certified on held-out calibration rows:

    >>> compressor = CoreNetCompressor(keep_ratio="certified", epsilon=0.3, delta=0.1,
    ...                                random_state=0)
    >>> sparse = compressor.fit_transform(mlp, X[:1000])
    >>> compressor.certificate_.holds
    True
    >>> bool(sparse.keep_ratio_ < 1)
    True
    """

    _parameter_constraints = {
        "epsilon": [Interval(Real, 0, 1, closed="neither")],
        "delta": [Interval(Real, 0, 1, closed="neither")],
        "keep_ratio": [Interval(Real, 0, 1, closed="right"), StrOptions({"theory", "certified"}), None],
        "confidence": [Interval(Real, 0, 1, closed="neither")],
        "error": [StrOptions(set(ERRORS))],
        "output_floor": [Interval(Real, 0, 1, closed="both")],
        "score_tolerance": [Interval(Real, 0, None, closed="left"), None],
        "agreement": [Interval(Real, 0, 1, closed="neither"), None],
        "error_on": [StrOptions(set(ERROR_TARGETS))],
        "fine_tune": [None, "boolean", Interval(Integral, 1, None, closed="left"), dict],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "search_step": [Interval(Real, 0, None, closed="neither")],
        # names are read from the registry when checked: methods can be
        # registered after import
        "method": [MethodOption()],
        "reweight": [ReweightOption()],
        "ridge": [Interval(Real, 0, None, closed="left")],
        "n_trials": [Interval(Integral, 1, None, closed="left")],
        "calibration_size": [StrOptions({"auto"}), Interval(Integral, 1, None, closed="left")],
        "allocation": [StrOptions({"sensitivity", "theory"})],
        "K": [Interval(Real, 0, None, closed="neither"), None],
        "delta_cap": [Interval(Real, 1, None, closed="left")],
        "memory": [None, str, HasMethods(["cache"])],
        "n_jobs": [Integral, None],
        "device": "no_validation",  # a str or a torch.device, checked by torch
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        epsilon=0.1,
        delta=0.1,
        keep_ratio=None,
        confidence=0.95,
        error="l1",
        output_floor=DEFAULT_OUTPUT_FLOOR,
        score_tolerance=None,
        agreement=None,
        error_on="outputs",
        fine_tune=None,
        validation_fraction=0.3,
        search_step=0.1,
        method="auto",
        reweight="auto",
        ridge=DEFAULT_RIDGE,
        n_trials=5,
        calibration_size="auto",
        allocation="sensitivity",
        K=None,
        delta_cap=DELTA_CAP,
        memory=None,
        n_jobs=None,
        device=None,
        random_state=None,
        verbose=0,
    ):
        self.epsilon = epsilon
        self.delta = delta
        self.keep_ratio = keep_ratio
        self.confidence = confidence
        self.error = error
        self.output_floor = output_floor
        self.score_tolerance = score_tolerance
        self.agreement = agreement
        self.error_on, self.fine_tune = error_on, fine_tune
        self.validation_fraction = validation_fraction
        self.search_step = search_step
        self.method = method
        self.reweight = reweight
        self.ridge = ridge
        self.n_trials = n_trials
        self.calibration_size = calibration_size
        self.allocation = allocation
        self.K = K
        self.delta_cap = delta_cap
        self.memory = memory
        self.n_jobs = n_jobs
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _resolve_method(self):
        """The method object and reweighting rule this fit uses."""
        return resolve_method(self)

    def _theory_mode(self):
        return isinstance(self.keep_ratio, str) and self.keep_ratio == "theory"

    def _certified_mode(self):
        # the default: the sparsest model whose certificate holds at (epsilon, delta)
        return self.keep_ratio is None or (isinstance(self.keep_ratio, str) and self.keep_ratio == "certified")

    # -- fit -------------------------------------------------------------------

    def fit(self, model, X, y=None, sample_weight=None, X_unlabeled=None):
        """Compute sensitivities and sample sizes for ``model`` over ``X``.

        Parameters
        ----------
        model : MLPClassifier, MLPRegressor, skorch net, torch.nn.Module or Pipeline
            A trained network, or a fitted ``Pipeline`` (nested ones and a
            ``ColumnTransformer`` among its steps included) whose last step
            is one and whose other steps are fitted transformers; it is
            read, never modified. ``transform`` then returns a copy of the
            Pipeline with the compressed network as its last step.
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Calibration data P, as the model expects it (for a Pipeline:
            raw rows, which go through its fitted transformers). With
            ``keep_ratio="certified"`` (the default), ``validation_fraction``
            of its distinct rows are held out to certify and never compress.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
            Targets of ``X``: needed by ``score_tolerance``, and the
            certificate then reports the score drop; ignored unless
            ``keep_ratio="certified"``.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the calibration rows, as repetitions: a row of weight
            2 counts as two copies in the activation statistics, the
            least-squares re-fit and the choice of the sensitivity points;
            rows of weight 0 play no part. A certificate counts each
            held-out row once; fine-tuning counts every row once.
        X_unlabeled : {array-like, sparse matrix, DataFrame} of shape (n_unlabeled, n_features), default=None
            Calibration rows without labels (rows as ``X``, weight 1 each
            beside ``sample_weight``): they compress, and fine-tuning, with
            ``fine_tune``, trains on them (the original labels them), but
            for a share set aside on which it chooses its epoch. With
            ``keep_ratio="certified"`` and an ``epsilon`` or ``agreement``
            target (which need no labels), ``validation_fraction`` of them
            are held out with the calibration rows' (a row and its copies on
            one side) and certify too; with ``score_tolerance``, none
            certifies and copies of a held-out row are left out.

        Returns
        -------
        self : CoreNetCompressor
        """
        # a fit that raises leaves the compressor as it was, the state of a
        # RandomState given as random_state included
        random_state = self.random_state
        saved = random_state.get_state() if isinstance(random_state, np.random.RandomState) else None
        try:
            with unchanged_on_error(self):
                return self._fit(model, X, y, sample_weight, X_unlabeled)
        except BaseException:
            if saved is not None:
                random_state.set_state(saved)
            raise

    def _fit(self, model, X, y, sample_weight=None, X_unlabeled=None):
        self._validate_params()
        check_targets_need_certified_mode(self)
        statistics = statistics_function(self)  # torch must be there for device=, whatever the method
        method, reweight = self._resolve_method()
        self._pipeline = parts = split_pipeline(model)
        X, y, sample_weight = drop_unweighted_rows(X, y, sample_weight)
        if parts is not None:
            # the network sees the rows as the fitted steps hand them on
            model, X = parts.network, parts.transform(X)
        network = check_network(network_from_model(model, X))
        if network.activation != "relu":
            warnings.warn(
                f"the model's hidden activation is {network.activation!r}: it is "
                "compressed with the positive/negative split of the paper's "
                "Appendix A.2.4, but the guarantee of Theorem 4 assumes ReLU",
                UserWarning,
                stacklevel=2,
            )
        X = check_calibration_data(X, network, model if is_sklearn_mlp(model) else None)
        check_activations(network, X)
        random = check_random_state(self.random_state)
        transform_seed = random.randint(np.iinfo(np.int32).max)
        fidelity, target, X_unlabeled = resolve_fidelity(
            self, network, X_unlabeled, parts, model if is_sklearn_mlp(model) else None, transform_seed
        )
        settings = CompressionSettings(
            epsilon=self.epsilon,
            delta=self.delta,
            keep_ratio=None if self._theory_mode() or self._certified_mode() else self.keep_ratio,
            n_trials=self.n_trials,
            calibration_size=self.calibration_size,
            allocation=self.allocation,
            K=self.K,
        )
        sampling_plans = check_memory(self.memory).cache(build_sampling_plans)
        fit = FitInputs(
            network, X, y, method, reweight, settings, random, transform_seed, statistics, sampling_plans,
            sample_weight=sample_weight, fidelity=fidelity, fidelity_target=target, X_unlabeled=X_unlabeled,
        )
        if self._certified_mode():
            return fit_to_target(self, fit)
        fit_to_budget(self, fit)
        if self._theory_mode():
            warn_if_theory_keeps_most(self)
        return self

    # -- transform -------------------------------------------------------------

    def transform(self, model=None):
        """Draw a compressed network.

        Parameters
        ----------
        model : object, default=None
            The model given to ``fit`` (the default); another model is
            refused, since the sensitivities belong to the fitted one.

        Returns
        -------
        SparseMLPClassifier, SparseMLPRegressor or Pipeline
            A new estimator; ``random_state`` makes it reproducible. With
            ``keep_ratio="certified"``, always the network that
            ``certificate_`` is about. For a Pipeline given to ``fit``, a
            copy of it whose last step is the compressed network.
        """
        check_is_fitted(self, "n_params_")
        plan = self._plan
        network = plan.problem.network
        model = final_network(model)
        if model is not None and not same_weights(network_from_model(model), network):
            raise ValueError(
                "transform(model) got a model other than the one given to fit; "
                "fit the compressor on that model first"
            )
        drawn = getattr(self, "_certified", None)
        if drawn is None:
            kind, source = self._draw_random
            if kind == "seed":
                rng = np.random.default_rng(source)
            else:
                rng = np.random.default_rng(check_random_state(source).randint(2**31))
            drawn = draw_compression(plan, rng, reweight=self.reweight_, ridge=self._ridge)
        info = compression_info(self, drawn)
        estimator = make_sparse_estimator(drawn.network, self.n_params_, info, start=drawn.start)
        warn_constant_predictions(plan, estimator)
        pipeline = getattr(self, "_pipeline", None)
        if pipeline is not None:
            return with_final_estimator(pipeline.pipeline, estimator)
        return estimator

    def fit_transform(self, model, X, y=None, sample_weight=None, X_unlabeled=None):
        """``fit(model, X, y, sample_weight, X_unlabeled)`` then ``transform()``."""
        return self.fit(model, X, y, sample_weight, X_unlabeled).transform()

    def summary(self, compressed=None):
        """Per-layer table: widths, parameters kept/total, ε_ℓ, Δ^ℓ, dead neurons.

        With ``keep_ratio="certified"``, the certificate follows the table.

        Parameters
        ----------
        compressed : SparseMLPClassifier, SparseMLPRegressor or Pipeline, default=None
            A model returned by ``transform``; when None, a fresh one is drawn.
        """
        check_is_fitted(self, "n_params_")
        if compressed is None:
            compressed = self.transform()
        compressed = final_network(compressed, what="summarise or certify")
        certificate = getattr(self, "certificate_", None)
        if certificate is not None and not same_weights(compressed.to_network(), self._certified.network):
            certificate = None  # another model than the certified one
        return CompressionSummary.from_estimator(compressed, certificate=certificate)

    def certify(self, X, y=None, *, compressed=None):
        """Certify the compressed network against the fitted model on held-out points.

        Uses this compressor's ``epsilon``, ``delta``, ``confidence``,
        ``error`` and ``output_floor``; see :func:`certify`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Points that played no part in the compression: rows equal to a
            calibration row given to ``fit`` are refused.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
            Targets: the certificate then reports the score drop.
        compressed : SparseMLPClassifier, SparseMLPRegressor or Pipeline, default=None
            The model to certify; when None, ``transform()``.

        Returns
        -------
        Certificate
        """
        check_is_fitted(self, "n_params_")
        self._validate_params()
        if compressed is None:
            compressed = self.transform()
        return certify_compressed(self, final_network(compressed, what="summarise or certify"), X, y)

    def _without_calibration(self):
        """A copy keeping the hyperparameters and the small fitted figures
        (see :func:`~._fitting.without_calibration`)."""
        return without_calibration(self)

    def __getattr__(self, name):
        # only reached for a missing attribute: say why when it is the private
        # state that _without_calibration leaves out
        state = self.__dict__
        if name.startswith("_") and not name.startswith("__") and "n_params_" in state and "_plan" not in state:
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(
                f"this {type(self).__name__} was saved without its calibration data "
                "(as the compressor_ of a CoreNetClassifier or CoreNetRegressor): "
                "fit it again to draw or check a compressed network"
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


