"""Where fine-tuning should start, and what its default settings do.

Run from the project root::

    .venv/bin/python -m benchmarks.fine_tune_start           # a few minutes
    .venv/bin/python -m benchmarks.fine_tune_start --sweep   # + the settings sweep (longer)
    .venv/bin/python -m benchmarks.fine_tune_start --datasets digits wine --seeds 1  # a smoke run

For MNIST (a random subsample of the training set, 10,000 images by default,
and all 10,000 test images), digits, breast cancer, wine, a synthetic
three-class problem (``make_classification``) and diabetes (regression),
trains a scikit-learn MLP, compresses it with the default
``CoreNetCompressor(keep_ratio=r)`` ("wanda" selection with the
least-squares re-fit) at 2%, 5% and 10% of its parameters, and fine-tunes
the compressed model with ``fine_tune``'s default settings from each start:

- ``init="selected"``: the kept edges at the original network's values,
- ``init="current"``: the least-squares re-fitted values (the one-shot model).

Reports the test score (accuracy, R² for diabetes) of the original, the
one-shot model and the two fine-tuned models, averaged over ``--seeds``
fine-tuning seeds (validation split and batch order), with the epochs run.
This is the measurement behind ``init="auto"`` and the table of the
fine-tuning section of ``docs/choosing_a_method.md``.

``--sweep`` also runs the settings sweep behind the defaults (learning
rate, batch size, patience, maximum epochs, validation fraction; one change
at a time from the defaults, and the settings before them) on the data sets
other than MNIST, averaged over the budgets, both starts and the seeds.

Writes ``benchmarks/results/fine_tune_start.md``. Uses the library's public
API only.
"""

import argparse
import copy
import time
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_wine,
    make_classification,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from sklearn_corenet import CoreNetCompressor

from ._common import (
    DEFAULT_DATA_DIR,
    RESULTS_DIR,
    command_line,
    emit,
    load_dataset,
    machine,
    markdown_table,
    software_versions,
)

DATASETS = ("mnist", "digits", "breast_cancer", "wine", "classification", "diabetes")
KEEP_RATIOS = (0.02, 0.05, 0.1)
STARTS = ("selected", "current")

#: One change at a time from the defaults, and the settings used before them.
SWEEP = {
    "defaults": {},
    "learning_rate=1e-3": {"learning_rate": 1e-3},
    "learning_rate=3e-3": {"learning_rate": 3e-3},
    "learning_rate=3e-2": {"learning_rate": 3e-2},
    "batch_size=32": {"batch_size": 32},
    "batch_size=200": {"batch_size": 200},
    "n_iter_no_change=3": {"n_iter_no_change": 3},
    "n_iter_no_change=20, epochs=300": {"n_iter_no_change": 20, "epochs": 300},
    "validation_fraction=0.1": {"validation_fraction": 0.1},
    "validation_fraction=0.3": {"validation_fraction": 0.3},
    "before (5 epochs, learning rate 1e-3, batch 300, validation 0.1, patience 3)": {
        "epochs": 5,
        "learning_rate": 1e-3,
        "batch_size": 300,
        "validation_fraction": 0.1,
        "n_iter_no_change": 3,
    },
}


@dataclass
class Task:
    """A trained network and its data."""

    name: str
    description: str
    model: object
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def _fit_quietly(model, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, y)


def load_task(name, data_dir, n_mnist):
    """Train the network of data set ``name`` (scikit-learn's MLP, random_state=0)."""
    if name == "mnist":
        X_train, y_train, X_test, y_test = load_dataset(data_dir, "mnist")
        rows = np.random.default_rng(0).choice(X_train.shape[0], n_mnist, replace=False)
        X_train, y_train = X_train[rows], y_train[rows]
        model = _fit_quietly(MLPClassifier((300, 100), max_iter=20, random_state=0), X_train, y_train)
        description = f"784-300-100-10, {n_mnist:,} of the 60,000 training images, 10,000 test images"
        return Task(name, description, model, X_train, y_train, X_test, y_test)
    regression = name == "diabetes"
    hidden = (128, 128) if name in ("digits", "classification") else (64, 64)
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        X = X / 16
    elif name == "breast_cancer":
        X, y = load_breast_cancer(return_X_y=True)
    elif name == "wine":
        X, y = load_wine(return_X_y=True)
    elif name == "classification":
        X, y = make_classification(
            n_samples=3000, n_features=20, n_informative=10, n_classes=3, random_state=0
        )
    else:
        X, y = load_diabetes(return_X_y=True)
        y = (y - y.mean()) / y.std()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=None if regression else y
    )
    if name != "digits":
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    if regression:
        # without a strong penalty the MLP over-fits the 331 training rows (test R² < 0)
        estimator = MLPRegressor(hidden_layer_sizes=hidden, alpha=10.0, max_iter=500, random_state=0)
    else:
        estimator = MLPClassifier(hidden_layer_sizes=hidden, max_iter=500, random_state=0)
    model = _fit_quietly(estimator, X_train, y_train)
    widths = "-".join(str(w) for w in (X.shape[1], *hidden, model.n_outputs_))
    description = f"{widths}, {len(X_train)} training and {len(X_test)} test rows"
    return Task(name, description, model, X_train, y_train, X_test, y_test)


def fine_tuned(task, compressed, init, seeds, settings):
    """Mean test score, epochs run and seconds of ``fine_tune`` over the seeds."""
    scores, epochs, seconds = [], [], []
    for seed in seeds:
        model = copy.deepcopy(compressed)
        start = time.perf_counter()
        model.fine_tune(task.X_train, task.y_train, init=init, random_state=seed, **settings)
        seconds.append(time.perf_counter() - start)
        scores.append(model.score(task.X_test, task.y_test))
        epochs.append(model.fine_tune_history_.n_epochs)
    return float(np.mean(scores)), float(np.mean(epochs)), float(np.mean(seconds))


def compare_starts(task, seeds, keep_ratios):
    """One row per budget: original, one-shot, fine-tuned from each start."""
    original = task.model.score(task.X_test, task.y_test)
    rows = []
    for keep_ratio in keep_ratios:
        compressed = CoreNetCompressor(keep_ratio=keep_ratio, random_state=0).fit_transform(
            task.model, task.X_train
        )
        row = {
            "data": task.name,
            "keep_ratio": keep_ratio,
            "original": original,
            "one_shot": compressed.score(task.X_test, task.y_test),
        }
        for init in STARTS:
            row[init], row[f"{init}_epochs"], row[f"{init}_seconds"] = fine_tuned(
                task, compressed, init, seeds, {}
            )
        rows.append(row)
    return rows


def sweep(tasks, seeds, keep_ratios):
    """Mean test score over tasks, budgets, starts and seeds for every setting."""
    compressed = {
        (task.name, keep_ratio): CoreNetCompressor(keep_ratio=keep_ratio, random_state=0).fit_transform(
            task.model, task.X_train
        )
        for task in tasks
        for keep_ratio in keep_ratios
    }
    results = {}
    for label, settings in SWEEP.items():
        per_task = {}
        seconds = []
        for task in tasks:
            scores = []
            for keep_ratio in keep_ratios:
                for init in STARTS:
                    score, _, elapsed = fine_tuned(task, compressed[task.name, keep_ratio], init, seeds, settings)
                    scores.append(score)
                    seconds.append(elapsed)
            per_task[task.name] = float(np.mean(scores))
        results[label] = (per_task, float(np.mean(seconds)))
        print(f"  {label}: {per_task}", flush=True)
    return results


def _percent(score):
    return f"{100 * score:.1f}"


def start_table(rows, tasks):
    header = [
        "data set",
        "kept",
        "original",
        "one-shot",
        '`init="selected"`',
        '`init="current"`',
        "epochs run (selected / current)",
    ]
    lines = []
    for row in rows:
        best = max(row["selected"], row["current"])
        cells = [
            _percent(row[init]) if row[init] < best else f"**{_percent(row[init])}**" for init in STARTS
        ]
        lines.append(
            [
                row["data"],
                f"{row['keep_ratio']:.0%}",
                _percent(row["original"]),
                _percent(row["one_shot"]),
                *cells,
                f"{row['selected_epochs']:.0f} / {row['current_epochs']:.0f}",
            ]
        )
    return markdown_table(header, lines)


def summary(rows):
    """Lines comparing the two starts over all rows."""
    differences = np.array([row["selected"] - row["current"] for row in rows])
    gains = {init: np.array([row[init] - row["one_shot"] for row in rows]) for init in STARTS}
    by_ratio = {}
    for row in rows:
        by_ratio.setdefault(row["keep_ratio"], []).append(row["selected"] - row["current"])
    return [
        f"- `init=\"selected\"` minus `init=\"current\"`, mean over the {len(rows)} rows: "
        f"{100 * differences.mean():+.2f} points; selected better in {int((differences > 0).sum())}, "
        f"current better in {int((differences < 0).sum())}, equal in {int((differences == 0).sum())}.",
        "- by budget: "
        + ", ".join(f"{ratio:.0%}: {100 * np.mean(d):+.2f}" for ratio, d in sorted(by_ratio.items()))
        + " points.",
        "- fine-tuned minus one-shot, worst row: "
        + ", ".join(f"`init=\"{init}\"` {100 * gains[init].min():+.2f}" for init in STARTS)
        + " points (test split; on the validation split it is never negative by construction).",
    ]


def sweep_table(results, tasks):
    names = [task.name for task in tasks]
    header = ["settings", *names, "mean", "seconds per fine-tuning"]
    lines = []
    for label, (per_task, seconds) in results.items():
        lines.append(
            [label, *(_percent(per_task[name]) for name in names), _percent(np.mean(list(per_task.values()))), f"{seconds:.2f}"]
        )
    return markdown_table(header, lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--keep-ratios", nargs="+", type=float, default=list(KEEP_RATIOS))
    parser.add_argument("--seeds", type=int, default=3, help="fine-tuning seeds per cell (default 3)")
    parser.add_argument("--n-mnist", type=int, default=10_000, help="MNIST training images used")
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    parser.add_argument("--sweep", action="store_true", help="also run the settings sweep")
    parser.add_argument("--output", default=RESULTS_DIR / "fine_tune_start.md")
    args = parser.parse_args(argv)
    seeds = range(args.seeds)

    lines = []
    emit(
        lines,
        "# Fine-tuning: where to start, and the default settings",
        "",
        f"Command: `{command_line('fine_tune_start', argv)}`. Machine: {machine()}, "
        f"{software_versions()}; one BLAS thread.",
        "",
        "Compression: `CoreNetCompressor(keep_ratio=r, random_state=0)` (\"wanda\" + least-squares "
        "re-fit), calibrated on the training rows. Fine-tuning: `fine_tune(X_train, y_train, "
        f"init=..., random_state=seed)` with its default settings, mean over {args.seeds} seed(s). "
        "Test accuracy in % (diabetes: R² in %); the better start in bold.",
        "",
    )
    started = time.perf_counter()
    with threadpool_limits(limits=1):
        tasks = [load_task(name, args.data_dir, args.n_mnist) for name in args.datasets]
        emit(lines, "Networks:", "", *(f"- {task.name}: {task.description}" for task in tasks), "")
        rows = []
        for task in tasks:
            rows += compare_starts(task, seeds, args.keep_ratios)
            print(f"  {task.name} done ({time.perf_counter() - started:.0f} s)", flush=True)
        emit(lines, "## One-shot and fine-tuned from each start", "", *start_table(rows, tasks), "")
        emit(lines, *summary(rows), "")
        if args.sweep:
            small = [task for task in tasks if task.name != "mnist"]
            results = sweep(small, seeds, args.keep_ratios)
            emit(
                lines,
                "## Settings sweep",
                "",
                "Mean test score (%) over the budgets, both starts and the seeds; one setting "
                "changed at a time from the defaults.",
                "",
                *sweep_table(results, small),
                "",
            )
    emit(lines, f"Total time: {time.perf_counter() - started:.0f} s.")
    with open(args.output, "w") as handle:
        handle.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
