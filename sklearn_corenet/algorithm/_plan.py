"""The compression pipeline, first of two pure functions: plan (then draw, in :mod:`._draw`).

:func:`plan_compression` reads a network and its calibration data once: it
splits the data into the sensitivity points S and the held-out points T,
computes the calibration statistics, and solves for the sample sizes of
theory mode (Alg. 1, lines 1-9 of Baykal et al. 2019) or the allocation
constant of a budget. Its result, a :class:`CompressionPlan`, never changes.
:func:`draw_compression` draws one compressed network from a plan and a
random generator (Alg. 1, lines 10-13), reweights it and removes the neurons
the method drops.
"""

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..core._network import Network
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

#: Held-out points used for amplification are capped: beyond this many the
#: choice of the best candidate no longer changes measurably.
MAX_AMPLIFICATION_SIZE = 1000

#: Share of the calibration rows reserved for T when the method amplifies.
HELD_OUT_FRACTION = 0.2


@dataclass(frozen=True)
class CompressionProblem:
    """What every method sees of the network and its calibration data.

    Attributes
    ----------
    network : Network
        The original network.
    weights : list of ndarray of shape (n_in + 1, n_out)
        Its weights with the bias as last row.
    X : {ndarray, sparse matrix, LazyRows} of shape (n_points, n_features)
        The calibration points P (for activation statistics and re-fits),
        as given: sparse data is never densified whole, and data read
        lazily (:class:`~sklearn_corenet.core._rows.LazyRows`) is read a
        chunk of rows at a time.
    statistics : list of LayerStatistics or None
        Sensitivities and Δ over S, when the method uses them.
    active : list of ndarray of bool of shape (n_out,)
        Per layer, the neurons the compressed network keeps.
    held_out_inputs : list of ndarray or None
        The original activations on T feeding each layer (amplification).
    weights_owned : bool
        Whether ``weights`` are arrays made for one draw that a method may
        overwrite (structured-then-sparse hands its narrowed layers on), not
        the network's own.
    sample_weight : ndarray of shape (n_points,) or None
        Positive weights of the rows of ``X``, as repetitions (activation
        statistics and re-fits are weighted by them), or None.
    """

    network: Network
    weights: list
    X: np.ndarray
    statistics: list | None
    active: list
    held_out_inputs: list | None
    weights_owned: bool = False
    sample_weight: np.ndarray | None = None


@dataclass(frozen=True)
class CompressionPlan:
    """Everything a draw needs, solved once per fit.

    Attributes
    ----------
    method : Method
        The compression method.
    problem : CompressionProblem
        The network, its calibration data and statistics.
    mode : {"theory", "budget", "keep_all"}
        Theory sample sizes from ε and δ, a parameter budget, or the whole
        network (``keep_ratio=1``).
    budget : int or None
        Parameters to keep (budget modes).
    n_trials : int
        Candidates per neuron (1 unless the method amplifies).
    calibration_size, amplification_size : int
        |S| and |T|.
    epsilon : float
        ε of theory mode, or the ε a budget's sample sizes amount to (NaN
        without a guarantee).
    layer_epsilons, delta_hat, downstream : ndarray of shape (n_layers,)
        ε_ℓ, Δ^ℓ and Δ^{ℓ→} (the last two None without statistics).
    sampling_plans : list of SamplingPlan or None
        Sampling methods: every layer's sampling problems.
    sample_sizes : list of ndarray of int
        Draws per row of every plan (empty for selection methods).
    allocation_constant : float or None
        Budget mode of sampling methods: the constant c of ``m = ceil(c α)``
        that meets the budget in expectation.
    theoretical_nnz : int or None
        Theory mode: the bound on kept parameters of the sample sizes.
    """

    method: object
    problem: CompressionProblem
    mode: str
    budget: int | None
    n_trials: int
    calibration_size: int
    amplification_size: int
    epsilon: float
    layer_epsilons: np.ndarray
    delta_hat: np.ndarray | None
    downstream: np.ndarray | None
    sampling_plans: list | None
    sample_sizes: list
    allocation_constant: float | None
    theoretical_nnz: int | None


@dataclass(frozen=True)
class CompressionSettings:
    """The compressor's hyperparameters that planning reads."""

    epsilon: float
    delta: float
    keep_ratio: float | None
    n_trials: int
    calibration_size: object
    allocation: str
    K: float | None


def compression_mode(keep_ratio):
    """"theory" (no budget), "keep_all" (``keep_ratio=1``) or "budget"."""
    if keep_ratio is None:
        return "theory"
    return "keep_all" if keep_ratio == 1.0 else "budget"


def plan_compression(network, X, method, settings, random, *, statistics, sampling_plans, sample_weight=None):
    """Read the network and calibration data once; solve the sample sizes.

    Parameters
    ----------
    network : Network
        The original network.
    X : {ndarray, sparse matrix, LazyRows} of shape (n_points, n_features)
        Validated calibration data P, in the network's dtype (see
        :func:`~sklearn_corenet.core._validation.check_calibration_data`).
    method : Method
        The compression method.
    settings : CompressionSettings
        ε, δ, the budget and the other planning hyperparameters.
    random : numpy.random.RandomState
        Chooses S and T and seeds the budget's tie-breaking.
    statistics : callable
        ``statistics(network, points)`` computes the calibration statistics
        (possibly cached, or on another device).
    sampling_plans : callable
        ``sampling_plans(method, problem, layer_scale, seed)`` builds the
        plans (possibly cached); see :func:`build_sampling_plans`.
    sample_weight : ndarray of shape (n_points,), default=None
        Positive weights of the calibration rows, as repetitions: a row's
        weight sets how likely it is to be among the sensitivity points S,
        and how much it counts in the activation statistics and re-fits.

    Returns
    -------
    CompressionPlan
    """
    mode = compression_mode(settings.keep_ratio)
    if mode == "theory" and not method.theory_mode:
        raise ValueError(
            f"method={method.name!r} has no theoretical sample sizes: give a budget with keep_ratio"
        )
    widths = [W.shape[1] for W in network.coefs]
    points, held_out = split_calibration(X, widths, method, settings, random, sample_weight)
    stats = statistics(network, points) if method.needs_statistics or method.prunes_dead_neurons else None
    if stats is not None:
        check_statistics(stats)
    weights = network.augmented_weights()
    constants = theory_constants(widths, settings.delta, settings.K)
    delta_hat = downstream = None
    if stats is not None:
        delta_hat, downstream = layer_conditions([s.relative_condition for s in stats], constants.kappa)
    problem = CompressionProblem(
        network=network,
        weights=weights,
        X=X,
        statistics=stats,
        active=method.active_neurons(weights, stats),
        held_out_inputs=network.hidden_activations(held_out) if held_out is not None else None,
        sample_weight=sample_weight,
    )
    budget = None if mode == "theory" else int(round(settings.keep_ratio * network.n_params))
    fields = dict(
        method=method,
        problem=problem,
        mode=mode,
        budget=budget,
        n_trials=settings.n_trials if method.amplifies else 1,
        calibration_size=points.shape[0],
        amplification_size=0 if held_out is None else held_out.shape[0],
        delta_hat=delta_hat,
        downstream=downstream,
        sampling_plans=None,
        sample_sizes=[],
        allocation_constant=None,
        theoretical_nnz=None,
        epsilon=float("nan"),
        layer_epsilons=np.full(network.n_layers, np.nan),
    )
    if mode == "theory":
        fields.update(_theory_sizes(method, problem, settings, constants, downstream, sampling_plans))
    elif method.samples:
        # keep_all too: its sizes are reported, though the draw keeps everything
        fields.update(_budget_sizes(method, problem, settings, budget, constants, downstream, random, sampling_plans))
    return CompressionPlan(**fields)


def check_statistics(statistics):
    """Raise a ValueError naming the layer whose sensitivities or Δ are not finite.

    Empirical sensitivities lie in [0, 1] and each Δ_i(x) is capped, so a
    non-finite value means that the calibration data or the weights drove
    the computation out of the range of floating point (values near the
    largest or the smallest representable numbers).
    """
    for layer, stats in enumerate(statistics):
        with np.errstate(over="ignore", invalid="ignore"):
            finite = np.isfinite(stats.sensitivity.sum()) and np.isfinite(stats.relative_condition).all()
        if not finite:
            what = "sensitivities" if not np.isfinite(stats.sensitivity).all() else "relative condition numbers Δ"
            raise ValueError(
                f"the empirical {what} of layer {layer} are not finite: the calibration "
                "data or the weights reach the limits of floating point (values near "
                f"{np.finfo(stats.sensitivity.dtype).max:.3g} or below {np.finfo(stats.sensitivity.dtype).tiny:.3g}); "
                "rescale the data as the model was trained on it"
            )


def split_calibration(X, widths, method, settings, random, sample_weight=None):
    """The sensitivity points S and the held-out points T (None unless amplifying).

    When the method amplifies, a fifth of the rows (at least one) is reserved
    for T, so |S| is at most the rest; T is then every row not in S, at most
    ``MAX_AMPLIFICATION_SIZE``. ``calibration_size="auto"`` takes
    |S| = ⌈log(8ηη*/δ) log(ηη*)⌉ (Baykal et al. 2019, Alg. 1, line 2).
    """
    n_points = X.shape[0]
    needed = 2 if method.amplifies else 1
    if n_points < needed:
        raise ValueError(
            f"method={method.name!r} needs at least {needed} calibration rows "
            f"(sensitivity points S{' plus held-out points T' if method.amplifies else ''}); "
            f"got {n_points}"
        )
    held_out = max(1, int(np.ceil(HELD_OUT_FRACTION * n_points))) if method.amplifies else 0
    if settings.calibration_size == "auto":
        size = min(auto_calibration_size(widths, settings.delta), n_points - held_out)
    else:
        size = int(settings.calibration_size)
        if size > n_points - held_out:
            raise ValueError(
                f"calibration_size={size} leaves too few of the {n_points} rows: "
                f"method={method.name!r} needs {size + held_out} or more"
            )
    if sample_weight is None:
        order = random.permutation(n_points)
    else:
        # a weighted sample without replacement as a weighted random order
        # (Efraimidis and Spirakis, 2006): a row of weight 2 is as likely to
        # come first as two copies of it
        with np.errstate(divide="ignore"):
            keys = np.log(random.random_sample(n_points)) / sample_weight
        order = np.argsort(-keys, kind="stable")
    # S stays sparse when X is (the statistics densify it a chunk at a time);
    # data read lazily is read here for S and T only
    points = X[order[:size]] if sp.issparse(X) else dense_rows(X, order[:size])
    if not method.amplifies:
        return points, None
    return points, dense_rows(X, order[size : size + min(n_points - size, MAX_AMPLIFICATION_SIZE)])


def dense_rows(X, rows):
    """Rows of ``X`` as a C-contiguous dense array."""
    part = X[rows]
    return part.toarray() if sp.issparse(part) else np.ascontiguousarray(part)


def layer_scale(allocation, downstream, n_layers):
    """How budget mode shares draws across layers (``allocation`` parameter).

    "sensitivity": one constant for all layers; "theory": Alg. 1's layer
    factor (Δ^{ℓ→})², relative to the largest (needs the statistics).
    """
    if allocation == "theory" and downstream is not None:
        scale = (downstream / downstream[-1]) ** 2
        return scale / scale.max()
    return np.ones(n_layers)


def build_sampling_plans(method, problem, layer_scale, seed=None):
    """The sampling plans of every layer, with the per-row quantities the draws read.

    They depend on the model, the calibration statistics and the seed, not on
    ε or the budget, so a ``memory`` cache of this function serves a whole
    grid of budgets.

    Parameters
    ----------
    method : SamplingMethod
    problem : CompressionProblem
    layer_scale : ndarray of shape (n_layers,)
        Relative allocation of draws across layers.
    seed : int, default=None
        Budget mode: seeds a negligible perturbation of the allocation, so
        that rows with equal allocations enter the sample at different values
        of the allocation constant and the budget is met to the parameter.
        None builds the plans of theory mode.
    """
    plans = method.plans(problem, layer_scale)
    if seed is None:
        return plans
    random = np.random.RandomState(seed)
    jitter = [1 + 1e-9 * random.random_sample(plan.n_rows) for plan in plans]
    # a row that has drawn this many times its edges is kept whole: large
    # budgets then need bounded draws (see SamplingPlan.complete_rows)
    return [
        plan.for_budget(plan.allocation * factor, BUDGET_DRAWS_PER_EDGE)
        for plan, factor in zip(plans, jitter, strict=True)
    ]


def _theory_sizes(method, problem, settings, constants, downstream, sampling_plans):
    """Alg. 1, line 9 and Alg. 2, line 6: ε_ℓ and the sample size of every row."""
    eps_layer = layer_epsilons(settings.epsilon, downstream)
    plans = sampling_plans(method, problem, np.ones(len(problem.weights)), None)
    sizes, bound = [], 0
    for plan, eps in zip(plans, eps_layer, strict=True):
        m = theory_sample_sizes(plan.allocation.reshape(2, -1), eps, constants)
        sizes.append(m)
        bound += int(np.minimum(m.reshape(-1), plan.support_sizes).sum())
    return {
        "epsilon": float(settings.epsilon),
        "layer_epsilons": eps_layer,
        "sampling_plans": plans,
        "sample_sizes": sizes,
        "theoretical_nnz": bound,
    }


def _budget_sizes(method, problem, settings, budget, constants, downstream, random, sampling_plans):
    """The allocation constant whose expected kept count is ``budget``."""
    scale = layer_scale(settings.allocation, downstream, len(problem.weights))
    seed = random.randint(np.iinfo(np.int32).max)
    plans = sampling_plans(method, problem, scale, seed)
    c = solve_allocation(plans, budget)
    for plan in plans:  # what only the solve reads (as large as the layer)
        plan.release_solve_cache()
    _warn_unreachable_budget(plans, budget, c, settings.keep_ratio, method)
    if np.isfinite(c):
        sizes = [p.draws_for(c).reshape(2, -1) if p.layout == "neuron" else p.draws_for(c) for p in plans]
    else:
        sizes = [np.zeros(p.allocation.shape, dtype=np.int64) for p in plans]
    fields = {"sampling_plans": plans, "sample_sizes": sizes, "allocation_constant": c}
    if problem.statistics is not None and np.isfinite(c) and method.needs_statistics:
        fields["epsilon"], fields["layer_epsilons"] = epsilon_for_allocation(c, scale, downstream, constants)
    return fields


def _warn_unreachable_budget(plans, budget, c, keep_ratio, method):
    """Say when sampling keeps more (one edge per row) or fewer (capacity) than asked."""
    floor = sum(int(np.count_nonzero(p.drawing_rows)) for p in plans)
    if budget < floor:
        warnings.warn(
            f"keep_ratio={keep_ratio} asks for {budget} parameters, but "
            f"method={method.name!r} keeps at least one edge of each neuron's positive "
            f"and negative weights ({floor} here); the compressed network keeps {floor}",
            UserWarning,
            stacklevel=5,
        )
    capacity = sum(p.capacity for p in plans)
    if not np.isfinite(c) and capacity < budget and keep_ratio < 1.0:  # 1.0 keeps the network as it is
        warnings.warn(
            f"keep_ratio={keep_ratio} asks for {budget} parameters, but "
            f"method={method.name!r} can keep only {capacity}: the others have zero "
            "sensitivity on the calibration data or feed neurons that never fire; "
            f"the compressed network keeps {capacity}",
            UserWarning,
            stacklevel=5,
        )


