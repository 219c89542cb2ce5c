"""Neurons chosen by the reconstruction error of the next layer's input (beyond the paper).

ThiNet (Luo, Wu and Lin, "ThiNet: A filter level pruning method for deep
neural network compression", ICCV 2017) keeps the channels of a layer from
which the next layer's output is best reconstructed, chosen greedily. Here,
for hidden layer l with activations A over the calibration points (bias
input appended), the next layer's pre-activations are Z = A W (W: the next
layer's weights and bias), and the kept neurons S are chosen so that the
least-squares fit of Z on the columns S of A (the re-fit that
``reweight="lstsq"`` then makes) leaves the least residual
‖Z − A_S (A_Sᵀ A_S)⁻¹ A_Sᵀ Z‖².

Everything is read from the Gram matrix G = Aᵀ A, (n_l + 1)²: the cross
product with the targets is Aᵀ Z = G W and their energy is trace(Wᵀ G W),
so one chunked forward pass over the calibration points serves every layer
(memory: a Gram matrix per hidden layer and a chunk of rows within
``working_memory``). The selection is forward, as orthogonal least squares
(Chen, Billings and Luo 1989): each step adds the neuron whose
Gram–Schmidt residual explains most of the remaining target, then updates
every candidate's residual by one rank-one correction, so that selecting k
of n neurons for m targets costs O(k n (k + m)), with no system solved
again.
"""

import numpy as np
from scipy.linalg import blas
from sklearn.utils import gen_batches

from ..core._network import augment, chunk_rows
from ..core._threads import one_blas_thread
from ..core._validation import overflow_error

#: A candidate whose residual norm² is below this fraction of its own norm²
#: lies in the span of the neurons already chosen: it adds nothing.
DEPENDENCE_TOLERANCE = 1e-9


def activation_grams(network, X, *, working_memory=None, sample_weight=None):
    """Gram matrix of every hidden layer's activations over ``X``, bias input last.

    Parameters
    ----------
    network : Network
        The original network.
    X : {ndarray, sparse matrix, LazyRows} of shape (n_points, n_features)
        Calibration points, read a chunk of rows at a time.
    working_memory : int, default=None
        Memory budget in MiB for a chunk (scikit-learn's setting when None).
    sample_weight : ndarray of shape (n_points,), default=None
        Weights of the points, as repetitions.

    Returns
    -------
    list of ndarray of shape (n_l + 1, n_l + 1)
        Per hidden layer, Σ_p w_p a_p a_pᵀ over the points, with the
        constant 1 of the bias as last entry of a_p.
    """
    widths = [W.shape[1] for W in network.coefs[:-1]]
    # a chunk's activations of every layer and their augmented, weighted copies
    rows = chunk_rows(3 * (sum(widths) + network.coefs[0].shape[0] + len(widths)) * 8, X.shape[0], working_memory)
    grams = [np.zeros((width + 1, width + 1)) for width in widths]
    for batch in gen_batches(X.shape[0], rows):
        weight = None if sample_weight is None else sample_weight[batch]
        for layer, A in enumerate(network.hidden_activations(X[batch])[1:]):
            with np.errstate(over="ignore", invalid="ignore"):
                inputs = augment(np.asarray(A, dtype=np.float64))
                weighted = inputs if weight is None else inputs * weight[:, np.newaxis]
                grams[layer] += weighted.T @ inputs
            if not np.isfinite(grams[layer]).all():
                raise overflow_error("the Gram matrix of the activations", inputs, batch.start, layer + 1)
    return grams


def greedy_selection(gram, outgoing, n_select, allowed=None, order=None):
    """Forward selection of the neurons that best reconstruct the next layer's input.

    Parameters
    ----------
    gram : ndarray of shape (n + 1, n + 1)
        Gram matrix of the layer's activations, bias input last.
    outgoing : ndarray of shape (n + 1, m)
        The next layer's weights (bias last) of the m targets to reconstruct.
    n_select : int
        Neurons to choose (at most n).
    allowed : ndarray of bool of shape (n,), default=None
        Neurons that may be chosen first; the others come last (all when None).
    order : ndarray of int, default=None
        Add the neurons in this order instead of choosing them: the
        residuals of a ranking's first k neurons, for every k.

    Returns
    -------
    order : ndarray of int of shape (n_select,)
        The neurons in the order chosen. Once no allowed neuron adds to the
        fit (dead neurons, or as many chosen as there are independent
        activations), the rest follow by decreasing activation norm.
    residuals : ndarray of shape (n_select + 1,)
        The residual ‖Z − A_S β‖² of the least-squares fit with the bias
        input alone (entry 0) and after each neuron added.
    """
    n = gram.shape[0] - 1
    n_select = int(min(n_select, n))
    allowed = np.ones(n, dtype=bool) if allowed is None else np.asarray(allowed, dtype=bool)
    cross = gram @ outgoing
    energy = float(np.einsum("ij,ij->", outgoing, cross))
    norms = np.diag(gram).copy()
    # Gram–Schmidt in the Gram metric: column k of basis holds ⟨a_i, e_k⟩ for
    # every input i, e_k the k-th orthonormalised chosen input; the bias first
    basis = np.zeros((n + 1, n_select + 1))
    basis[:, 0] = gram[:, n] / np.sqrt(gram[n, n])
    # Fortran order, so that BLAS updates it in place (rank one, dger)
    residual_cross = np.asfortranarray(cross - np.outer(basis[:, 0], cross[n] / np.sqrt(gram[n, n])))
    residual_norms = norms - np.square(basis[:, 0])
    # ‖r_i‖² of every residual cross product, updated with the rank-one corrections
    cross_norms = np.einsum("ij,ij->i", residual_cross, residual_cross)
    explained = float(np.square(cross[n]).sum() / gram[n, n])
    residuals = np.empty(n_select + 1)
    residuals[0] = energy - explained
    candidates = np.append(allowed, False)
    given, order = order, []
    # one BLAS thread: the steps are matrix-vector products and rank-one
    # updates, which threads slow down rather than speed up
    with one_blas_thread():
        for step in range(1, n_select + 1):
            independent = candidates & (residual_norms > DEPENDENCE_TOLERANCE * norms)
            if given is not None:
                chosen = int(given[step - 1])
                order.append(chosen)
                candidates[chosen] = False
                if not independent[chosen]:  # in the span of the earlier ones: adds nothing
                    residuals[step] = residuals[step - 1]
                    continue
            else:
                if not independent.any():
                    break
                gains = np.where(independent, cross_norms / np.where(independent, residual_norms, 1.0), -1.0)
                chosen = int(np.argmax(gains))
                candidates[chosen] = False
                order.append(chosen)
            scale = np.sqrt(residual_norms[chosen])
            column = (gram[:, chosen] - basis[:, :step] @ basis[chosen, :step]) / scale
            coefficient = residual_cross[chosen] / scale
            explained += float(coefficient @ coefficient)
            # ‖r_i − column_i c‖² = ‖r_i‖² − 2 column_i (r_i · c) + column_i² ‖c‖²
            cross_norms += column * (column * (coefficient @ coefficient) - 2 * (residual_cross @ coefficient))
            np.maximum(cross_norms, 0.0, out=cross_norms)
            residual_cross = blas.dger(-1.0, column, coefficient, a=residual_cross, overwrite_a=True)
            residual_norms -= np.square(column)
            basis[:, step] = column
            residuals[step] = max(energy - explained, 0.0)
    if len(order) < n_select:
        # the remaining neurons add nothing to the fit: allowed ones first,
        # then by activation norm (a stable order, so the choice is deterministic)
        rest = np.setdiff1d(np.arange(n), order)
        rest = rest[np.lexsort((-norms[rest], ~allowed[rest]))]
        residuals[len(order) + 1 :] = residuals[len(order)]
        order.extend(rest[: n_select - len(order)].tolist())
    return np.asarray(order, dtype=np.intp), residuals


def allocate_widths(n_features, curves, n_outputs, budget):
    """Hidden widths within ``budget`` parameters that minimise the summed error of the curves.

    Parameters
    ----------
    n_features, n_outputs : int
        The network's inputs and outputs.
    curves : list of ndarray
        Per hidden layer, entry k the error of the layer kept at k neurons
        (k ≥ 1 is used; the curve's length less one is the widest the layer
        may become), measured on the calibration points.
    budget : int
        Weights and biases the narrowed dense network may hold.

    Returns
    -------
    list of int
        Widths from one neuron per layer, grown greedily: each step adds to
        the layer whose error falls most per parameter added (looking ahead
        along its curve, so that a flat stretch does not stop a layer), as
        long as the network fits the budget.
    """
    widths = np.ones(len(curves), dtype=np.int64)

    def parameters(widths):
        sizes = [n_features, *widths.tolist(), n_outputs]
        return sum((n_in + 1) * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True))

    used = parameters(widths)
    while True:
        sizes = [n_features, *widths.tolist(), n_outputs]
        best_rate, best = 0.0, None
        for layer, curve in enumerate(curves):
            added = np.arange(1, curve.size - widths[layer])
            # a neuron of this layer: its incoming weights and bias, its outgoing weights
            cost = added * (sizes[layer] + 1 + sizes[layer + 2])
            fits = used + cost <= budget
            if not fits.any():
                continue
            rate = (curve[widths[layer]] - curve[widths[layer] + added[fits]]) / cost[fits]
            step = int(np.argmax(rate))
            if rate[step] > best_rate:
                best_rate, best = rate[step], (layer, int(added[fits][step]), int(cost[fits][step]))
        if best is None:
            return widths.tolist()
        layer, count, cost = best
        widths[layer] += count
        used += cost
