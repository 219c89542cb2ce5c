"""Theory mode against certified compression: what each keeps, and what holds on unseen data.

Run from the project root::

    python -m benchmarks.certified
    python -m benchmarks.certified --datasets digits friedman --output /tmp/certified.md  # a smoke run

Writes ``benchmarks/results/certified.md``. For every data set and
ε ∈ {0.05, 0.1, 0.2} at δ = 0.05 (confidence 95%, ℓ1-relative error of the
network outputs):

* theory mode, ``CoreNetCompressor(keep_ratio="theory", epsilon=ε, delta=δ)`` (CoreNet++ with
  the paper's sample sizes): the kept fraction and the coverage measured on
  the test set, the fraction of test points whose error is at most ε;
* certified compression, ``CoreNetCompressor(keep_ratio="certified",
  epsilon=ε, delta=δ)`` (the default method): the kept fraction found, the
  certificate on the held-out calibration rows, the coverage measured on the
  test set, and the time against one compression at the budget it found.

Data: MNIST and Fashion-MNIST 784-300-300-10 networks (idx files in
``../shared/data/<name>/``; a data set whose files are missing is skipped
with a note), the 8x8 digits bundled with scikit-learn (64-100-100-10) and
Friedman's regression problem #1 (``make_friedman1``, 10-100-100-1). The
networks are scikit-learn MLPs; the 784-300-300-10 ones are trained for 8
epochs on 20,000 training images (a shortened recipe, cached in
``benchmarks/cache/``), enough for 87-88% test accuracy on Fashion-MNIST.
"""

import argparse
import gzip
import hashlib
import pickle
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn
from sklearn.datasets import load_digits, make_friedman1
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from threadpoolctl import threadpool_limits

from sklearn_corenet import CoreNetCompressor, certify

BENCHMARKS_DIR = Path(__file__).resolve().parent
RESULTS = BENCHMARKS_DIR / "results" / "certified.md"
CACHE_DIR = BENCHMARKS_DIR / "cache"
DATA_DIR = BENCHMARKS_DIR.parent.parent / "shared" / "data"

EPSILONS = (0.05, 0.1, 0.2)
DELTA = 0.05
CONFIDENCE = 0.95
DATASETS = ("mnist", "fashion-mnist", "digits", "friedman")
#: Floors of the entry-wise error compared in the last table.
FLOORS = (0.0, 0.01, 0.1, 0.5, 1.0)


# -- data and networks ---------------------------------------------------------


def _read_idx(path):
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    n_dims = {2051: 3, 2049: 1}[int.from_bytes(data[:4], "big")]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(n_dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * n_dims).reshape(shape)


def _idx_dataset(data_dir, name):
    """Train and test images scaled to [0, 1], or None when the files are missing."""
    folder = Path(data_dir) / name
    files = {
        key: folder / f"{stem}-ubyte.gz"
        for key, stem in [
            ("X_train", "train-images-idx3"),
            ("y_train", "train-labels-idx1"),
            ("X_test", "t10k-images-idx3"),
            ("y_test", "t10k-labels-idx1"),
        ]
    }
    if not all(path.is_file() for path in files.values()):
        return None
    arrays = {key: _read_idx(path) for key, path in files.items()}
    for key in ("X_train", "X_test"):
        arrays[key] = arrays[key].reshape(arrays[key].shape[0], -1).astype(np.float64) / 255
    return arrays


def _trained(name, make, X, y):
    """A network trained by ``make().fit(X, y)``, cached on disk by name and data."""
    digest = hashlib.sha1(repr(make()).encode() + np.ascontiguousarray(X[:100]).tobytes()).hexdigest()[:12]
    path = CACHE_DIR / f"certified_{name}_{X.shape[0]}_{digest}.pkl"
    if path.is_file():
        with open(path, "rb") as handle:
            return pickle.load(handle)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = make().fit(X, y)
    CACHE_DIR.mkdir(exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump(model, handle)
    return model


def load(name, data_dir):
    """(model, calibration X, calibration y, test X, test y, description), or a str saying why not."""
    if name in ("mnist", "fashion-mnist"):
        arrays = _idx_dataset(data_dir, name)
        if arrays is None:
            return f"{name}: skipped, the idx files are not in {Path(data_dir) / name}"
        X, y = arrays["X_train"], arrays["y_train"].astype(np.int64)
        model = _trained(
            name,
            lambda: MLPClassifier((300, 300), max_iter=8, batch_size=300, random_state=0),
            X[:20_000],
            y[:20_000],
        )
        # calibration rows the network was not trained on, as a user would hold them
        return model, X[40_000:41_000], y[40_000:41_000], arrays["X_test"], arrays["y_test"], "784-300-300-10"
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        X = X / 16
        rng = np.random.default_rng(0)
        order = rng.permutation(X.shape[0])
        train, test = order[:1100], order[1100:]
        model = _trained(name, lambda: MLPClassifier((100, 100), max_iter=300, random_state=0), X[train], y[train])
        return model, X[train], y[train], X[test], y[test], "64-100-100-10"
    X, y = make_friedman1(n_samples=14_000, n_features=10, noise=1.0, random_state=0)
    model = _trained(
        name, lambda: MLPRegressor(hidden_layer_sizes=(100, 100), max_iter=300, random_state=0), X[:3000], y[:3000]
    )
    return model, X[3000:4000], y[3000:4000], X[4000:], y[4000:], "10-100-100-1 (regression)"


# -- the measurements ----------------------------------------------------------


def _best_time(function, repeat):
    """The result of ``function()`` and the shortest of ``repeat`` timings."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - began)
    return result, min(times)


def measure(model, X_cal, y_cal, X_test, y_test, epsilon, repeat=2):
    """One row of the table; timings are the best of ``repeat`` runs."""
    row = {"epsilon": epsilon}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        theory = CoreNetCompressor(keep_ratio="theory", epsilon=epsilon, delta=DELTA, random_state=0).fit_transform(model, X_cal)
    row["theory_kept"] = theory.keep_ratio_
    row["theory_coverage"] = certify(model, theory, X_test, epsilon=epsilon, delta=DELTA).coverage

    compressor = CoreNetCompressor(
        keep_ratio="certified", epsilon=epsilon, delta=DELTA, confidence=CONFIDENCE, random_state=0
    )
    try:
        certified, row["certified_seconds"] = _best_time(
            lambda: compressor.fit(model, X_cal, y_cal).transform(), repeat
        )
    except ValueError as error:  # no budget meets the target: say so in the table
        row["certified_error"] = str(error).split(". ")[0]
        return row
    row["evaluations"] = compressor.search_results_["budget"].size
    row["certified_kept"] = certified.keep_ratio_
    row["held_out_lower"] = compressor.certificate_.coverage_lower
    row["held_out_epsilon"] = compressor.certificate_.epsilon_certified
    test = certify(model, certified, X_test, y_test, epsilon=epsilon, delta=DELTA)
    row["test_coverage"] = test.coverage
    row["test_epsilon"] = float(np.quantile(test.errors, 1 - DELTA))
    row["score_drop"] = test.score_drop

    single = CoreNetCompressor(keep_ratio=certified.keep_ratio_, random_state=0)
    _, row["single_seconds"] = _best_time(lambda: single.fit_transform(model, X_cal), repeat)
    return row


def error_kinds(model, X_cal, X_test, keep_ratio=0.3):
    """Smallest ε certified at δ on the test set, for each error, at one budget."""
    compressed = CoreNetCompressor(keep_ratio=keep_ratio, random_state=0).fit_transform(model, X_cal)
    columns = [("l1", 0.0)] + [("entrywise", floor) for floor in FLOORS]
    values = [
        certify(model, compressed, X_test, delta=DELTA, error=error, output_floor=floor).epsilon_certified
        for error, floor in columns
    ]
    header = " | ".join(["l1"] + [f"entrywise, output_floor={floor:g}" for floor in FLOORS])
    return [
        f"| {header} |",
        "|" + " --- |" * len(columns),
        "| " + " | ".join(f"{value:.3g}" for value in values) + " |",
    ]


def table(name, description, n_cal, n_test, rows, score):
    lines = [
        f"## {name} ({description}; {n_cal} calibration rows, {n_test} test points)",
        "",
        "| ε | theory: kept | theory: test coverage | certified: kept | held-out: coverage ≥ | "
        f"held-out: ε certified | test: coverage | test: 95% quantile | test: {score} drop | "
        "budgets tried | time certified / one compression |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        theory = f"| {row['epsilon']:g} | {100 * row['theory_kept']:.1f}% | {100 * row['theory_coverage']:.1f}% "
        if "certified_error" in row:
            lines.append(theory + f"| {row['certified_error']} | | | | | | | |")
            continue
        lines.append(
            theory
            + f"| {100 * row['certified_kept']:.1f}% | {100 * row['held_out_lower']:.1f}% "
            f"| {row['held_out_epsilon']:.3g} | {100 * row['test_coverage']:.1f}% | {row['test_epsilon']:.3g} "
            f"| {row['score_drop']:.4f} | {row['evaluations']} "
            f"| {row['certified_seconds']:.3g} s / {row['single_seconds']:.3g} s "
            f"({row['certified_seconds'] / row['single_seconds']:.1f}x) |"
        )
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--data-dir", default=str(DATA_DIR))
    parser.add_argument("--output", default=str(RESULTS))
    parser.add_argument("--repeat", type=int, default=2, help="timings are the best of this many runs")
    parser.add_argument(
        "--threads", type=int, default=1, help="BLAS threads (1: timings compare without contention)"
    )
    args = parser.parse_args(argv)

    began = time.perf_counter()
    sections, notes, kinds = [], [], []
    limits = threadpool_limits(args.threads)
    for name in args.datasets:
        loaded = load(name, args.data_dir)
        if isinstance(loaded, str):
            notes.append(f"- {loaded}.")
            print(loaded)
            continue
        model, X_cal, y_cal, X_test, y_test, description = loaded
        rows = []
        for epsilon in EPSILONS:
            rows.append(measure(model, X_cal, y_cal, X_test, y_test, epsilon, args.repeat))
            print(name, rows[-1], flush=True)
        score = "R²" if name == "friedman" else "accuracy"
        sections += table(name, description, X_cal.shape[0], X_test.shape[0], rows, score) + [""]
        if name == "digits":
            kinds = [
                "## The two errors (digits, default method at 30% kept)",
                "",
                f"Smallest ε certified at δ = {DELTA} on the test set, for the ℓ1-relative error and for the "
                "entry-wise error with several floors (entries below `output_floor` times the point's "
                "largest |logit| are compared to that floor; 0 is Theorem 4's event exactly).",
                "",
                *error_kinds(model, X_cal, X_test),
                "",
            ]
    limits.restore_original_limits()
    total = time.perf_counter() - began

    text = [
        "# Certified compression against theory mode",
        "",
        "Command: `python -m benchmarks.certified` "
        f"({total / 60:.1f} min with {args.threads} BLAS thread(s), timings the best of "
        f"{args.repeat} runs, on {platform.machine()}, "
        f"Python {platform.python_version()}, "
        f"numpy {np.__version__}, scikit-learn {sklearn.__version__}).",
        "",
        f"δ = {DELTA}, confidence {100 * CONFIDENCE:g}%, error ‖f̂(x) − f(x)‖₁ / ‖f(x)‖₁ of the network "
        "outputs (logits for classifiers). Theory mode: `CoreNetCompressor(keep_ratio=\"theory\", epsilon=ε, delta=δ)` "
        "(CoreNet++, the paper's sample sizes). Certified: `CoreNetCompressor(keep_ratio=\"certified\", "
        "epsilon=ε, delta=δ)` (default method, 30% of the calibration rows held out, budget grid "
        "step 10%). *Coverage* is the fraction of points with error ≤ ε; the certificate says that "
        "it is at least 1 − δ = 95% for new points, with 95% confidence. *Held-out* columns are "
        "the certificate on the held-out calibration rows (its lower bound on the coverage and "
        "the smallest ε it certifies at δ); *test* columns are measured on the test set, which "
        "played no part. The time compares the certified compression (search included) with one "
        "`fit_transform` at the budget it found.",
        "",
        *sections,
        *kinds,
        *(["Notes:", "", *notes, ""] if notes else []),
    ]
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text("\n".join(text))
    print(f"wrote {args.output} ({total:.0f} s)")


if __name__ == "__main__":
    main()
