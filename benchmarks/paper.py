"""Reproduce the paper's evaluation on MNIST and Fashion-MNIST.

Baykal et al. (ICLR 2019), Section 6 and Appendix B: fully-connected ReLU
networks are trained with Adam (learning rate 1e-3, batch 300, 30 epochs),
then compressed by CoreNet, CoreNet+, CoreNet++ and the data-oblivious
baselines at budgets from 3% to 50% of the parameters; the drop in test
accuracy and the relative ℓ1 error of the output are averaged over trials.

Usage (from the repository root)::

    python benchmarks/paper.py                  # the full benchmark
    python benchmarks/paper.py --quick          # a smoke run on a subset, < 2 min
    python benchmarks/paper.py --methods corenet++ magnitude "corenet++:allocation=theory"
    python benchmarks/paper.py --data-dir /path/to/data   # <dir>/mnist/, <dir>/fashion-mnist/

Outputs go to ``benchmarks/results/`` (``--out``): ``paper.csv`` (one row
per data set, network, method, keep ratio and trial), ``paper_networks.csv``
(the trained networks), ``paper_accuracy_drop.png``,
``paper_relative_error.png`` and ``paper_table.md``, which the docs page
"Reproducing the paper" includes. Trained networks are cached in
``benchmarks/cache/`` (``--cache``), so a rerun only compresses.

A method is a ``CoreNetCompressor`` method name, optionally with parameters
(``name:key=value,key=value``, values parsed as Python literals), or one of
the benchmark's own: ``svd`` (rank-r truncation, counted as the paper does)
and ``torch-l1`` (``torch.nn.utils.prune.global_unstructured`` with
``L1Unstructured``, an outside reference for ``magnitude``).
"""

import argparse
import ast
import hashlib
import json
import os
import platform
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _data import (  # noqa: E402
    DATASETS,
    DEFAULT_DATA_DIR,
    MissingDataError,
    dataset_files,
    load_dataset,
)

from sklearn_corenet import METHODS, CoreNetCompressor, compression_curve  # noqa: E402
from sklearn_corenet._evaluation import summarize_curve  # noqa: E402

PAPER_CORENET = ("corenet", "corenet+", "corenet++")
PAPER_BASELINES = ("uniform", "l1", "l2", "l1+l2", "svd", "magnitude")
OUTSIDE_REFERENCES = ("torch-l1",)
DEFAULT_METHODS = PAPER_CORENET + PAPER_BASELINES + OUTSIDE_REFERENCES
#: The data-oblivious samplers that CoreNet++ must beat (the issue's check).
OBLIVIOUS_SAMPLERS = ("uniform", "l1", "l2", "l1+l2")
BENCHMARK_METHODS = ("svd", "torch-l1")
GROUPS = ("CoreNet (paper)", "Baselines (paper)", "Outside reference", "Beyond the paper")

#: Architectures: hidden widths. 2 and 3 hidden layers, widths 200 to 500,
#: and a pyramid (linearly decreasing widths), as in the paper's Figures 1-2.
NETWORKS = {
    "2x200": (200, 200),
    "3x300": (300, 300, 300),
    "pyramid-500-350-200": (500, 350, 200),
}
QUICK_NETWORKS = {"2x100": (100, 100)}


@dataclass
class Config:
    """Everything that defines a run; the trained-network cache key uses part of it."""

    datasets: tuple = DATASETS
    networks: dict = field(default_factory=lambda: dict(NETWORKS))
    methods: tuple = DEFAULT_METHODS
    keep_ratios: tuple = (0.03, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5)
    n_trials: int = 3
    epochs: int = 30
    batch_size: int = 300
    learning_rate: float = 1e-3
    n_train: int | None = None  # all 60,000 training images
    n_test: int | None = None  # all 10,000 test images
    calibration_size: int = 1000
    seed: int = 0


QUICK = dict(
    networks=dict(QUICK_NETWORKS),
    keep_ratios=(0.05, 0.2),
    n_trials=2,
    epochs=2,
    n_train=6000,
    n_test=2000,
    calibration_size=300,
)


# -- methods -------------------------------------------------------------------


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


def mlp_from_weights(coefs, intercepts):
    """A fitted scikit-learn ``MLPClassifier`` holding the given weights.

    ``coefs`` use scikit-learn's orientation (n_in, n_out); the classes are
    0..n_outputs-1 and the output is a softmax.
    """
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import LabelBinarizer

    mlp = MLPClassifier(hidden_layer_sizes=tuple(W.shape[1] for W in coefs[:-1]), activation="relu")
    mlp.coefs_ = [np.ascontiguousarray(W) for W in coefs]
    mlp.intercepts_ = [np.ascontiguousarray(b) for b in intercepts]
    mlp.n_features_in_ = coefs[0].shape[0]
    mlp.classes_ = np.arange(coefs[-1].shape[1])
    mlp._label_binarizer = LabelBinarizer().fit(mlp.classes_)
    mlp.n_outputs_ = coefs[-1].shape[1]
    mlp.n_layers_ = len(coefs) + 1
    mlp.out_activation_ = "softmax"
    mlp.n_iter_ = 0
    mlp.t_ = 0
    return mlp


def _n_params(mlp):
    return sum(W.size + b.size for W, b in zip(mlp.coefs_, mlp.intercepts_, strict=True))


def svd_truncation(model, X, keep_ratio, random_state=None):
    """Rank-r truncation of every weight matrix (Appendix B.1, item 2).

    Size is counted as the paper does: Σ_i nnz(u_i) + nnz(v_i) over the kept
    singular triplets (σ_i folded into u_i), plus the biases, which are kept.
    The weight budget is split across layers in proportion to their sizes;
    the last triplet of a layer keeps only its largest entries, so that the
    budget is met to the parameter. A layer whose share reaches its dense
    size is kept dense. Deterministic.
    """
    n_params = _n_params(model)
    biases = sum(b.size for b in model.intercepts_)
    sizes = np.array([W.size for W in model.coefs_], dtype=float)
    weight_budget = max(int(round(keep_ratio * n_params)) - biases, 0)
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
    compressed.keep_ratio_ = kept / n_params
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
    n_params = _n_params(model)
    amount = n_params - int(round(keep_ratio * n_params))
    prune.global_unstructured(parameters, pruning_method=prune.L1Unstructured, amount=amount)
    coefs = [layer.weight.detach().numpy().T.copy() for layer in layers]
    intercepts = [layer.bias.detach().numpy().copy() for layer in layers]
    compressed = mlp_from_weights(coefs, intercepts)
    nnz = sum(np.count_nonzero(W) + np.count_nonzero(b) for W, b in zip(coefs, intercepts, strict=True))
    compressed.keep_ratio_ = nnz / n_params
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


# -- training ------------------------------------------------------------------


def _cache_key(dataset, hidden, config):
    recipe = {
        "dataset": dataset,
        "hidden": list(hidden),
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
        "n_train": config.n_train,
        "seed": config.seed,
        "scaling": "pixels/255",
        "version": 1,
    }
    digest = hashlib.sha1(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:10]
    return f"{dataset}-{'x'.join(map(str, hidden))}-e{config.epochs}-{digest}.npz"


def train_network(dataset, hidden, X, y, config, cache_dir, log):
    """Train (or load from the cache) one network as the paper did (Appendix B).

    Adam, learning rate 1e-3, batch 300, ``config.epochs`` epochs, cross-entropy,
    PyTorch's default initialisation. Returns an ``MLPClassifier`` and the
    training time in seconds (0 when loaded).
    """
    path = Path(cache_dir) / _cache_key(dataset, hidden, config)
    if path.exists():
        stored = np.load(path)
        n_layers = len(hidden) + 1
        coefs = [stored[f"coef{i}"] for i in range(n_layers)]
        intercepts = [stored[f"intercept{i}"] for i in range(n_layers)]
        return mlp_from_weights(coefs, intercepts), float(stored["train_time"]), True

    import torch

    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    widths = [X.shape[1], *hidden, int(y.max()) + 1]
    modules = []
    for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
        modules += [torch.nn.Linear(n_in, n_out), torch.nn.ReLU()]
    net = torch.nn.Sequential(*modules[:-1])
    optimizer = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    inputs, targets = torch.from_numpy(X), torch.from_numpy(y)
    start = time.perf_counter()
    for epoch in range(config.epochs):
        order = torch.randperm(len(inputs), generator=generator)
        for begin in range(0, len(inputs), config.batch_size):
            batch = order[begin : begin + config.batch_size]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(inputs[batch]), targets[batch])
            loss.backward()
            optimizer.step()
        log(f"  {dataset} {'x'.join(map(str, hidden))}: epoch {epoch + 1}/{config.epochs}, loss {loss.item():.4f}")
    elapsed = time.perf_counter() - start
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    coefs = [m.weight.detach().numpy().T.copy() for m in linears]
    intercepts = [m.bias.detach().numpy().copy() for m in linears]
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"coef{i}": W for i, W in enumerate(coefs)}
    arrays.update({f"intercept{i}": b for i, b in enumerate(intercepts)})
    temporary = path.with_suffix(".tmp.npz")
    np.savez(temporary, train_time=elapsed, **arrays)
    os.replace(temporary, path)
    return mlp_from_weights(coefs, intercepts), elapsed, False


# -- the run -------------------------------------------------------------------

_DATA = {}


def _prepare_data(dataset, config, data_dir):
    """Train, test and calibration arrays of ``dataset`` (loaded once per process)."""
    key = (dataset, str(data_dir), config.n_train, config.n_test, config.calibration_size, config.seed)
    if key not in _DATA:
        X_train, y_train, X_test, y_test = load_dataset(data_dir, dataset)
        rng = np.random.default_rng(config.seed)
        if config.n_train is not None:
            subset = rng.choice(X_train.shape[0], config.n_train, replace=False)
            X_train, y_train = X_train[subset], y_train[subset]
        if config.n_test is not None:
            X_test, y_test = X_test[: config.n_test], y_test[: config.n_test]
        calibration = X_train[rng.choice(X_train.shape[0], config.calibration_size, replace=False)]
        _DATA.clear()
        _DATA[key] = (X_train, y_train, X_test, y_test, calibration)
    return _DATA[key]


def time_methods(model, calibration, methods, keep_ratio=0.1):
    """Seconds of one ``fit`` + ``transform`` per method, nothing cached."""
    times = {}
    for label in methods:
        spec, _ = method_spec(label)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            if isinstance(spec, CoreNetCompressor):
                spec.set_params(keep_ratio=keep_ratio, random_state=0).fit_transform(model, calibration)
            else:
                spec(model, calibration, keep_ratio=keep_ratio, random_state=0)
        times[label] = time.perf_counter() - start
    return times


def evaluate_network(dataset, network_name, hidden, config, data_dir, cache_dir, log=print):
    """Train (or load) one network and compress it with every method, ratio and trial."""
    from joblib import Memory

    X_train, y_train, X_test, y_test, calibration = _prepare_data(dataset, config, data_dir)
    model, train_time, cached = train_network(dataset, hidden, X_train, y_train, config, cache_dir, log)
    accuracy = float(model.score(X_test, y_test))
    info = {
        "dataset": dataset,
        "network": network_name,
        "hidden": "-".join(map(str, hidden)),
        "n_params": _n_params(model),
        "test_accuracy": accuracy,
        "train_time": train_time,
    }
    log(f"{dataset} {network_name}: {info['n_params']} parameters, test accuracy {accuracy:.4f} "
        f"({'cached' if cached else f'trained in {train_time:.0f} s'})")
    # the calibration statistics depend on the network and S only: compute
    # them once per trial for all methods and keep ratios
    memory = Memory(Path(cache_dir) / "statistics", verbose=0)
    records = []
    for label in config.methods:
        spec, deterministic = method_spec(label)
        if isinstance(spec, CoreNetCompressor):
            spec.set_params(memory=memory)
        method_start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            curve = compression_curve(
                model,
                calibration,
                X_test,
                y_test,
                methods={label: spec},
                keep_ratios=config.keep_ratios,
                n_trials=1 if deterministic else config.n_trials,
                random_state=config.seed,
                as_frame=False,
            )
        for record in curve:
            record.update(dataset=dataset, network=network_name)
        records.extend(curve)
        summary = summarize_curve(curve, "accuracy_drop")[label]
        log(f"  {dataset} {network_name} {label:>10}: {time.perf_counter() - method_start:6.1f} s, "
            "accuracy drop (pp) " + " ".join(f"{100 * m:.2f}" for m in summary["mean"]))
    timing = [
        {"dataset": dataset, "network": network_name, "method": label, "seconds": seconds}
        for label, seconds in time_methods(model, calibration, config.methods).items()
    ]
    agreement = []
    if "torch-l1" in config.methods and "magnitude" in config.methods:
        agreement = [
            {"dataset": dataset, "network": network_name, **row}
            for row in magnitude_agreement(model, config.keep_ratios)
        ]
    return records, info, timing, agreement


def _limit_threads():
    """Worker processes share the cores: one BLAS and one torch thread each."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is needed for training anyway
        pass


def run(config, data_dir, out_dir, cache_dir, log=print, prefix="paper", jobs=1):
    """Train, compress and evaluate; write the CSVs, figures and table."""
    import pandas as pd

    started = time.perf_counter()
    # check every data set first: a missing file should not cost a training run
    for dataset in config.datasets:
        dataset_files(data_dir, dataset)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tasks = [
        (dataset, name, hidden)
        for dataset in config.datasets
        for name, hidden in config.networks.items()
    ]
    # largest networks first, so that the workers finish together
    order = sorted(range(len(tasks)), key=lambda i: -sum(tasks[i][2]) * len(tasks[i][2]))
    if jobs > 1 and len(tasks) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(
            max_workers=jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_limit_threads
        ) as pool:
            futures = {
                i: pool.submit(evaluate_network, *tasks[i], config, data_dir, cache_dir) for i in order
            }
            outputs = [futures[i].result() for i in range(len(tasks))]
    else:
        outputs = [evaluate_network(*task, config, data_dir, cache_dir, log) for task in tasks]

    records = [record for output in outputs for record in output[0]]
    networks = pd.DataFrame.from_records([output[1] for output in outputs])
    timing = pd.DataFrame.from_records([row for output in outputs for row in output[2]])
    agreement = pd.DataFrame.from_records([row for output in outputs for row in output[3]])
    results = pd.DataFrame.from_records(records)
    columns = ["dataset", "network", "method", "keep_ratio", "trial", "kept_fraction",
               "accuracy_drop", "relative_error", "time"]
    results = results[columns]
    wall_time = time.perf_counter() - started
    results.to_csv(out_dir / f"{prefix}.csv", index=False, float_format="%.6g")
    networks.to_csv(out_dir / f"{prefix}_networks.csv", index=False, float_format="%.6g")
    timing.to_csv(out_dir / f"{prefix}_timing.csv", index=False, float_format="%.4g")
    agreement.to_csv(out_dir / f"{prefix}_agreement.csv", index=False)
    run_info = {
        "command": "python benchmarks/" + " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "wall_time_s": round(wall_time, 1),
        "jobs": jobs,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()},
    }
    (out_dir / f"{prefix}_run.json").write_text(json.dumps(run_info, indent=2) + "\n")
    report(out_dir, prefix)
    log(f"wrote {out_dir}/{prefix}.csv, {prefix}_table.md and figures; wall time {wall_time:.0f} s")
    return results, networks


# -- reporting -----------------------------------------------------------------


def report(out_dir, prefix="paper"):
    """Write the Markdown table and the figures from the CSVs of a run."""
    import pandas as pd

    out_dir = Path(out_dir)
    results = pd.read_csv(out_dir / f"{prefix}.csv")
    networks = pd.read_csv(out_dir / f"{prefix}_networks.csv")
    timing = pd.read_csv(out_dir / f"{prefix}_timing.csv")
    try:
        agreement = pd.read_csv(out_dir / f"{prefix}_agreement.csv")
    except (FileNotFoundError, pd.errors.EmptyDataError):
        agreement = pd.DataFrame()
    run_info = json.loads((out_dir / f"{prefix}_run.json").read_text())
    for metric in ("accuracy_drop", "relative_error"):
        plot_grid(results, metric, out_dir / f"{prefix}_{metric}.png")
    table = markdown_report(results, networks, timing, agreement, run_info)
    (out_dir / f"{prefix}_table.md").write_text(table)
    if prefix == "paper" and out_dir.resolve() == (HERE / "results").resolve():
        include_in_docs(table, f"{prefix}_table.md")


DOCS_PAGE = HERE.parent / "docs" / "reproducing_the_paper.md"


def include_in_docs(table, name, page=DOCS_PAGE):
    """Copy ``table`` into the docs page between its include markers.

    The page holds ``<!-- BEGIN name -->`` and ``<!-- END name -->``; plain
    Markdown has no include directive, so the benchmark writes the table in.
    Returns whether the page was updated.
    """
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    if not page.exists():
        return False
    text = page.read_text()
    if begin not in text or end not in text:
        return False
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    page.write_text(f"{head}{begin}\n{table.strip()}\n{end}{tail}")
    return True


def plot_grid(results, metric, path):
    """One panel per data set and network, as the paper's Figures 1-2."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sklearn_corenet import plot_compression_curve

    datasets = list(dict.fromkeys(results["dataset"]))
    networks = list(dict.fromkeys(results["network"]))
    figure, axes = plt.subplots(
        len(datasets), len(networks), figsize=(4.6 * len(networks), 3.6 * len(datasets)), squeeze=False
    )
    styles = {
        "CoreNet (paper)": dict(linewidth=2.0, linestyle="-"),
        "Baselines (paper)": dict(linewidth=1.2, linestyle="-"),
        # drawn as crosses on top of the line it should agree with
        "Outside reference": dict(linestyle="none", marker="x", markersize=6),
        "Beyond the paper": dict(linewidth=1.8, linestyle="-."),
    }
    methods = list(dict.fromkeys(results["method"]))
    for row, dataset in enumerate(datasets):
        for col, network in enumerate(networks):
            part = results[(results["dataset"] == dataset) & (results["network"] == network)]
            ax = axes[row, col]
            plot_compression_curve(
                part, metric, methods=[m for m in methods if m in set(part["method"])], ax=ax,
                log_y=metric == "relative_error", title=f"{dataset}, {network}",
            )
            for line in ax.lines:
                line.set(**styles[method_group(line.get_label())])
            ax.get_legend().remove()
    handles, labels = axes[0, 0].get_legend_handles_labels()
    ncol = min(len(labels), max(2, int(4.6 * len(networks) / 1.4)), 6)
    legend_rows = -(-len(labels) // ncol)
    figure.legend(handles, labels, loc="lower center", ncol=ncol, fontsize="small")
    figure.tight_layout(rect=(0, 0.3 * legend_rows / (3.6 * len(datasets)) + 0.01, 1, 1))
    figure.savefig(path, dpi=90)
    plt.close(figure)


def _cell(values, scale):
    mean, std = scale * values.mean(), scale * values.std()
    return f"{mean:.2f} ± {std:.2f}" if len(values) > 1 else f"{mean:.2f}"


def _method_rows(methods):
    """Methods in table order, with the group each starts."""
    ordered = []
    for group in GROUPS:
        members = [m for m in methods if method_group(m) == group]
        for i, method in enumerate(members):
            ordered.append((group if i == 0 else "", method))
    return ordered


def _metric_table(results, metric, ratios, scale, digits_note):
    lines = []
    for dataset in dict.fromkeys(results["dataset"]):
        part = results[results["dataset"] == dataset]
        lines.append(f"**{dataset}** ({digits_note}; mean ± std over networks × trials)\n")
        header = "| group | method | " + " | ".join(f"{100 * r:g}%" for r in ratios) + " |"
        lines += [header, "|" + "---|" * (len(ratios) + 2)]
        for group, method in _method_rows(list(dict.fromkeys(part["method"]))):
            cells = []
            for ratio in ratios:
                values = part[(part["method"] == method) & np.isclose(part["keep_ratio"], ratio)][metric]
                cells.append(_cell(values.to_numpy(), scale) if len(values) else "")
            lines.append(f"| {group} | {method} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def must_hold(results, ratios=(0.1, 0.2, 0.3)):
    """CoreNet++ vs the data-oblivious samplers: mean accuracy drop per cell."""
    rows = []
    present = [m for m in OBLIVIOUS_SAMPLERS if m in set(results["method"])]
    if "corenet++" not in set(results["method"]) or not present:
        return rows
    for (dataset, network), part in results.groupby(["dataset", "network"], sort=False):
        means = part.groupby(["method", "keep_ratio"])["accuracy_drop"].mean()
        for ratio in ratios:
            matches = [r for r in means.index.get_level_values(1).unique() if np.isclose(r, ratio)]
            if not matches:
                continue
            ratio_key = matches[0]
            ours = means[("corenet++", ratio_key)]
            best_other = min(present, key=lambda m: means[(m, ratio_key)])
            rows.append({
                "dataset": dataset, "network": network, "keep_ratio": ratio,
                "corenet++": ours, "best_oblivious": best_other,
                "best_oblivious_drop": means[(best_other, ratio_key)],
                "holds": bool(all(ours < means[(m, ratio_key)] for m in present)),
            })
    return rows


def markdown_report(results, networks, timing, agreement, run_info):
    """The Markdown file the docs page includes."""
    config = run_info["config"]
    ratios = sorted(set(results["keep_ratio"]))
    lines = [
        "<!-- generated by benchmarks/paper.py; do not edit by hand -->",
        f"Command: `{run_info['command']}`; wall time {run_info['wall_time_s'] / 60:.1f} min "
        f"on {run_info['machine']} ({run_info['jobs']} worker processes).",
        f"Trials: {config['n_trials']} per sampling method (deterministic methods run once); "
        f"calibration points: {config['calibration_size']} training images; test points: "
        f"{'all' if config['n_test'] is None else config['n_test']} test images.",
        "",
        "### Trained networks",
        "",
        "| data set | network | parameters | test accuracy | training time (s) |",
        "|---|---|---|---|---|",
    ]
    for row in networks.itertuples():
        lines.append(f"| {row.dataset} | {row.network} ({row.hidden}) | {row.n_params:,} | "
                     f"{100 * row.test_accuracy:.2f}% | {row.train_time:.0f} |")
    lines += ["", "### Accuracy drop (percentage points, lower is better)", ""]
    lines += _metric_table(results, "accuracy_drop", ratios, 100, "percentage points")
    lines += ["### Relative error of the output (ℓ1, lower is better)", ""]
    lines += _metric_table(results, "relative_error", ratios, 1, "relative ℓ1 error")

    checks = must_hold(results)
    if checks:
        lines += ["### CoreNet++ against the data-oblivious samplers",
                  "",
                  "Mean accuracy drop (percentage points) of CoreNet++ and of the best of "
                  f"{', '.join(m for m in OBLIVIOUS_SAMPLERS if m in set(results['method']))}.",
                  "",
                  "| data set | network | keep ratio | CoreNet++ | best oblivious sampler | lower? |",
                  "|---|---|---|---|---|---|"]
        for row in checks:
            lines.append(
                f"| {row['dataset']} | {row['network']} | {100 * row['keep_ratio']:g}% | "
                f"{100 * row['corenet++']:.2f} | {row['best_oblivious']}: "
                f"{100 * row['best_oblivious_drop']:.2f} | {'yes' if row['holds'] else '**no**'} |"
            )
        lines.append("")

    budget = results.assign(
        deviation=(results["kept_fraction"] - results["keep_ratio"]).abs() / results["keep_ratio"]
    )
    worst = budget.groupby("method", sort=False)["deviation"].max()
    lines += ["### Budget met", "",
              "Largest relative deviation of the realised kept fraction from the requested one.",
              "", "| method | max deviation |", "|---|---|"]
    lines += [f"| {method} | {100 * value:.3f}% |" for method, value in worst.items()]
    lines.append("")

    per_network = timing.pivot_table(index="method", columns="network", values="seconds", sort=False)
    lines += ["### Time per compression (s)", "",
              "One `fit` + `transform` at 10% kept, nothing cached, mean over data sets "
              "(worker processes use one thread each).", "",
              "| method | " + " | ".join(per_network.columns) + " |",
              "|---|" + "---|" * len(per_network.columns)]
    for method, row in per_network.iterrows():
        lines.append(f"| {method} | " + " | ".join(f"{v:.2f}" for v in row) + " |")
    lines.append("")

    if len(agreement):
        total = int(agreement["different_entries"].sum())
        lines += ["### torch.nn.utils.prune against magnitude", "",
                  f"Over {len(agreement)} network × keep-ratio pairs, the kept entries of "
                  "`prune.global_unstructured(..., L1Unstructured)` and `method=\"magnitude\"` "
                  f"differ in {total} places in total (ties between equal magnitudes "
                  "can be broken differently).", ""]
    return "\n".join(lines) + "\n"


# -- command line --------------------------------------------------------------


def build_config(args):
    config = Config()
    if args.quick:
        config = replace(config, **QUICK)
    changes = {}
    if args.datasets:
        changes["datasets"] = tuple(args.datasets)
    if args.methods:
        changes["methods"] = tuple(parse_method(m)[0] for m in args.methods)
    if args.keep_ratios:
        changes["keep_ratios"] = tuple(args.keep_ratios)
    if args.trials:
        changes["n_trials"] = args.trials
    if args.networks:
        changes["networks"] = {name: NETWORKS.get(name) or QUICK_NETWORKS.get(name) or _parse_widths(name)
                               for name in args.networks}
    if args.epochs:
        changes["epochs"] = args.epochs
    if args.calibration_size:
        changes["calibration_size"] = args.calibration_size
    return replace(config, **changes)


def _parse_widths(name):
    try:
        return tuple(int(w) for w in name.split("-"))
    except ValueError:
        raise SystemExit(
            f"--networks: unknown network {name!r}; use one of {', '.join(NETWORKS)} "
            "or hidden widths such as 300-100"
        ) from None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR),
                        help="folder holding mnist/ and fashion-mnist/ with the idx files "
                             "(default: ../shared/data from the repository root)")
    parser.add_argument("--out", default=None,
                        help="output folder (default: benchmarks/results, or benchmarks/results/tmp with --quick)")
    parser.add_argument("--cache", default=str(HERE / "cache"), help="trained-network cache folder")
    parser.add_argument("--quick", action="store_true", help="a smoke run on a subset (under 2 minutes)")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS)
    parser.add_argument("--networks", nargs="+", help=f"subset of {', '.join(NETWORKS)} or widths like 300-100")
    parser.add_argument("--methods", nargs="+",
                        help="methods to run (default: the paper's); name or name:key=value,...")
    parser.add_argument("--keep-ratios", nargs="+", type=float)
    parser.add_argument("--trials", type=int)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--calibration-size", type=int)
    parser.add_argument("--report-only", action="store_true",
                        help="only rewrite the table and figures from the CSVs in --out")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="worker processes, one network each (default: 2)")
    args = parser.parse_args(argv)
    config = build_config(args)
    out = args.out or str(HERE / "results" / ("tmp" if args.quick else ""))
    prefix = "paper_quick" if args.quick else "paper"
    if args.report_only:
        report(out, prefix)
        return 0
    try:
        run(config, args.data_dir, out, args.cache, prefix=prefix, jobs=args.jobs)
    except MissingDataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
