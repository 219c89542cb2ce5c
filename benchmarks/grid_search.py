"""Cost of a grid search over budgets with a frozen network and ``memory``.

Run from the project root::

    python -m benchmarks.grid_search
    python -m benchmarks.grid_search --n-samples 600 --configs auto --output /tmp/grid.md  # a smoke run

Writes ``benchmarks/results/grid_search.md``. A 784-300-300-10
``MLPClassifier`` is trained once on Fashion-MNIST (``../shared/data``, see
``benchmarks/_common.py``; the 8x8 digits bundled with scikit-learn, upsampled
to 28x28, when that folder is missing) and frozen. The benchmark compares

* 3 single-budget fits: ``GridSearchCV`` over one ``keep_ratio``, 3 folds,
  no cache (each fit computes the sensitivities);
* 8 budgets x 3 folds with ``memory`` set (fresh cache): the sensitivities
  and sampling plans are computed once per fold and read back for the 7
  other budgets;
* the same 8 x 3 grid without ``memory``, for reference (skipped for methods
  that compute no sensitivities, where ``memory`` has nothing to cache).

A breakdown of one candidate (first fold, budget 0.1) shows where the time
goes once the sensitivities and plans come from the cache.

The target of the scikit-learn integration issue: the cached grid takes at
most twice the time of the 3 single-budget fits. Each timing is the best of
``--repeat`` runs; ``refit=False`` so that only the search is timed.
"""

import argparse
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
from scipy.ndimage import zoom
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.neural_network import MLPClassifier

from sklearn_corenet import CoreNetClassifier, CoreNetCompressor, kept_fraction_scorer

from ._common import (
    DEFAULT_DATA_DIR,
    RESULTS_DIR,
    MissingDataError,
    command_line,
    load_dataset,
)

BUDGETS = [0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7]
CONFIGS = {
    "corenet++": {"method": "corenet++"},
    "corenet++, calibration_size=4000": {"method": "corenet++", "calibration_size": 4000},
    "auto": {"method": "auto"},
}


def load_data(n_samples):
    """(X, y, name): Fashion-MNIST training images, or upsampled digits."""
    try:
        X, y, _, _ = load_dataset(DEFAULT_DATA_DIR, "fashion-mnist")
        name = "Fashion-MNIST"
    except MissingDataError:
        digits = load_digits()
        X = zoom(digits.images, (1, 3.5, 3.5), order=1).reshape(len(digits.images), -1) / 16
        y, name = digits.target, "digits upsampled to 28x28"
    rows = np.random.default_rng(0).permutation(X.shape[0])[:n_samples]
    return np.asarray(X[rows], dtype=np.float64), y[rows], name


def search(mlp, budgets, params, memory, n_jobs=1):
    return GridSearchCV(
        CoreNetClassifier(FrozenEstimator(mlp), memory=memory, random_state=0, **params),
        {"keep_ratio": budgets},
        scoring={"accuracy": "accuracy", "kept_fraction": kept_fraction_scorer},
        cv=KFold(3, shuffle=True, random_state=0),
        refit=False,
        n_jobs=n_jobs,
    )


def best_time(mlp, budgets, params, use_memory, X, y, repeat):
    """Best wall time of ``repeat`` searches (a fresh cache each), the last search,
    and the number of entries its cache received."""
    times = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as cache:
            estimator = search(mlp, budgets, params, cache if use_memory else None)
            start = time.perf_counter()
            estimator.fit(X, y)
            times.append(time.perf_counter() - start)
            entries = sum("output.pkl" in files for _, _, files in os.walk(cache))
    return min(times), estimator, entries


def breakdown(mlp, X, y, params):
    """Seconds of each step of one candidate: (fit cold, fit cached, transform, score),
    and whether the method computes sensitivities (what ``memory`` caches)."""
    train, test = next(KFold(3, shuffle=True, random_state=0).split(X))
    times = []
    with tempfile.TemporaryDirectory() as cache:
        compressor = CoreNetCompressor(keep_ratio=0.1, memory=cache, random_state=0, **params)
        for _ in range(2):  # the second fit reads the sensitivities and plans from the cache
            start = time.perf_counter()
            compressor.fit(mlp, X[train])
            times.append(time.perf_counter() - start)
        start = time.perf_counter()
        compressed = compressor.transform()
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
        compressed.score(X[test], y[test])
        times.append(time.perf_counter() - start)
    return times, compressor.sensitivities_ is not None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "grid_search.md")
    args = parser.parse_args()

    X, y, data_name = load_data(args.n_samples)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier((300, 300), max_iter=20, random_state=0).fit(X, y)
    train_time = time.perf_counter() - start

    rows, steps, fit_times = [], [], []
    for method in args.configs:
        params = CONFIGS[method]
        times, uses_memory = breakdown(mlp, X, y, params)
        steps.append((method, times))
        print(method, "fit cold / fit cached / transform / score:", np.round(times, 2))
        single, _, _ = best_time(mlp, BUDGETS[2:3], params, False, X, y, args.repeat)
        cached, result, entries = best_time(mlp, BUDGETS, params, True, X, y, args.repeat)
        uncached, plain = float("nan"), None
        if uses_memory:
            uncached, plain, _ = best_time(mlp, BUDGETS, params, False, X, y, args.repeat)
        rows.append((method, single, cached, uncached, result.cv_results_, entries))
        fit_times.append((method, result.cv_results_["mean_fit_time"], plain))
        print(f"{method}: 1x3 {single:.2f}s, 8x3 memory {cached:.2f}s ({cached / single:.2f}x), "
              f"8x3 no memory {uncached:.2f}s")

    lines = [
        "# Grid search over budgets: cost with a frozen network and `memory`",
        "",
        f"Command: `{command_line('grid_search')}`",
        "",
        f"Data: {data_name}, {X.shape[0]} rows x {X.shape[1]} features; network "
        f"784-300-300-10 `MLPClassifier` trained once ({train_time:.0f} s), then "
        "frozen. 3-fold `KFold`, `random_state=0`, `refit=False`, `n_jobs=1`, "
        f"best of {args.repeat}. Budgets: {BUDGETS}.",
        "",
        f"Machine: {platform.processor() or platform.machine()}, "
        f"Python {platform.python_version()}, scikit-learn {sklearn.__version__}.",
        "",
        "| method | 1 budget x 3 folds | 8 x 3, `memory` | ratio (target <= 2) | 8 x 3, no `memory` |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for method, single, cached, uncached, _, _ in rows:
        reference = f"{uncached:.2f} s" if np.isfinite(uncached) else "(nothing to cache)"
        lines.append(
            f"| {method} | {single:.2f} s | {cached:.2f} s | {cached / single:.2f} | {reference} |"
        )
    for method, single, cached, uncached, results, entries in rows:
        if not np.isfinite(uncached):
            continue
        fit, score = results["mean_fit_time"], results["mean_score_time"]
        large = np.asarray(BUDGETS) >= 0.3
        verdict = "met" if cached / single <= 2 else "not met"
        # the first budget's folds compute the cache; the 7 other budgets read it
        reading = (fit[1:] + score[1:]).mean()
        allowed = single / (3 * (len(BUDGETS) - 1))
        lines += [
            "",
            f"Reading ({method}): {cached:.1f} s with `memory`, {uncached:.1f} s without; "
            f"the sensitivities and sampling plans are computed once per fold ({entries} cache "
            f"entries for {len(BUDGETS) * 3} candidates: a statistics and a plans entry per "
            f"fold). Target of at most 2x the 1-budget search: {verdict} "
            f"({cached / single:.2f}x). It leaves the {3 * (len(BUDGETS) - 1)} candidates that "
            f"read the cache {single:.2f} s in all, {allowed:.2f} s each; they take "
            f"{reading:.2f} s each (fit {fit[1:].mean():.2f} s, scoring {score[1:].mean():.2f} s). "
            "What remains of a fit depends on the budget: the draws for that budget and, for "
            "CoreNet++, the choice among the candidates on the held-out points. The budgets "
            f">= 0.3 take {fit[large].sum() / fit.sum():.0%} of the fit time (the draws grow "
            "with the budget).",
        ]
    lines += [
        "",
        "One candidate, step by step (first fold, `keep_ratio=0.1`): `CoreNetCompressor.fit` "
        "with an empty cache (sensitivities computed), `fit` again (sensitivities and plans read from "
        "the cache), `transform` (the draws for this budget) and scoring on the held-out fold:",
        "",
        "| method | fit, cold | fit, cached | transform | score |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for method, (cold, warm, transform, score) in steps:
        lines.append(f"| {method} | {cold:.2f} s | {warm:.2f} s | {transform:.2f} s | {score:.2f} s |")
    lines += [
        "",
        "Mean fit time of a candidate by budget (compression only; scoring excluded), "
        "with `memory` and without:",
        "",
        "| method | " + " | ".join(f"{b:g}" for b in BUDGETS) + " |",
        "| --- |" + " ---: |" * len(BUDGETS),
    ]
    for method, cached_times, plain in fit_times:
        lines.append(f"| {method}, `memory` | " + " | ".join(f"{t:.2f}" for t in cached_times) + " |")
        if plain is not None:
            lines.append(
                f"| {method}, no `memory` | "
                + " | ".join(f"{t:.2f}" for t in plain.cv_results_["mean_fit_time"])
                + " |"
            )
    lines += ["", "Mean test accuracy by budget (the cached runs):", "",
              "| method | " + " | ".join(f"{b:g}" for b in BUDGETS) + " |",
              "| --- |" + " ---: |" * len(BUDGETS)]
    for method, _, _, _, results, _ in rows:
        accuracy = results["mean_test_accuracy"]
        lines.append(f"| {method} | " + " | ".join(f"{a:.3f}" for a in accuracy) + " |")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
