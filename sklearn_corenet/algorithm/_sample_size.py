"""Sample sizes: the theory's (Alg. 1 and 2) and the budget solve.

Theory mode follows Alg. 1, lines 1-9 and Alg. 2, line 6 with the paper's
constants. Budget mode keeps the theory's proportions within a layer
(``m_i ∝ S_i``) and finds the one allocation constant for which the
expected number of distinct kept parameters equals the budget.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TheoryConstants:
    """The network-wide quantities of Alg. 1 (lines 1-2 and 4-6).

    Attributes
    ----------
    kappa : float
        κ = √(2λ*) (1 + √(2λ*) log(8ηη*/δ)), with λ* = log(ηη*)/2.
    K : float
        The constant of Assumption 1.
    log_term : float
        log(8η/δ), the confidence term of Alg. 2, line 6.
    """

    kappa: float
    K: float
    log_term: float


def _network_size(layer_widths):
    """η (all neurons of layers 2..L) and ηη* (η* the widest hidden layer, or
    the output layer if there is none), floored at 2 so that logs stay positive."""
    n_neurons = int(sum(layer_widths))
    hidden = layer_widths[:-1]
    widest = int(max(hidden) if len(hidden) else layer_widths[-1])
    return n_neurons, max(n_neurons * widest, 2)


def theory_constants(layer_widths, delta, K=None):
    """Network constants for layer output widths ``layer_widths`` (hidden + output)."""
    n_neurons, product = _network_size(layer_widths)
    lambda_star = np.log(product) / 2
    root = np.sqrt(2 * lambda_star)
    kappa = root * (1 + root * np.log(8 * product / delta))
    if K is None:
        K = float(np.log(product))
    return TheoryConstants(float(kappa), float(K), float(np.log(8 * n_neurons / delta)))


def auto_calibration_size(layer_widths, delta):
    """|S| = ⌈log(8ηη*/δ) · log(ηη*)⌉ (Baykal et al., ICLR 2019, Alg. 1, line 2)."""
    _, product = _network_size(layer_widths)
    return int(np.ceil(np.log(8 * product / delta) * np.log(product)))


def layer_conditions(relative_conditions, kappa):
    """Δ^ℓ = max_i mean_x Δ_i(x) + κ (Alg. 1, line 6), and Δ^{ℓ→} = Π_{k≥ℓ} Δ^k."""
    delta_hat = np.array([float(np.max(rc)) + kappa for rc in relative_conditions])
    downstream = np.cumprod(delta_hat[::-1])[::-1]
    return delta_hat, downstream


def layer_epsilons(epsilon, downstream):
    """ε_ℓ = ε / (2 (L−1) Δ^{ℓ→}) (Alg. 1, line 9)."""
    return epsilon / (2 * len(downstream) * downstream)


def theory_sample_sizes(row_sums, epsilon_layer, constants):
    """m_i = ⌈8 S_i K log(8η/δ) / ε_ℓ²⌉ per neuron and sign (Alg. 2, line 6).

    Returns an int64 array shaped like ``row_sums`` (2, n_out); zero where
    S_i = 0. Sizes beyond 2**62 are capped (they keep every edge anyway).
    """
    m = 8 * row_sums * constants.K * constants.log_term / epsilon_layer**2
    return np.ceil(np.minimum(m, 2.0**62)).astype(np.int64)


def epsilon_for_allocation(c, allocation_scale, downstream, constants):
    """The ε that the theory's sample sizes would need for ``m_i = c · α_i``.

    With ``α_i = S_i · allocation_scale[ℓ]``, Alg. 2, line 6 gives
    ``ε_ℓ = sqrt(8 K log(8η/δ) / (c · allocation_scale[ℓ]))`` and the
    network's ε is the largest ``2 (L−1) Δ^{ℓ→} ε_ℓ``. Returns (ε, ε_ℓ).
    """
    eps_layer = np.sqrt(8 * constants.K * constants.log_term / (c * np.asarray(allocation_scale)))
    return float(np.max(2 * len(downstream) * downstream * eps_layer)), eps_layer


def expected_kept(plans, c, fixed=0, slope=False):
    """Expected number of distinct kept entries: Σ_r Σ_j 1 − (1 − q_rj)^{m_r(c)}.

    Rows whose sample size keeps them whole count every edge.

    With ``slope=True`` also returns its derivative in c with m_r = c α_r
    taken as continuous, Σ_r Σ_j −(1 − q_rj)^{m_r} log(1 − q_rj) α_r.
    """
    total, derivative = float(fixed), 0.0
    for plan in plans:
        entry_rows, log_miss = plan.support_log_miss
        allocation = plan.entry_allocation
        # m_r(c) = ceil(c α_r) per edge, as SamplingPlan.draws_for computes it
        missed = np.exp(np.ceil(c * allocation) * log_miss)
        # a row past its whole size keeps every edge (SamplingPlan.complete_rows)
        missed[plan.complete_rows(np.ceil(c * plan.allocation))[entry_rows]] = 0.0
        total += float(missed.size - missed.sum())
        if slope:
            derivative -= float((missed * log_miss) @ allocation)
    return (total, derivative) if slope else total


def solve_allocation(plans, budget, fixed=0, rtol=1e-6):
    """The allocation constant c whose expected kept count equals ``budget``.

    ``fixed`` counts parameters kept outside the plans. The expected count is
    non-decreasing in c: Newton steps on its continuous slope, kept inside a
    bracket that every evaluation narrows (bisection when a step leaves it),
    stop within half an edge of the budget or at a bracket of relative width
    ``rtol``. Returns ``np.inf`` when the budget exceeds what sampling can
    keep (all rows complete).
    """
    capacity = fixed + sum(plan.capacity for plan in plans)
    if budget >= capacity:
        return np.inf
    total_alloc = sum(float(plan.allocation.sum()) for plan in plans)
    low, high = 0.0, np.inf
    c = max(budget - fixed, 1) / max(total_alloc, 1e-300)
    for _ in range(200):
        value, slope = expected_kept(plans, c, fixed, slope=True)
        if abs(value - budget) <= 0.5:
            return c
        if value < budget:
            low = c
        else:
            high = c
        if np.isfinite(high) and high - low <= rtol * high:
            break
        step = c - (value - budget) / slope if slope > 0 else np.nan
        if low < step < high:
            c = step
        elif np.isfinite(high):
            # the expected count is a step function of c (m = ceil(c α)): the
            # root may sit at a step, even at c -> 0 when one draw per row
            # already keeps the budget
            c = np.sqrt(low * high) if low > 0 else high / 2
        else:
            c = 2 * c
    return max(high if np.isfinite(high) else c, 1e-300)  # c > 0: every row draws
