"""The methods of the paper benchmark: names, row groups and its own baselines.

A method is a ``CoreNetCompressor`` method name, optionally with parameters
(``name:key=value,key=value``, values parsed as Python literals), or one of
the benchmark's own: ``svd`` (rank-r truncation, counted as the paper does)
and ``torch-l1`` (``torch.nn.utils.prune.global_unstructured`` with
``L1Unstructured``, an outside reference for ``magnitude``).
"""

import ast

import numpy as np

from sklearn_corenet import METHODS, CoreNetCompressor

from ._common import mlp_from_weights, n_params

PAPER_CORENET = ("corenet", "corenet+", "corenet++")
PAPER_BASELINES = ("uniform", "l1", "l2", "l1+l2", "svd", "magnitude")
OUTSIDE_REFERENCES = ("torch-l1",)
DEFAULT_METHODS = PAPER_CORENET + PAPER_BASELINES + OUTSIDE_REFERENCES
#: The data-oblivious samplers that CoreNet++ must beat (the issue's check).
OBLIVIOUS_SAMPLERS = ("uniform", "l1", "l2", "l1+l2")
BENCHMARK_METHODS = ("svd", "torch-l1")
GROUPS = ("CoreNet (paper)", "Baselines (paper)", "Outside reference", "Beyond the paper")


def parse_method(text):
    """``"name"`` or ``"name:key=value,..."`` -> (label, name, params)."""
    name, _, rest = text.partition(":")
    params = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--methods: cannot read {item!r} in {text!r}; use name:key=value,key=value")
        try:
            params[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            params[key.strip()] = value.strip()
    if name not in METHODS and name not in BENCHMARK_METHODS and name != "auto":
        valid = sorted(METHODS) + ["auto", *BENCHMARK_METHODS]
        raise SystemExit(f"--methods: unknown method {name!r}; valid: {', '.join(valid)}")
    if params and name in BENCHMARK_METHODS:
        raise SystemExit(f"--methods: {name!r} takes no parameters")
    return text, name, params


def method_group(label):
    """Row group of a method in the tables (beyond-paper methods get their own)."""
    _, name, params = parse_method(label)
    if params:
        return "Beyond the paper"
    if name in PAPER_CORENET:
        return "CoreNet (paper)"
    if name in PAPER_BASELINES:
        return "Baselines (paper)"
    if name in OUTSIDE_REFERENCES:
        return "Outside reference"
    return "Beyond the paper"


def svd_truncation(model, X, keep_ratio, random_state=None):
    """Rank-r truncation of every weight matrix (Appendix B.1, item 2).

    Size is counted as the paper does: Σ_i nnz(u_i) + nnz(v_i) over the kept
    singular triplets (σ_i folded into u_i), plus the biases, which are kept.
    The weight budget is split across layers in proportion to their sizes;
    the last triplet of a layer keeps only its largest entries, so that the
    budget is met to the parameter. A layer whose share reaches its dense
    size is kept dense. Deterministic.
    """
    total = n_params(model)
    biases = sum(b.size for b in model.intercepts_)
    sizes = np.array([W.size for W in model.coefs_], dtype=float)
    weight_budget = max(int(round(keep_ratio * total)) - biases, 0)
    shares = np.floor(weight_budget * sizes / sizes.sum()).astype(int)
    shares[np.argmax(sizes)] += weight_budget - shares.sum()
    coefs, kept = [], biases
    for W, share in zip(model.coefs_, shares, strict=True):
        if share >= W.size:
            # the factors would cost more than the matrix: keep it as it is
            coefs.append(W.copy())
            kept += int(np.count_nonzero(W))
            continue
        U, s, Vt = np.linalg.svd(W.astype(np.float64), full_matrices=False)
        cost = W.shape[0] + W.shape[1]
        rank = int(min(share // cost, s.size))
        left = U[:, :rank] * s[:rank]
        right = Vt[:rank]
        W_hat = left @ right
        kept += rank * cost
        remainder = share - rank * cost
        if rank < s.size and remainder > 0:
            # a partial triplet: σ split evenly, keep its largest entries
            u, v = U[:, rank] * np.sqrt(s[rank]), Vt[rank] * np.sqrt(s[rank])
            both = np.concatenate([u, v])
            keep = np.argsort(-np.abs(both))[:remainder]
            mask = np.zeros(both.size, dtype=bool)
            mask[keep] = True
            u, v = np.where(mask[: u.size], u, 0), np.where(mask[u.size :], v, 0)
            W_hat += np.outer(u, v)
            kept += int(np.count_nonzero(u) + np.count_nonzero(v))
        coefs.append(W_hat.astype(W.dtype))
    compressed = mlp_from_weights(coefs, [b.copy() for b in model.intercepts_])
    compressed.keep_ratio_ = kept / total
    return compressed


def torch_global_l1(model, X, keep_ratio, random_state=None):
    """``torch.nn.utils.prune.global_unstructured`` with ``L1Unstructured``.

    Applied to the weights and the biases of every layer together, the same
    parameters that ``method="magnitude"`` ranks: an outside reference that
    should keep the same entries.
    """
    import torch
    from torch.nn.utils import prune

    layers = []
    for W, b in zip(model.coefs_, model.intercepts_, strict=True):
        linear = torch.nn.Linear(W.shape[0], W.shape[1])
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.T)))
            linear.bias.copy_(torch.from_numpy(b))
        layers.append(linear)
    parameters = [(layer, name) for layer in layers for name in ("weight", "bias")]
    total = n_params(model)
    amount = total - int(round(keep_ratio * total))
    prune.global_unstructured(parameters, pruning_method=prune.L1Unstructured, amount=amount)
    coefs = [layer.weight.detach().numpy().T.copy() for layer in layers]
    intercepts = [layer.bias.detach().numpy().copy() for layer in layers]
    compressed = mlp_from_weights(coefs, intercepts)
    nnz = sum(np.count_nonzero(W) + np.count_nonzero(b) for W, b in zip(coefs, intercepts, strict=True))
    compressed.keep_ratio_ = nnz / total
    return compressed


def method_spec(label):
    """What ``compression_curve`` needs for ``label``, and whether it is deterministic."""
    _, name, params = parse_method(label)
    if name == "svd":
        return svd_truncation, True
    if name == "torch-l1":
        return torch_global_l1, True
    deterministic = name in METHODS and not METHODS[name].samples
    return CoreNetCompressor(method=name, **params), deterministic


def magnitude_agreement(model, keep_ratios):
    """Per keep ratio, how many kept entries differ between torch-l1 and magnitude."""
    rows = []
    for ratio in keep_ratios:
        ours = CoreNetCompressor(method="magnitude", keep_ratio=ratio).fit_transform(model, np.zeros((1, model.n_features_in_)))
        theirs = torch_global_l1(model, None, ratio)
        differ = 0
        for W, W_ref, b, b_ref in zip(
            ours.coefs_, theirs.coefs_, ours.intercepts_, theirs.intercepts_, strict=True
        ):
            differ += int(np.count_nonzero((W.toarray() != 0) != (W_ref != 0)))
            differ += int(np.count_nonzero((b != 0) != (b_ref != 0)))
        rows.append({"keep_ratio": ratio, "different_entries": differ, "nnz": ours.nnz_})
    return rows
