"""How a :class:`CoreNetCompressor`'s hyperparameters become calls into the algorithm.

The compressor is a thin shell: these functions read its hyperparameters,
run the certified search, and set its fitted attributes from a plan.
"""

import warnings
from dataclasses import dataclass, replace
from functools import partial
from numbers import Integral

import numpy as np
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import _check_sample_weight, check_memory

from ..algorithm._draw import draw_compression
from ..algorithm._plan import plan_compression
from ..algorithm._sensitivity import compute_layer_statistics
from ..algorithm._torch_statistics import torch_statistics
from ..certification._certify import certify_networks
from ..certification._evaluator import BudgetEvaluator
from ..certification._search import Target, compress_to_target
from ..core._held_out import row_keys
from ..core._rows import stack_rows
from ..core._validation import check_calibration_data
from ..fine_tuning._fidelity import FidelityRows, fidelity_settings, with_unlabeled
from ..methods._held_out import CertificateError, output_loss
from ..methods._measured import MeasuredChoice
from ..methods._registry import METHODS, get_method
from ..models._info import CompressionInfo


def statistics_function(compressor):
    """The compressor's ``statistics(network, points)``, through ``memory``, on ``device``."""
    if compressor.device is None:
        function, options = compute_layer_statistics, {"n_jobs": compressor.n_jobs}
    else:
        function = torch_statistics(compressor.device)
        options = {"device": str(compressor.device), "n_jobs": compressor.n_jobs}
    cached = check_memory(compressor.memory).cache(function, ignore=[*options, "verbose"])
    return partial(cached, delta_cap=compressor.delta_cap, verbose=compressor.verbose, **options)


def set_fitted_attributes(compressor, plan, reweight, transform_seed):
    """Copy the plan's figures to the compressor's fitted attributes (all at once)."""
    statistics = plan.problem.statistics
    compressor._plan = plan
    compressor._transform_seed = transform_seed
    # what transform reads is fixed here: set_params after fit, or a refit
    # that fails, leaves the draws of this fit as they are
    compressor._ridge = compressor.ridge
    compressor._draw_random = ("seed", transform_seed) if isinstance(compressor.random_state, Integral) else ("state", compressor.random_state)
    compressor.method_ = plan.method
    compressor.reweight_ = reweight
    compressor.n_params_ = plan.problem.network.n_params
    compressor.calibration_size_ = plan.calibration_size
    compressor.amplification_size_ = plan.amplification_size
    compressor.budget_ = plan.budget
    compressor.epsilon_ = plan.epsilon
    compressor.layer_epsilons_ = plan.layer_epsilons
    compressor.delta_hat_ = plan.delta_hat
    compressor.sample_sizes_ = plan.sample_sizes
    compressor.theoretical_nnz_ = plan.theoretical_nnz
    if statistics is None:
        compressor.sensitivities_ = compressor.bias_sensitivities_ = compressor.dead_neurons_ = None
    else:
        compressor.sensitivities_ = [s.sensitivity[:-1] for s in statistics]
        compressor.bias_sensitivities_ = [s.sensitivity[-1] for s in statistics]
        compressor.dead_neurons_ = [np.flatnonzero(~s.alive) for s in statistics[:-1]]


def resolve_method(compressor):
    """The method object and reweighting rule a fit of ``compressor`` uses."""
    method = compressor.method
    if isinstance(method, str) and method == "auto":
        method = "corenet++" if compressor._theory_mode() else "measured"
    method = get_method(method)
    if isinstance(method, MeasuredChoice) and method.distance is None and compressor._certified_mode():
        method = method.measuring(certified_distance(compressor))
    reweight = method.reweights[0] if compressor.reweight == "auto" else compressor.reweight
    if reweight not in method.reweights:
        combinations = "; ".join(f"{m.name!r}: {', '.join(map(repr, m.reweights))}" for m in METHODS.values())
        raise InvalidParameterError(
            f"method={method.name!r} cannot use reweight={reweight!r}. Valid "
            f"combinations: {combinations} (or 'auto')"
        )
    return method, reweight


def certified_distance(compressor):
    """What the measured choice compares in the certified search: what its target reads.

    (ε, δ): the certificate's error of each row (:class:`CertificateError`);
    label agreement: the cross-entropy against the original's probabilities
    (:func:`output_loss`, which separates rules with fewer rows than the
    labels do); a score: the total variation distance of the probabilities,
    as with a budget (None).
    """
    if compressor.score_tolerance is not None:
        return None
    if compressor.agreement is not None:
        return output_loss
    return CertificateError(compressor.epsilon, compressor.error, compressor.output_floor, compressor.error_on)


def resolve_fidelity(compressor, network, X_unlabeled, pipeline, model, seed):
    """Fidelity fine-tuning's settings, target and validated unlabelled rows (None when off).

    The target is the original's outputs (its logits, for a classifier),
    but for a score target, where it is its predicted probabilities. For
    label agreement and for ε on the probabilities, matching the logits (and
    keeping the epoch whose quantile of their errors is lowest) certified
    smaller models than matching the probabilities on MNIST 784-300-300-10
    and Fashion-MNIST, whose probability runs mostly kept their epoch 0
    (docs page "Guarantees", "Fidelity fine-tuning").
    """
    fidelity = fidelity_settings(compressor.fine_tune, seed, verbose=compressor.verbose)
    if X_unlabeled is not None:
        if pipeline is not None:
            X_unlabeled = pipeline.transform(X_unlabeled)
        X_unlabeled = check_calibration_data(X_unlabeled, network, model)
    classifier = network.head.kind != "regression"
    on_score = compressor._certified_mode() and compressor.score_tolerance is not None
    target = "probabilities" if classifier and on_score else "outputs"
    return fidelity, target, X_unlabeled


def fine_tune_fixed(compressor, fidelity, target, X, X_unseen, seed, seen_keys=None):
    """Budget mode with ``fine_tune``: draw once, fine-tune toward the original, keep that network.

    ``X`` are the rows compressed with, ``X_unseen`` unlabelled rows set aside
    (None when there are none), ``seen_keys`` the keys of every row given
    when some were unlabelled. ``transform`` then returns the fine-tuned
    network every time.
    """
    plan = compressor._plan
    rows = X if X_unseen is None else stack_rows(X, X_unseen)
    tuning = FidelityRows(
        plan.problem.network, rows, target, fidelity, np.random.default_rng(seed), quantile=1 - compressor.delta,
        error=compressor.error, output_floor=compressor.output_floor,
        n_unseen=0 if X_unseen is None else X_unseen.shape[0],
    )
    drawn = draw_compression(plan, np.random.default_rng(seed), reweight=compressor.reweight_, ridge=compressor._ridge)
    tuned, history = tuning.tune(drawn.network)
    compressor._certified = replace(drawn, network=tuned, start=None)
    compressor.fine_tune_history_ = history
    if seen_keys is not None:  # certify refuses the rows fine-tuning trained on too
        compressor._calibration_keys = seen_keys


@dataclass(frozen=True)
class FitInputs:
    """What a fit of the compressor resolved from its arguments and hyperparameters.

    ``X``, ``y``, ``sample_weight`` and ``X_unlabeled`` are validated (rows of
    weight 0 dropped, the weights scaled to mean 1, both through a
    Pipeline's fitted steps); ``fidelity`` and ``fidelity_target`` come from
    :func:`resolve_fidelity`, ``method`` and ``reweight`` from
    :func:`resolve_method`.
    """

    network: object
    X: object
    y: object
    method: object
    reweight: str
    settings: object
    random: object
    transform_seed: int
    statistics: object
    sampling_plans: object
    sample_weight: object = None
    fidelity: object = None
    fidelity_target: str = "outputs"
    X_unlabeled: object = None


def fit_to_budget(compressor, fit):
    """A budget ``keep_ratio`` or theory mode: plan the compression (and fine-tune once, with ``fidelity``).

    The unlabelled rows compress as rows of ``X`` of weight 1, but for those
    set aside for fine-tuning (:func:`~sklearn_corenet.fine_tuning._fidelity.with_unlabeled`). Sets the
    compressor's fitted attributes from ``fit`` (:class:`FitInputs`).
    """
    X, sample_weight, X_unlabeled, fidelity = fit.X, fit.sample_weight, fit.X_unlabeled, fit.fidelity
    reweight, transform_seed = fit.reweight, fit.transform_seed
    X_unseen = seen_keys = None
    if X_unlabeled is not None:
        if fidelity is not None:  # certify refuses every row fine-tuning may have read
            seen_keys = np.concatenate([row_keys(X), row_keys(X_unlabeled)])
        rows, rng = np.arange(X_unlabeled.shape[0]), np.random.default_rng(transform_seed)
        X, sample_weight, unseen = with_unlabeled(X, sample_weight, X_unlabeled, rows, fidelity, rng)
        X_unseen = None if fidelity is None else X_unlabeled[unseen]
    plan = plan_compression(
        fit.network, X, fit.method, fit.settings, fit.random,
        statistics=fit.statistics, sampling_plans=fit.sampling_plans, sample_weight=sample_weight,
    )
    set_fitted_attributes(compressor, plan, reweight, transform_seed)
    compressor._certified = compressor.certificate_ = compressor.search_results_ = None
    compressor._calibration_keys = compressor.fine_tune_history_ = None
    compressor.validation_size_ = 0
    if fidelity is not None:
        fine_tune_fixed(compressor, fidelity, fit.fidelity_target, X, X_unseen, transform_seed, seen_keys)


def fit_to_target(compressor, fit):
    """``keep_ratio="certified"``: search the sparsest budget that meets the target.

    Sets the compressor's fitted attributes from ``fit`` (:class:`FitInputs`),
    its certificate and the search's table.
    """
    network, X, X_unlabeled = fit.network, fit.X, fit.X_unlabeled
    if compressor.score_tolerance is not None and compressor.agreement is not None:
        raise ValueError("score_tolerance and agreement are two targets: set one of them")
    keys = row_keys(X)
    target = Target(
        epsilon=compressor.epsilon,
        delta=compressor.delta,
        confidence=compressor.confidence,
        error=compressor.error,
        output_floor=compressor.output_floor,
        score_tolerance=compressor.score_tolerance,
        agreement=compressor.agreement,
        error_on=compressor.error_on,
    )
    evaluate = BudgetEvaluator(
        network,
        X,
        fit.y,
        keys,
        fit.method,
        fit.settings,
        target,
        reweight=fit.reweight,
        ridge=compressor.ridge,
        validation_fraction=compressor.validation_fraction,
        random=fit.random,
        draw_seed=fit.transform_seed,
        statistics=fit.statistics,
        sampling_plans=fit.sampling_plans,
        sample_weight=fit.sample_weight,
        fidelity=fit.fidelity,
        fidelity_target=fit.fidelity_target,
        extra_rows=X_unlabeled,
    )
    result = compress_to_target(evaluate, network.n_params, target, compressor.search_step, compressor.verbose)
    chosen = result.trial
    for warning in chosen.warnings:  # what the chosen budget warned about
        warnings.warn(warning.message, stacklevel=3)
    set_fitted_attributes(compressor, chosen.plan, fit.reweight, fit.transform_seed)
    compressor._certified = chosen.drawn
    # certify refuses the rows fine-tuning trained on too
    compressor._calibration_keys = keys if X_unlabeled is None else np.concatenate([keys, evaluate.extra_keys])
    compressor._search = evaluate
    compressor.certificate_ = chosen.certificate
    compressor.fine_tune_history_ = chosen.fine_tune_history
    compressor.validation_size_ = int(evaluate.held_out_rows.size + evaluate.extra_held_out_rows.size)
    compressor.search_results_ = result.table()
    return compressor


def compression_info(compressor, drawn):
    """The :class:`CompressionInfo` of a network drawn from the compressor's plan."""
    plan = compressor._plan
    network = plan.problem.network
    return CompressionInfo(
        method=plan.method.name,
        reweight=compressor.reweight_,
        epsilon=compressor.epsilon_,
        n_trials=plan.n_trials,
        allocation_constant=drawn.allocation_constant,
        layer_epsilons=compressor.layer_epsilons_,
        delta_hat=compressor.delta_hat_,
        dead_neurons=[np.flatnonzero(~a) for a in drawn.active[:-1]],
        original_shapes=[W.shape for W in network.coefs],
        calibration_size=compressor.calibration_size_,
        selection=None if drawn.method in (None, plan.method) else repr(drawn.method),
    )


#: Theory mode warns when the paper's sample sizes keep at least this share
#: of the parameters: the guarantee then costs nearly the whole network.
THEORY_KEEPS_MOST = 0.75


def warn_if_theory_keeps_most(compressor):
    """Warn when theory mode's sample sizes keep nearly every parameter."""
    kept = compressor.theoretical_nnz_ / compressor.n_params_
    if kept >= THEORY_KEEPS_MOST:
        warnings.warn(
            f"keep_ratio='theory' at epsilon={compressor.epsilon:g}, delta={compressor.delta:g}: "
            f"the paper's sample sizes keep up to {kept:.0%} of the parameters, which "
            "barely compresses. keep_ratio='certified' (the default) finds the sparsest "
            "network whose certificate holds at the same (epsilon, delta); a float "
            "keep_ratio sets the budget directly",
            UserWarning,
            stacklevel=3,
        )


def without_calibration(compressor):
    """A copy keeping the hyperparameters and the small fitted figures.

    Left out: the private state (the plan, which holds the calibration
    points and their activations, and whatever was drawn from it) and the
    per-edge sensitivities, as large as the network. A fitted
    ``CoreNetClassifier`` or ``CoreNetRegressor`` saves this copy as its
    ``compressor_``, so that a saved model holds nothing of the
    calibration data; ``transform`` on the copy needs a new ``fit``.
    """
    lean = type(compressor).__new__(type(compressor))
    lean.__dict__.update(
        (name, value)
        for name, value in compressor.__dict__.items()
        if not name.startswith("_") and name not in ("sensitivities_", "bias_sensitivities_")
    )
    return lean


def certify_compressed(compressor, compressed, X, y):
    """``compressor.certify``: ``compressed`` against the fitted network on ``X``.

    Rows equal to a calibration row of the fit are refused; a Pipeline's
    rows go through its fitted transformers first.
    """
    pipeline = getattr(compressor, "_pipeline", None)
    if pipeline is not None:
        X = pipeline.transform(X)
    seen = getattr(compressor, "_calibration_keys", None)
    if seen is None:
        calibration = getattr(getattr(compressor._plan, "problem", None), "X", None)
        seen = None if calibration is None else row_keys(calibration)
    return certify_networks(
        compressor._plan.problem.network,
        compressed.to_network(),
        X,
        y,
        epsilon=compressor.epsilon,
        delta=compressor.delta,
        confidence=compressor.confidence,
        error=compressor.error,
        output_floor=compressor.output_floor,
        seen_keys=seen,
        error_on=compressor.error_on,
    )


def drop_unweighted_rows(X, y, sample_weight):
    """``X``, ``y`` and the weights without the rows of weight 0 (None weights: as given).

    Weights are validated as scikit-learn does (one per row, finite, not
    negative, not all 0). Weights that are all equal compress as no weights
    do.
    """
    if sample_weight is None:
        return X, y, None
    sample_weight = _check_sample_weight(sample_weight, X, ensure_non_negative=True)
    kept = sample_weight > 0  # scikit-learn's check refuses weights that are all 0
    if np.all(sample_weight[kept] == sample_weight[kept][0]):
        weights = None  # repetitions of every row alike change nothing
    else:
        weights = sample_weight[kept] / sample_weight[kept].mean()
    if kept.all():
        return X, y, weights
    rows = np.flatnonzero(kept)
    return _safe_indexing(X, rows), None if y is None else _safe_indexing(y, rows), weights



def check_targets_need_certified_mode(compressor):
    """ValueError when ``score_tolerance`` or ``agreement`` is set outside certified mode.

    They are targets of the certified search; with a budget or theory mode
    they would be ignored.
    """
    if compressor._certified_mode():
        return
    for name in ("score_tolerance", "agreement"):
        if getattr(compressor, name) is not None:
            raise ValueError(
                f"{name}={getattr(compressor, name)!r} is a target of keep_ratio='certified' (the "
                f"default), but keep_ratio={compressor.keep_ratio!r}: leave keep_ratio at its "
                f"default to compress to the target, or drop {name}"
            )
