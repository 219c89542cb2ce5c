"""Draw one compressed network from a plan (Alg. 1, lines 10-13 of Baykal et al. 2019), reweight it and remove the neurons the method drops; warn when it predicts no better than a constant."""

import warnings
import weakref
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import scipy.sparse as sp

from ..core._head import predictions
from ..core._network import Network, forward_pass
from ..core._validation import check_finite_layers
from ._reweight import REWEIGHT_RULES
from ._sparsify import sparsify_theory, sparsify_to_budget


@dataclass(frozen=True)
class DrawnNetwork:
    """One draw of :func:`draw_compression`.

    Attributes
    ----------
    network : Network
        The compressed network, removed neurons dropped.
    start : Network or None
        The same edges before a least-squares re-fit, in sparse weight
        matrices (None without one).
    allocation_constant : float or None
        Budget mode of sampling methods: the constant that met the budget.
    active : list of ndarray of bool
        Per layer, the neurons of the original network that were kept.
    method : Method or None
        The method that chose the edges: the plan's, or the one it chose
        (see ``SelectionMethod.choose``).
    """

    network: Network
    start: Network | None
    allocation_constant: float | None
    active: list
    method: object = None


def draw_compression(plan, rng, *, reweight, ridge):
    """Draw one compressed network from ``plan`` (Alg. 1, lines 10-13).

    Parameters
    ----------
    plan : CompressionPlan
    rng : numpy.random.Generator
    reweight : {"unbiased", "none", "lstsq"}
        The reweighting rule applied to the kept edges.
    ridge : float
        Ridge strength of the "lstsq" rule.

    Returns
    -------
    DrawnNetwork
    """
    problem, method = plan.problem, plan.method
    c = None
    if plan.mode == "keep_all":
        # copies: the drawn network must share no memory with the plan
        layers = [np.array(W, copy=True) for W in problem.weights]
        active = [np.ones(W.shape[1], dtype=bool) for W in problem.weights]
    elif not method.samples:
        method = _chosen(plan, reweight, ridge)
        layers = method.select(problem, plan.budget)
        active = method.neurons_kept(layers, problem)
    elif plan.mode == "theory":
        sizes = [m.reshape(-1) for m in plan.sample_sizes]
        layers = sparsify_theory(
            plan.sampling_plans, problem.weights, sizes, rng, plan.n_trials, problem.held_out_inputs
        )
        active = problem.active
    else:
        layers, c = sparsify_to_budget(
            plan.sampling_plans,
            problem.weights,
            plan.budget,
            plan.allocation_constant,
            rng,
            plan.n_trials,
            problem.held_out_inputs,
        )
        active = problem.active
    start = None
    if plan.mode != "keep_all":
        rule = REWEIGHT_RULES[reweight]
        if rule.refits:  # its starting values are kept too, sparsely
            start = remove_neurons(problem.network, [sp.csr_array(W) for W in layers], active)
        # the layers are this draw's own arrays: a re-fit overwrites them
        layers = rule.function(
            problem.network, layers, problem.X, ridge=ridge, overwrite=True, sample_weight=problem.sample_weight
        )
    check_finite_layers(layers, f"the compressed weights (method={method.name!r}, reweight={reweight!r})")
    return DrawnNetwork(remove_neurons(problem.network, layers, active), start, c, active, method)


#: What selection methods that measure before they choose chose, per plan
#: (by id, dropped with the plan) and (reweight, ridge): the draws of a plan
#: after the first measure nothing again. Kept out of the plan, so that a
#: fitted compressor's state does not change when it draws.
_CHOICES = {}


def _chosen(plan, reweight, ridge):
    """The selection method ``plan.method`` chooses (``SelectionMethod.choose``), once per plan."""
    choices = _CHOICES.get(id(plan))
    if choices is None:
        choices = _CHOICES[id(plan)] = {}
        weakref.finalize(plan, _CHOICES.pop, id(plan), None)
    key = (reweight, ridge)
    if key not in choices:
        rule = REWEIGHT_RULES[reweight]
        choices[key] = plan.method.choose(plan.problem, plan.budget, partial(rule.function, ridge=ridge))
    return choices[key]


def remove_neurons(network, layers, active):
    """A :class:`Network` from sparsified augmented weights, inactive neurons removed.

    Parameters
    ----------
    network : Network
        The original network (activations, head, names).
    layers : list of {ndarray, csr_array} of shape (n_in + 1, n_out)
        Sparsified weights with the bias as last row (sparse layers stay
        sparse).
    active : list of ndarray of bool of shape (n_out,)
        Per layer, the neurons to keep; a removed hidden neuron takes its
        column of its layer and its row of the next layer with it.
    """
    coefs = [W[:-1] for W in layers]
    intercepts = [W[-1].toarray() if sp.issparse(W) else np.array(W[-1]) for W in layers]
    for layer, alive in enumerate(active[:-1]):
        if alive.all():
            continue
        coefs[layer] = coefs[layer][:, alive]
        intercepts[layer] = intercepts[layer][alive]
        coefs[layer + 1] = coefs[layer + 1][alive, :]
    return replace(
        network,
        coefs=[
            sp.csr_array(W, dtype=network.dtype) if sp.issparse(W) else np.ascontiguousarray(W, dtype=network.dtype)
            for W in coefs
        ],
        intercepts=[b.astype(network.dtype) for b in intercepts],
        extra=dict(network.extra),
    )


#: Calibration rows on which a compressed network is checked for predicting
#: one thing only, or worse than a constant.
CONSTANT_CHECK_ROWS = 1000


def inputs_reach_outputs(coefs):
    """Whether a path of non-zero weights connects some input to some output."""
    reached = np.ones(coefs[0].shape[0])
    for W in coefs:
        reached = (np.asarray(abs(W).T @ reached).ravel() > 0).astype(np.float64)
    return bool(reached.any())


def _constant(values):
    return bool(np.all(values == values[:1]))


def warn_constant_predictions(plan, estimator):
    """Warn when the compressed ``estimator`` predicts no better than a constant.

    Two checks, each on at most ``CONSTANT_CHECK_ROWS`` rows, so that a
    compression that destroyed the network is returned with a warning,
    never silently:

    - on the first calibration rows, a network that predicts one thing
      where the original predicts several (a budget that keeps a handful of
      parameters, none or few of them on a path from the inputs to the
      outputs);
    - on the held-out calibration rows T (the first calibration rows when
      the method holds none out), a network whose predictions are further
      from the original's than the best constant is (see
      :func:`_worse_than_constant`).
    """
    network = plan.problem.network
    rows = plan.problem.X[:CONSTANT_CHECK_ROWS]
    decision = forward_pass(rows, estimator.coefs_, estimator.intercepts_, estimator.activation)
    predicted = predictions(network, decision)
    original = predictions(network, network.decision(rows))
    if _constant(original):
        return
    if _constant(predicted):
        kind = "values" if network.head.kind == "regression" else "label"
        distinct = len(np.unique(original, axis=0))
        reason = (
            ", and none of them is on a path from an input to an output"
            if not inputs_reach_outputs(estimator.coefs_)
            else ""
        )
        warnings.warn(
            f"the compressed network keeps {estimator.nnz_} of {estimator.n_params_original_} "
            f"parameters{reason}: it predicts the same {kind} ({np.asarray(predicted[0]).tolist()!r}) for all "
            f"{rows.shape[0]} calibration rows checked, where the original predicts "
            f"{distinct} different ones. Keep more parameters (a larger keep_ratio).",
            UserWarning,
            stacklevel=3,
        )
        return
    which = "calibration"
    if plan.problem.held_out_inputs is not None:
        which = "held-out calibration"
        rows = plan.problem.held_out_inputs[0][:CONSTANT_CHECK_ROWS]
        decision = forward_pass(rows, estimator.coefs_, estimator.intercepts_, estimator.activation)
        predicted = predictions(network, decision)
        original = predictions(network, network.decision(rows))
    worse = _worse_than_constant(network.head.kind, original, predicted)
    if worse is None:
        return
    budget = (
        f"epsilon={plan.epsilon:g}"
        if plan.mode == "theory"
        else f"a budget of {plan.budget} parameters (keep_ratio={plan.budget / network.n_params:.3g})"
    )
    warnings.warn(
        f"method={plan.method.name!r} at {budget} keeps {estimator.nnz_} of "
        f"{estimator.n_params_original_} parameters and does worse than predicting a "
        f"constant on the {rows.shape[0]} {which} rows checked: {worse}. Keep more "
        "parameters (a larger keep_ratio), or compare methods at this budget "
        "(method='auto' is the one measured best on average).",
        UserWarning,
        stacklevel=3,
    )


def _worse_than_constant(kind, original, predicted):
    """What shows the compressed network's ``predicted`` worse than a constant, or None.

    Both are judged by how far they are from the ``original`` network's
    predictions on the same rows. Regressors: the mean squared difference,
    against that of the original's mean output, the best constant (the
    compressed network's R² against the original is then below 0).
    Classifiers: the share of labels agreeing with the original's, against
    the share of its most frequent label (per label for multilabel
    indicator matrices).
    """
    if kind == "regression":
        original = np.asarray(original, dtype=np.float64)
        error = float(np.mean((np.asarray(predicted, dtype=np.float64) - original) ** 2))
        constant = float(np.mean((original - original.mean(axis=0)) ** 2))
        if not error > constant:
            return None
        return (
            f"its outputs differ from the original's by a mean squared error of {error:.3g}, "
            f"where the original's mean output gives {constant:.3g} (R² against the "
            f"original: {1 - error / constant:.3g})"
        )
    agreement = float(np.mean(predicted == original))
    if original.ndim == 1:
        _, counts = np.unique(original, return_counts=True)
        majority = counts.max() / original.shape[0]
        constant = "its most frequent label"
    else:
        share = original.mean(axis=0)
        majority = float(np.mean(np.maximum(share, 1 - share)))
        constant = "each label's most frequent value"
    if not agreement < majority:
        return None
    return (
        f"it agrees with the original's predictions on {agreement:.1%} of them, where "
        f"{constant} agrees on {majority:.1%}"
    )
