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

A second table per data set compares the targets a user can certify, each
without and with fidelity fine-tuning (``fine_tune=True``): ε on the outputs
(0.05, 0.1, 0.2), ε on the predicted probabilities (``error_on="probabilities"``,
0.1) and label agreement 0.99 (``agreement=0.99``); for MNIST and
Fashion-MNIST, ε = 0.1 and agreement 0.99 again with 17,000, then 37,000, more rows passed
as ``X_unlabeled`` (they compress, certify and train the fine-tuning); with the kept fraction,
the coverage (or agreement) measured on the test set and the cost: the time
of the certified compression over that of one compression at the budget it
found plus one fine-tuning run there. A last section repeats the certified
search, with and without fine-tuning, on 200 fresh calibration draws of a
synthetic distribution and counts how often the certified lower bound on the
coverage holds (``--validity 0`` skips it).

Data: MNIST and Fashion-MNIST 784-300-300-10 networks (idx files in
``../shared/data/<name>/``; a data set whose files are missing is skipped
with a note), the 8x8 digits bundled with scikit-learn (64-100-100-10,
trained on 500 of the 1,797 images, calibrated on 1,000 others and tested
on the remaining 297) and Friedman's regression problem #1
(``make_friedman1``, 10-100-100-1). The networks are scikit-learn MLPs;
the 784-300-300-10 ones are trained for 8 epochs on 20,000 training images
(a shortened recipe, cached in ``benchmarks/cache/``), enough for 87-88% test accuracy on Fashion-MNIST.
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
#: The targets of the second table: (label, CoreNetCompressor keywords).
TARGETS = (
    ("ε = 0.05, outputs", {"epsilon": 0.05}),
    ("ε = 0.1, outputs", {"epsilon": 0.1}),
    ("ε = 0.2, outputs", {"epsilon": 0.2}),
    ("ε = 0.1, probabilities", {"epsilon": 0.1, "error_on": "probabilities"}),
    ("agreement 0.99", {"agreement": 0.99}),
)
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


#: Data sets with a larger calibration set for the agreement target: (X, y).
MORE_CALIBRATION = {}
#: Data sets with sets of unlabelled rows (``X_unlabeled``) the network was not trained on.
UNLABELED = {}
#: The targets certified again with ``X_unlabeled``.
UNLABELED_TARGETS = (("ε = 0.1, outputs", {"epsilon": 0.1}), ("agreement 0.99", {"agreement": 0.99}))


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
        MORE_CALIBRATION[name] = X[40_000:43_000], y[40_000:43_000]
        # every training image neither the network nor the calibration rows come from: 17,000, then 37,000
        UNLABELED[name] = (X[43_000:60_000], np.concatenate([X[20_000:40_000], X[43_000:60_000]]))
        return model, X[40_000:41_000], y[40_000:41_000], arrays["X_test"], arrays["y_test"], "784-300-300-10"
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        X = X / 16
        rng = np.random.default_rng(0)
        order = rng.permutation(X.shape[0])
        # calibration rows the network was not trained on: the certificate speaks of
        # new points like them (on its own training rows a network is more confident)
        train, calibration, test = order[:500], order[500:1500], order[1500:]
        model = _trained(name, lambda: MLPClassifier((100, 100), max_iter=300, random_state=0), X[train], y[train])
        return model, X[calibration], y[calibration], X[test], y[test], "64-100-100-10"
    X, y = make_friedman1(n_samples=14_000, n_features=10, noise=1.0, random_state=0)
    model = _trained(
        name, lambda: MLPRegressor(hidden_layer_sizes=(100, 100), max_iter=300, random_state=0), X[:3000], y[:3000]
    )
    return model, X[3000:4000], y[3000:4000], X[4000:], y[4000:], "10-100-100-1 (regression)"


def available(names, data_dir, notes):
    """``(name, load(name))`` of the data sets that load; a note in ``notes`` for each one skipped."""
    for name in names:
        loaded = load(name, data_dir)
        if isinstance(loaded, str):
            notes.append(f"- {loaded}.")
            print(loaded)
            continue
        yield name, loaded


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


def measure_target(model, X_cal, y_cal, X_test, y_test, options, fine_tune, X_unlabeled=None):
    """Certified compression to one target: kept fraction, test figures, cost.

    ``X_unlabeled`` certify too (and train, with ``fine_tune``).
    """
    settings = dict(delta=DELTA, confidence=CONFIDENCE, random_state=0, fine_tune=fine_tune, **options)
    compressor = CoreNetCompressor(keep_ratio="certified", **settings)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            began = time.perf_counter()
            certified = compressor.fit(model, X_cal, y_cal, X_unlabeled=X_unlabeled).transform()
            seconds = time.perf_counter() - began
    except ValueError as error:
        return {"error": str(error).split(". ")[0]}
    results = compressor.search_results_
    row = {
        "kept": certified.keep_ratio_,
        "seconds": seconds,
        "fine_tune_seconds": float(results["fine_tune_seconds"].sum()),
        "budgets": results["budget"].size,
        "held_out": compressor.validation_size_,
    }
    error_on = options.get("error_on", "outputs")
    test = certify(model, certified, X_test, epsilon=options.get("epsilon", 0.1), delta=DELTA, error_on=error_on)
    row["test"] = test.label_agreement if "agreement" in options else test.coverage
    # one compression at the budget found, with its fine-tuning run
    single = CoreNetCompressor(keep_ratio=certified.keep_ratio_, **{
        k: v for k, v in settings.items() if k not in ("agreement", "epsilon", "delta", "confidence")
    })
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        began = time.perf_counter()
        # the unlabelled rows compress (and train the fine-tuning) there too
        single.fit_transform(model, X_cal, X_unlabeled=X_unlabeled)
        row["single_seconds"] = time.perf_counter() - began
    return row


def targets_table(model, X_cal, y_cal, X_test, y_test, regression, more=None, unlabeled=None):
    """Lines of the second table: every target, without and with fine-tuning.

    ``more``: a larger calibration set (X, y), for the agreement target again;
    ``unlabeled``: sets of rows passed as ``X_unlabeled``, for :data:`UNLABELED_TARGETS` again with each.
    """
    lines = ["| " + " | ".join(["target", *TARGET_COLUMNS]) + " |", "|" + " --- |" * 9]
    targets = [(label, options, None) for label, options in TARGETS]
    if more is not None:
        targets.append((f"agreement 0.99, {more[0].shape[0]} calibration rows", {"agreement": 0.99}, None))
    for rows in unlabeled or ():
        targets += [
            (f"{label}, + {rows.shape[0]:,} unlabelled rows", options, rows) for label, options in UNLABELED_TARGETS
        ]
    for label, options, X_unlabeled in targets:
        if regression and ("error_on" in options or "agreement" in options):
            continue
        X, y = (X_cal, y_cal) if "calibration rows" not in label else more
        plain = measure_target(model, X, y, X_test, y_test, options, None, X_unlabeled)
        tuned = measure_target(model, X, y, X_test, y_test, options, True, X_unlabeled)
        print(label, plain, tuned, flush=True)
        lines.append("| " + " | ".join([label, *target_cells(plain, tuned)]) + " |")
    return lines


#: The columns of :func:`target_cells`.
TARGET_COLUMNS = (
    "kept", "kept, fine-tuned", "test: coverage or agreement", "same, fine-tuned",
    "budgets tried, fine-tuned (rows certifying)", "time certified, fine-tuned (of which fine-tuning)",
    "one compression + fine-tuning", "cost",
)


def target_cells(plain, tuned):
    """The cells of a targets table's row: two :func:`measure_target` rows, without and with fine-tuning."""
    cells = []
    for row in (plain, tuned):
        cells.append(row["error"] if "error" in row else f"{100 * row['kept']:.1f}%")
    for row in (plain, tuned):
        cells.append("" if "error" in row else f"{100 * row['test']:.1f}%")
    if "error" in tuned:
        return cells + ["", "", "", ""]
    return cells + [f"{tuned['budgets']} ({tuned['held_out']:,})", *cost_cells(tuned)]


def cost_cells(row):
    """The time of a :func:`measure_target` row's search (of which fine-tuning), of one run, and their ratio."""
    return [
        f"{row['seconds']:.3g} s ({row['fine_tune_seconds']:.3g} s)",
        f"{row['single_seconds']:.3g} s",
        f"{row['seconds'] / row['single_seconds']:.1f}x",
    ]


def write_single_runs(path, title, command, seconds, description, lines, notes):
    """Write a report of single runs on one BLAS thread: title, command, machine, description, table, notes."""
    text = [
        f"# {title}",
        "",
        f"Command: `{command}` ({seconds / 60:.1f} min with 1 BLAS thread, single runs, on "
        f"{platform.machine()}, Python {platform.python_version()}, numpy {np.__version__}).",
        "",
        description,
        "",
        *lines,
        "",
        *(["Notes:", "", *notes, ""] if notes else []),
    ]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("\n".join(text), encoding="utf-8")
    print(f"wrote {path} ({seconds:.0f} s)")


def validity(repetitions, n_calibration=400, epsilon=0.1, delta=0.1):
    """How often the certified lower bound on the coverage holds, over fresh calibration draws.

    A 6-32-32-1 regressor of a synthetic function of Gaussian inputs; each
    repetition draws ``n_calibration`` new calibration rows, runs the
    certified search (without and with fine-tuning) and compares the lower
    bound with the coverage measured on 50,000 new points.
    """
    rng = np.random.default_rng(0)

    def sample(n):
        X = rng.normal(size=(n, 6))
        return X, np.sin(X[:, 0]) + X[:, 1] * X[:, 2] + 3

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPRegressor(hidden_layer_sizes=(32, 32), max_iter=300, random_state=0).fit(*sample(2000))
    X_truth, _ = sample(50_000)
    counts = {}
    # fine_tune, and how many unlabelled rows per calibration row
    for fine_tune, unlabeled in ((None, 0), (True, 0), (None, 2), (True, 2)):
        valid, kept = 0, []
        for repetition in range(repetitions):
            X, _ = sample(n_calibration)
            X_unlabeled = sample(unlabeled * n_calibration)[0] if unlabeled else None
            compressor = CoreNetCompressor(epsilon=epsilon, delta=delta, fine_tune=fine_tune, random_state=repetition)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                compressed = compressor.fit(mlp, X, X_unlabeled=X_unlabeled).transform()
            truth = certify(mlp, compressed, X_truth, epsilon=epsilon, delta=delta).coverage
            valid += compressor.certificate_.coverage_lower <= truth
            kept.append(compressed.keep_ratio_)
        counts[fine_tune, unlabeled * n_calibration] = (valid, float(np.mean(kept)))
        print("validity", fine_tune, unlabeled, counts[fine_tune, unlabeled * n_calibration], flush=True)
    return [
        f"## Validity over fresh calibration draws ({repetitions} repetitions)",
        "",
        f"A 6-32-32-1 `MLPRegressor` of sin(x₀) + x₁x₂ + 3 on Gaussian inputs; each repetition draws "
        f"{n_calibration} new calibration rows, runs `CoreNetCompressor(epsilon={epsilon}, delta={delta})` "
        "(certified, 30% held out) and measures the coverage of the network it returns on 50,000 new points; "
        f"in the last two rows it also draws {2 * n_calibration} rows passed as `X_unlabeled`, 30% of "
        "which certify too. The certificate's lower bound on the coverage should hold in about 95% of "
        "the repetitions (its confidence) or more.",
        "",
        "| fine_tune | X_unlabeled rows | lower bound ≤ measured coverage | mean kept |",
        "| --- | --- | --- | --- |",
        *[
            f"| {fine_tune} | {n_unlabeled} | {valid}/{repetitions} | {100 * kept:.1f}% |"
            for (fine_tune, n_unlabeled), (valid, kept) in counts.items()
        ],
        "",
    ]


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
        "--validity", type=int, default=200, help="repetitions of the validity check (0 skips it)"
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="BLAS threads (1: timings compare without contention)"
    )
    args = parser.parse_args(argv)

    began = time.perf_counter()
    sections, notes, kinds = [], [], []
    limits = threadpool_limits(args.threads)
    for name, loaded in available(args.datasets, args.data_dir, notes):
        model, X_cal, y_cal, X_test, y_test, description = loaded
        rows = []
        for epsilon in EPSILONS:
            rows.append(measure(model, X_cal, y_cal, X_test, y_test, epsilon, args.repeat))
            print(name, rows[-1], flush=True)
        score = "R²" if name == "friedman" else "accuracy"
        sections += table(name, description, X_cal.shape[0], X_test.shape[0], rows, score) + [""]
        sections += [
            f"### {name}: targets, without and with fine-tuning",
            "",
            *targets_table(
                model, X_cal, y_cal, X_test, y_test, regression=name == "friedman",
                more=MORE_CALIBRATION.get(name), unlabeled=UNLABELED.get(name),
            ),
            "",
        ]
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
    checked = validity(args.validity) if args.validity else []
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
        "`fit_transform` at the budget it found (the default method with a budget, which on a "
        "1,000-row calibration set compares its rules on two quarters of the rows held out in turn, "
        "cross-fitting, where the search compares them on one quarter at each budget it tries).",
        "",
        "The *targets* tables certify, at δ = 0.05, an ε on the outputs, an ε on the predicted "
        "probabilities (`error_on=\"probabilities\"`: ‖p̂(x) − p(x)‖₁) or a label agreement of 0.99 "
        "(`agreement=0.99`, the lower confidence bound on the share of new points given the original's "
        "label), each without and with fidelity fine-tuning (`fine_tune=True`: the search finds the "
        "budget that certifies without fine-tuning, then fine-tunes the budgets it tries below it toward "
        "the original's outputs on the compression rows and mixed pairs of them, each then certified on "
        "the held-out rows). The rows *+ 17,000 unlabelled rows* also pass `X_unlabeled` (MNIST and "
        "Fashion-MNIST training images 43,000-59,999), those *+ 37,000 unlabelled rows* images "
        "20,000-39,999 and 43,000-59,999 (every training image neither the network nor the calibration "
        "rows come from): 30% of them certify too, the others compress and train the fine-tuning (also in the "
        "one compression the cost compares with); *rows certifying* counts the held-out rows. *Test* is the coverage at that ε (or the agreement) "
        "measured on the test set. *Cost* is the time of the fine-tuned certified compression over "
        "that of one `fit_transform` at the budget it found with the same `fine_tune` (one "
        "compression plus one fine-tuning run); timings of these tables are single runs.",
        "",
        *sections,
        *kinds,
        *checked,
        *(["Notes:", "", *notes, ""] if notes else []),
    ]
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text("\n".join(text))
    print(f"wrote {args.output} ({total:.0f} s)")


if __name__ == "__main__":
    main()
