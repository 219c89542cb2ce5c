"""The paper benchmark's configuration and run: train, compress, evaluate, write CSVs.

Each (data set, network) pair is one task: its network is trained (or read
from the cache) and compressed with every method, keep ratio and trial;
tasks run in worker processes, one network each.
"""

import json
import platform
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

from sklearn_corenet import CoreNetCompressor, compression_curve, summarize_curve

from ._common import (
    DATASETS,
    Recipe,
    command_line,
    dataset_files,
    machine,
    n_params,
    prepare_data,
    train_network,
)
from ._paper_methods import DEFAULT_METHODS, magnitude_agreement, method_spec
from ._paper_report import report

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
    """Everything that defines a run; the trained-network cache key uses part of it.

    The training and data fields are those of :class:`Recipe`, with its
    defaults (the paper's).
    """

    datasets: tuple = DATASETS
    networks: dict = field(default_factory=lambda: dict(NETWORKS))
    methods: tuple = DEFAULT_METHODS
    keep_ratios: tuple = (0.03, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5)
    n_trials: int = 3
    epochs: int = Recipe.epochs
    batch_size: int = Recipe.batch_size
    learning_rate: float = Recipe.learning_rate
    n_train: int | None = Recipe.n_train
    n_test: int | None = Recipe.n_test
    calibration_size: int = Recipe.calibration_size
    seed: int = Recipe.seed


QUICK = dict(
    networks=dict(QUICK_NETWORKS),
    keep_ratios=(0.05, 0.2),
    n_trials=2,
    epochs=2,
    n_train=6000,
    n_test=2000,
    calibration_size=300,
)


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

    X_train, y_train, X_test, y_test, calibration = prepare_data(dataset, config, data_dir)
    model, train_time, cached = train_network(dataset, hidden, X_train, y_train, config, cache_dir, log)
    accuracy = float(model.score(X_test, y_test))
    info = {
        "dataset": dataset,
        "network": network_name,
        "hidden": "-".join(map(str, hidden)),
        "n_params": n_params(model),
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


def run(config, data_dir, out_dir, cache_dir, log=print, prefix="paper", jobs=1, argv=None):
    """Train, compress and evaluate; write the CSVs, figures and table.

    ``argv`` are the command-line arguments recorded with the run (those of
    this process when None).
    """
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
        "command": command_line("paper", argv),
        "wall_time_s": round(wall_time, 1),
        "jobs": jobs,
        "machine": f"{machine()}, Python {platform.python_version()}",
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()},
    }
    (out_dir / f"{prefix}_run.json").write_text(json.dumps(run_info, indent=2) + "\n")
    report(out_dir, prefix)
    log(f"wrote {out_dir}/{prefix}.csv, {prefix}_table.md and figures; wall time {wall_time:.0f} s")
    return results, networks
