"""``CoreNetCompressor``: the scikit-learn face of the algorithm."""

import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
    StrOptions,
)
from sklearn.utils.validation import check_is_fitted, check_memory

from ._adapters import network_from_model
from ._methods import METHODS, get_method
from ._network import Network
from ._reweight import DEFAULT_RIDGE, lstsq_reweight
from ._sample_size import (
    auto_calibration_size,
    epsilon_for_allocation,
    layer_conditions,
    layer_epsilons,
    solve_allocation,
    theory_constants,
    theory_sample_sizes,
)
from ._sampling import BUDGET_DRAWS_PER_EDGE
from ._sensitivity import DELTA_CAP, augmented_weights, compute_layer_statistics
from ._sparse_mlp import sparse_estimator_for
from ._sparsify import sparsify_theory, sparsify_to_budget
from ._summary import CompressionSummary

#: Held-out points used for amplification are capped: beyond this many the
#: choice of the best candidate no longer changes measurably.
MAX_AMPLIFICATION_SIZE = 1000


class CoreNetCompressor(BaseEstimator):
    """Compress a trained MLP by sampling its edges (CoreNet, Baykal et al. 2019).

    ``fit`` reads a trained network and calibration data, computes every
    edge's empirical sensitivity and the sample sizes; ``transform`` draws a
    sparsified network and returns it as a :class:`SparseMLPClassifier` or
    :class:`SparseMLPRegressor`.

    Parameters
    ----------
    epsilon : float, default=0.1
        Relative error ε of the guarantee, in (0, 1). Drives the sample sizes
        when ``keep_ratio`` is None (theory mode); with the paper's constants
        this usually keeps most of the network.
    delta : float, default=0.1
        Failure probability δ of the guarantee, in (0, 1).
    keep_ratio : float, default=None
        Budget: fraction in (0, 1] of the original parameters (weights and
        biases) that stay non-zero. When set, one allocation constant is
        solved for so that exactly this many parameters are kept, and
        ``epsilon_`` reports the ε those sample sizes correspond to.
    method : str, default="auto"
        The paper's "corenet", "corenet+" (also removes neurons that never
        fire on the calibration points) and "corenet++" (also keeps the best
        of ``n_trials`` candidates per neuron); the paper's baselines
        "uniform", "l1", "l2", "l1+l2" and "magnitude"; and, beyond the paper,
        "wanda" (keep the edges with the largest weight × input RMS). "auto"
        is the recommended choice: "wanda" with ``reweight="lstsq"`` when a
        budget is given (the most accurate in our benchmarks), "corenet++"
        in theory mode (the method the guarantee is about). All but the
        CoreNet methods need ``keep_ratio``.
    reweight : {"auto", "unbiased", "lstsq", "none"}, default="auto"
        Values of the kept weights. "unbiased": the paper's count / (m q)
        (sampling methods); "none": the original values (deterministic
        methods); "lstsq" (beyond the paper): each neuron's kept weights are
        re-fitted by ridge-regularised least squares so that the compressed
        layer reproduces the original pre-activations on the calibration
        points, layer by layer with the compressed earlier layers feeding
        it. "auto": the method's own rule ("lstsq" for "wanda").
    ridge : float, default=1e-3
        Ridge strength of the "lstsq" re-fit, relative to the mean squared
        input of a neuron's kept edges; it pulls the weights towards their
        starting values and keeps every fit finite.
    n_trials : int, default=5
        Candidates per neuron for "corenet++" (τ of the paper's amplification).
    calibration_size : int or "auto", default="auto"
        |S|, the points used for sensitivities. "auto" uses
        ⌈log(8ηη*/δ) · log(ηη*)⌉, capped so that "corenet++" keeps a fifth
        of the data (at least one point) held out for amplification.
    allocation : {"sensitivity", "theory"}, default="sensitivity"
        How budget mode shares draws across layers. "sensitivity": every row
        gets ``m_i = c · S_i`` (the theory's proportions within a layer, one
        constant across layers). "theory": the layer factor of Alg. 1 as
        well, ``m_i ∝ S_i (Δ^{ℓ→})²``, which gives the first layer nearly
        the whole budget.
    K : float, default=None
        The constant of Assumption 1; log(ηη*) when None.
    delta_cap : float, default=1e3
        Cap on each Δ_i(x) before averaging (Δ_i(x) explodes where a neuron's
        pre-activation is close to zero).
    memory : str or object with the joblib.Memory interface, default=None
        Caches the calibration statistics and the sampling plans built from
        them, which depend on the model, the calibration points and
        ``random_state`` but not on ε or the budget: a grid search over
        ``epsilon`` or ``keep_ratio`` computes them once per fold.
    n_jobs : int, default=None
        Threads for the sensitivity computation; None uses every core (as
        BLAS does), 1 none.
    device : str or torch.device, default=None
        Compute the sensitivities with torch on this device ("cpu", "cuda",
        ...) instead of numpy; requires the ``torch`` extra. Only methods
        that use sensitivities (the CoreNet family) compute any.
    random_state : int, RandomState instance or None, default=None
        Controls the choice of S and T in ``fit`` and the draws of
        ``transform``: with an int, every ``transform`` gives the same model.
    verbose : int, default=0
        Show progress bars when > 0.

    Attributes
    ----------
    sensitivities_ : list of ndarray of shape (n_in, n_out)
        Empirical sensitivity of every weight.
    bias_sensitivities_ : list of ndarray of shape (n_out,)
        Empirical sensitivity of every bias.
    sample_sizes_ : list of ndarray of int
        Draws per neuron and sign, shape (2, n_out) (positive row first);
        shape (1,) for the whole-matrix baselines. In budget mode these are
        the sizes that meet the budget in expectation; ``transform`` fixes
        the allocation constant that meets it exactly.
    epsilon_ : float
        The ε used (theory mode) or the ε the budget's sample sizes amount to
        (budget mode; NaN for methods without a guarantee).
    layer_epsilons_ : ndarray of shape (n_layers,)
        ε_ℓ per layer.
    delta_hat_ : ndarray of shape (n_layers,)
        Δ^ℓ per layer (Alg. 1, line 6).
    calibration_size_ : int
        |S|.
    amplification_size_ : int
        |T| (0 unless the method amplifies).
    dead_neurons_ : list of ndarray of int
        Per hidden layer, the neurons that are zero on every point of S.
    n_params_ : int
        Parameter count of the original model.
    budget_ : int or None
        Number of parameters to keep (budget mode).
    theoretical_nnz_ : int
        Theory mode: the bound Σ_i min(m_i, edges of row i) on kept
        parameters that the guarantee's sample sizes give.
    method_ : Method
        The compression method object ("auto" resolved).
    reweight_ : str
        The reweighting rule used ("auto" resolved).

    See Also
    --------
    CoreNetClassifier : Train, compress and predict in one estimator.
    SparseMLPClassifier : What ``transform`` returns for classifiers.

    Notes
    -----
    Theorem 4 of the paper: with probability at least 1 − δ, the compressed
    network's output is within (1 ± ε) of the original's, entry-wise, for a
    random input. The sample sizes that guarantee it (theory mode) grow with
    the product of the layers' Δ^ℓ; budget mode keeps the sampling
    distribution and its unbiasedness but lets the user fix the size.

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
    """

    _base_constraints = {
        "epsilon": [Interval(Real, 0, 1, closed="neither")],
        "delta": [Interval(Real, 0, 1, closed="neither")],
        "keep_ratio": [Interval(Real, 0, 1, closed="right"), None],
        "reweight": [StrOptions({"auto", "unbiased", "lstsq", "none"})],
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

    @property
    def _parameter_constraints(self):
        # methods can be registered after import: read the registry each time
        return {**self._base_constraints, "method": [StrOptions({"auto", *METHODS})]}

    def _resolve_method(self):
        """The method object and reweighting rule this fit uses."""
        name = self.method
        if name == "auto":
            name = "corenet++" if self.keep_ratio is None else "wanda"
        method = get_method(name)
        reweight = method.reweights[0] if self.reweight == "auto" else self.reweight
        if reweight not in method.reweights:
            combinations = "; ".join(
                f"{m.name!r}: {', '.join(map(repr, m.reweights))}" for m in METHODS.values()
            )
            raise InvalidParameterError(
                f"method={name!r} cannot use reweight={reweight!r}. Valid "
                f"combinations: {combinations} (or 'auto')"
            )
        return method, reweight

    # -- fit -------------------------------------------------------------------

    def fit(self, model, X, y=None):
        """Compute sensitivities and sample sizes for ``model`` over ``X``.

        Parameters
        ----------
        model : MLPClassifier, MLPRegressor, skorch net or torch.nn.Module
            A trained network; it is read, never modified.
        X : {array-like, sparse matrix, DataFrame} of shape (n_samples, n_features)
            Calibration data P, as the model expects it.
        y : None
            Ignored.

        Returns
        -------
        self : CoreNetCompressor
        """
        self._validate_params()
        if self.device is not None:
            _torch_statistics(self.device)  # torch must be there, whatever the method
        method, self.reweight_ = self._resolve_method()
        if self.keep_ratio is None and not method.theory_mode:
            raise ValueError(
                f"method={method.name!r} has no theoretical sample sizes: give a "
                "budget with keep_ratio"
            )
        network = network_from_model(model, X)
        if network.activation != "relu":
            warnings.warn(
                f"the model's hidden activation is {network.activation!r}: it is "
                "compressed with the positive/negative split of the paper's "
                "Appendix A.2.4, but the guarantee of Theorem 4 assumes ReLU",
                UserWarning,
                stacklevel=2,
            )
        X = check_calibration_data(X, network)
        random = check_random_state(self.random_state)
        self._transform_seed = random.randint(np.iinfo(np.int32).max)
        self._fit_random = random

        widths = [W.shape[1] for W in network.coefs]
        n_points = X.shape[0]
        needed = 2 if method.amplifies else 1
        if n_points < needed:
            raise ValueError(
                f"method={method.name!r} needs at least {needed} calibration rows "
                f"(sensitivity points S{' plus held-out points T' if method.amplifies else ''}); "
                f"got {n_points}"
            )
        held_out = max(1, int(np.ceil(0.2 * n_points))) if method.amplifies else 0
        if self.calibration_size == "auto":
            size = min(auto_calibration_size(widths, self.delta), n_points - held_out)
        else:
            size = int(self.calibration_size)
            if size > n_points - held_out:
                raise ValueError(
                    f"calibration_size={size} leaves too few of the {n_points} rows: "
                    f"method={method.name!r} needs {size + held_out} or more"
                )
        order = random.permutation(n_points)
        points = _dense_rows(X, order[:size])
        self._network = network
        self._calibration = Calibration(network, X if not sp.issparse(X) else X.toarray())
        self.calibration_size_ = size
        self.n_params_ = network.n_params
        self.method_ = method

        weights = [augmented_weights(W, b) for W, b in zip(network.coefs, network.intercepts, strict=True)]
        statistics = None
        if method.needs_statistics or method.prunes_dead_neurons:
            statistics = self._statistics(network, points)
        self._statistics_ = statistics
        self._set_statistics_attributes(network, statistics, widths)

        active = self._active_neurons(network, statistics, method)
        amplification_rows = order[size : size + min(n_points - size, MAX_AMPLIFICATION_SIZE)]
        self.amplification_size_ = int(amplification_rows.size) if method.amplifies else 0
        self._amplification_inputs = (
            network.hidden_activations(_dense_rows(X, amplification_rows)) if method.amplifies else None
        )

        constants = theory_constants(widths, self.delta, self.K)
        self.budget_ = None if self.keep_ratio is None else int(round(self.keep_ratio * self.n_params_))
        self._plans = None
        self.theoretical_nnz_ = None
        if self.keep_ratio is None:
            self._fit_theory(weights, statistics, active, constants, method)
        elif method.samples:
            self._fit_budget(weights, statistics, active, constants, method)
        else:
            self.sample_sizes_ = []
            self.epsilon_ = float("nan")
            self.layer_epsilons_ = np.full(network.n_layers, np.nan)
        self._active = active
        del self._fit_random
        return self

    def _statistics(self, network, points):
        if self.device is None:
            function, options = compute_layer_statistics, {"n_jobs": self.n_jobs}
        else:
            function = _torch_statistics(self.device)
            options = {"device": str(self.device), "n_jobs": self.n_jobs}
        compute = check_memory(self.memory).cache(function, ignore=[*options, "verbose"])
        return compute(network, points, delta_cap=self.delta_cap, verbose=self.verbose, **options)

    def _set_statistics_attributes(self, network, statistics, widths):
        if statistics is None:
            self.sensitivities_ = self.bias_sensitivities_ = None
            self.delta_hat_ = None
            self.dead_neurons_ = None
            return
        self.sensitivities_ = [s.sensitivity[:-1] for s in statistics]
        self.bias_sensitivities_ = [s.sensitivity[-1] for s in statistics]
        constants = theory_constants(widths, self.delta, self.K)
        self.delta_hat_, self._downstream = layer_conditions(
            [s.relative_condition for s in statistics], constants.kappa
        )
        self.dead_neurons_ = [np.flatnonzero(~s.alive) for s in statistics[:-1]]

    @staticmethod
    def _active_neurons(network, statistics, method):
        active = [np.ones(W.shape[1], dtype=bool) for W in network.coefs]
        if method.prunes_dead_neurons and statistics is not None:
            for layer, stats in enumerate(statistics[:-1]):
                active[layer] = stats.alive.copy()
        return active

    def _layer_scale(self, n_layers):
        if self.allocation == "theory" and getattr(self, "delta_hat_", None) is not None:
            scale = (self._downstream / self._downstream[-1]) ** 2
            return scale / scale.max()
        return np.ones(n_layers)

    def _build_plans(self, method, weights, statistics, active, scale, seed=None):
        """The layers' sampling plans, through ``memory`` (see :func:`sampling_plans`)."""
        build = check_memory(self.memory).cache(sampling_plans)
        return build(method, weights, statistics, active, scale, seed)

    def _fit_theory(self, weights, statistics, active, constants, method):
        eps_layer = layer_epsilons(self.epsilon, self._downstream)
        self.epsilon_ = float(self.epsilon)
        self.layer_epsilons_ = eps_layer
        plans = self._build_plans(method, weights, statistics, active, np.ones(len(weights)))
        sizes, bound = [], 0
        for plan, eps in zip(plans, eps_layer, strict=True):
            row_sums = plan.allocation.reshape(2, -1)
            m = theory_sample_sizes(row_sums, eps, constants)
            sizes.append(m)
            support = np.count_nonzero(plan.probabilities, axis=1)
            bound += int(np.minimum(m.reshape(-1), support).sum())
        self.sample_sizes_ = sizes
        self.theoretical_nnz_ = bound
        self._plans = plans

    def _fit_budget(self, weights, statistics, active, constants, method):
        scale = self._layer_scale(len(weights))
        seed = self._fit_random.randint(np.iinfo(np.int32).max)
        plans = self._build_plans(method, weights, statistics, active, scale, seed)
        c = solve_allocation(plans, self.budget_)
        floor = sum(int(np.count_nonzero(p.drawing_rows)) for p in plans)
        if self.budget_ < floor:
            warnings.warn(
                f"keep_ratio={self.keep_ratio} asks for {self.budget_} parameters, but "
                f"method={method.name!r} keeps at least one edge of each neuron's positive "
                f"and negative weights ({floor} here); the compressed network keeps {floor}",
                UserWarning,
                stacklevel=3,
            )
        self._allocation_constant = c
        self._plans = plans
        if not np.isfinite(c):
            capacity = sum(p.capacity for p in plans)
            if capacity < self.budget_ and self.keep_ratio < 1.0:  # 1.0 keeps the network as it is
                warnings.warn(
                    f"keep_ratio={self.keep_ratio} asks for {self.budget_} parameters, but "
                    f"method={method.name!r} can keep only {capacity}: the others have zero "
                    "sensitivity on the calibration data or feed neurons that never fire; "
                    f"the compressed network keeps {capacity}",
                    UserWarning,
                    stacklevel=3,
                )
            self.sample_sizes_ = [np.zeros(p.allocation.shape, dtype=np.int64) for p in plans]
        else:
            self.sample_sizes_ = [
                p.draws_for(c).reshape(2, -1) if p.layout == "neuron" else p.draws_for(c) for p in plans
            ]
        if statistics is not None and np.isfinite(c) and method.needs_statistics:
            self.epsilon_, self.layer_epsilons_ = epsilon_for_allocation(
                c, scale, self._downstream, constants
            )
        else:
            self.epsilon_ = float("nan")
            self.layer_epsilons_ = np.full(len(weights), np.nan)

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
        SparseMLPClassifier or SparseMLPRegressor
            A new estimator; ``random_state`` makes it reproducible.
        """
        check_is_fitted(self, "n_params_")
        network = self._network
        if model is not None:
            other = network_from_model(model)
            if not _same_weights(other, network):
                raise ValueError(
                    "transform(model) got a model other than the one given to fit; "
                    "fit the compressor on that model first"
                )
        if isinstance(self.random_state, Integral):
            rng = np.random.default_rng(self._transform_seed)
        else:
            rng = np.random.default_rng(check_random_state(self.random_state).randint(2**31))
        method = self.method_
        weights = [augmented_weights(W, b) for W, b in zip(network.coefs, network.intercepts, strict=True)]
        n_trials = self.n_trials if method.amplifies else 1
        info = {"method": method.name, "epsilon": self.epsilon_, "n_trials": n_trials}
        if self.keep_ratio == 1.0:
            layers, active = weights, [np.ones(W.shape[1], dtype=bool) for W in weights]
        elif not method.samples:
            layers = method.select(
                weights, self._statistics_, self._active, self.budget_, self._calibration
            )
            active = self._active
        elif self.keep_ratio is None:
            sizes = [m.reshape(-1) for m in self.sample_sizes_]
            layers = sparsify_theory(
                self._plans, weights, sizes, rng, n_trials, self._amplification_inputs
            )
            active = self._active
        else:
            layers, c = sparsify_to_budget(
                self._plans,
                weights,
                self.budget_,
                self._allocation_constant,
                rng,
                n_trials,
                self._amplification_inputs,
            )
            info["allocation_constant"] = c
            active = self._active
        start = None
        if self.reweight_ == "lstsq" and self.keep_ratio != 1.0:
            start = _assemble(network, layers, active)
            layers = lstsq_reweight(network, layers, self._calibration.X, ridge=self.ridge)
        info["reweight"] = self.reweight_
        compressed = _assemble(network, layers, active)
        info.update(
            layer_epsilons=self.layer_epsilons_,
            delta_hat=self.delta_hat_,
            dead_neurons=[np.flatnonzero(~a) for a in active[:-1]],
            original_shapes=[W.shape for W in network.coefs],
            calibration_size=self.calibration_size_,
        )
        estimator = sparse_estimator_for(network.head)
        return estimator._from_network(compressed, self.n_params_, info, start=start)

    def fit_transform(self, model, X, y=None):
        """``fit(model, X)`` then ``transform()``."""
        return self.fit(model, X, y).transform()

    def summary(self, compressed=None):
        """Per-layer table: widths, parameters kept/total, ε_ℓ, Δ^ℓ, dead neurons.

        Parameters
        ----------
        compressed : SparseMLPClassifier or SparseMLPRegressor, default=None
            A model returned by ``transform``; when None, a fresh one is drawn.
        """
        check_is_fitted(self, "n_params_")
        if compressed is None:
            compressed = self.transform()
        return CompressionSummary.from_estimator(compressed)


def sampling_plans(method, weights, statistics, active, layer_scale, seed=None):
    """The sampling plans of every layer, with the per-row quantities the draws read.

    They depend on the model, the calibration statistics and the seed, not on
    ε or the budget, so ``memory`` caches them with the statistics: a grid of
    budgets builds them once per fold.

    Parameters
    ----------
    method : Method
        A sampling method.
    weights : list of ndarray of shape (n_in + 1, n_out)
        Weights with the bias as last row.
    statistics : list of LayerStatistics or None
    active : list of ndarray of bool of shape (n_out,)
    layer_scale : ndarray of shape (n_layers,)
        Relative allocation of draws across layers.
    seed : int, default=None
        Budget mode: seeds a negligible perturbation of the allocation, so
        that rows with equal allocations enter the sample at different values
        of the allocation constant and the budget is met to the parameter.
        None builds the plans of theory mode.
    """
    plans = method.plans(weights, statistics, active, layer_scale)
    if seed is None:
        return plans
    random = np.random.RandomState(seed)
    for plan in plans:
        # a row that has drawn this many times its edges is kept whole:
        # large budgets then need bounded draws (see SamplingPlan.complete_rows)
        plan.max_draws_per_edge = BUDGET_DRAWS_PER_EDGE
        plan.allocation *= 1 + 1e-9 * random.random_sample(plan.n_rows)
        # computed here so that the cache holds them
        plan.whole_sizes, plan.entry_allocation, plan.shifted_cumulative  # noqa: B018
    return plans


def _torch_statistics(device):
    """The torch sensitivity function, or an ImportError naming the extra."""
    try:
        from ._torch_compute import compute_layer_statistics_torch
    except ImportError as error:
        raise ImportError(
            f"device={device!r} computes with torch, which is not installed: "
            "pip install 'sklearn-corenet[torch]'"
        ) from error
    return compute_layer_statistics_torch


class Calibration:
    """The calibration points P and the network they belong to."""

    def __init__(self, network, X):
        self.network = network
        self.X = X


def check_calibration_data(X, network):
    """Validate calibration data against ``network``; return a float array.

    Raises ValueError for NaN/inf, no rows, a wrong number of features,
    feature names other than the model's, or non-numeric data. The input is
    never modified.
    """
    names = getattr(X, "columns", None)
    try:
        array = check_array(
            X,
            accept_sparse=["csr", "csc"],
            dtype=[np.float64, np.float32],
            ensure_min_samples=1,
            input_name="X",
        )
    except (TypeError, ValueError) as error:
        message = str(error)
        if "could not convert" in message or "dtype" in message.lower() and "numeric" not in message:
            raise ValueError(f"calibration data X must be numeric: {message}") from error
        raise
    if array.shape[1] != network.n_features_in:
        raise ValueError(
            f"X has {array.shape[1]} features, but the model expects "
            f"{network.n_features_in}"
        )
    if names is not None and network.feature_names_in is not None:
        given = np.asarray([str(n) for n in names])
        if not np.array_equal(given, np.asarray(network.feature_names_in, dtype=str)):
            raise ValueError(
                "the feature names of X differ from those the model was fitted with"
            )
    if array.dtype != network.dtype:
        array = array.astype(network.dtype)
    return array


def _dense_rows(X, rows):
    part = X[rows]
    return part.toarray() if sp.issparse(part) else np.ascontiguousarray(part)


def _same_weights(a, b):
    return len(a.coefs) == len(b.coefs) and all(
        np.array_equal(x, y) for x, y in zip(a.coefs + a.intercepts, b.coefs + b.intercepts, strict=True)
    )


def _assemble(network, layers, active):
    """A :class:`Network` from sparsified augmented weights, dead neurons removed."""
    coefs = [W[:-1] for W in layers]
    intercepts = [np.array(W[-1]) for W in layers]
    for layer, alive in enumerate(active[:-1]):
        if alive.all():
            continue
        coefs[layer] = coefs[layer][:, alive]
        intercepts[layer] = intercepts[layer][alive]
        coefs[layer + 1] = coefs[layer + 1][alive, :]
    return Network(
        coefs=[np.ascontiguousarray(W, dtype=network.dtype) for W in coefs],
        intercepts=[b.astype(network.dtype) for b in intercepts],
        activation=network.activation,
        out_activation=network.out_activation,
        head=network.head,
        feature_names_in=network.feature_names_in,
        source=network.source,
        extra=dict(network.extra),
    )
