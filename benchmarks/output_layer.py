"""The output layer's budget under "wanda": its floor of edges, or dense when cheap.

Run from the project root::

    python -m benchmarks.output_layer                  # MNIST 784-300-300-10, digits, synthetic
    python -m benchmarks.output_layer --large --seeds 0 1 2   # + 784-1000-1000-1000-10, 3 networks each
    python -m benchmarks.output_layer --data-sets synthetic --calibration-size 3000
    python -m benchmarks.output_layer --data-sets digits --keep-ratios 0.05  # a smoke run

"wanda" splits the budget over layers as global magnitude pruning does.
Compares the one-shot accuracy drop (test accuracy of the original minus the
compressed model's, in points; the default least-squares re-fit) of two rules
for the output layer's share of that split:

* ``output_layer="floor"``: at least 16 edges per output neuron, never more
  than an equal share of the budget;
* ``output_layer="dense-if-cheap"``: the output layer keeps all its weights
  and biases when they are at most ``dense_output_share`` of the budget
  (several shares are measured), otherwise the floor.

Networks, each compressed at every kept fraction with 3 draws of the
calibration points (mean and standard deviation over the draws):

* MNIST 784-300-300-10, trained with the paper's recipe for ``--epochs``
  epochs (5 by default, to bound the time; cached in ``benchmarks/cache``),
  1,000 calibration images from the training set, all 10,000 test images;
* digits 64-256-256-10: scikit-learn's ``MLPClassifier`` behind a
  ``StandardScaler``, 75% of the 1,797 images to train, 500 of them to
  calibrate, the other 25% to test;
* synthetic 40-256-256-256-10: ``make_classification`` with 20,000 rows
  (20 informative features, 10 classes), the same pipeline, 75% to train,
  1,000 of them to calibrate;
* with ``--large``, MNIST 784-1000-1000-1000-10, trained as above.

``--seeds`` trains every network once per seed (the seed of training and of
the tabular data sets' splits); ``--calibration-size`` sets the number of
calibration points of every network. The report ends with each rule's mean
difference from the floor and whether it meets the bar for a default: no
cell more than 0.5 point worse than the floor, less lost on average at 2-5%.

Rules that give a network the same per-layer counts at a budget give it the
same compressed model: each distinct split is compressed once and its result
reported for every rule that gives it. Writes
``benchmarks/results/output_layer.md`` (``--output``) and the drops of every
draw next to it (``.csv``).
"""

import argparse
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_corenet import CoreNetCompressor
from sklearn_corenet.methods import ActivationMagnitude

from ._common import (
    CACHE_DIR,
    DEFAULT_DATA_DIR,
    RESULTS_DIR,
    Recipe,
    command_line,
    machine,
    markdown_table,
    prepare_data,
    software_versions,
    train_network,
)

KEEP_RATIOS = (0.02, 0.05, 0.1, 0.2)
SHARES = (0.1, 0.25, 0.5)
N_DRAWS = 3
#: A rule may become the default when no cell is worse than the floor's by more (points).
TOLERANCE = 0.5
DATA_SETS = ("mnist-300", "digits", "synthetic")


def rules(shares):
    """The rules compared: label and method object, the current rule first."""
    compared = {"floor": ActivationMagnitude(output_layer="floor")}
    for share in shares:
        compared[f"dense if ≤ {share:g}"] = ActivationMagnitude(output_layer="dense-if-cheap", dense_output_share=share)
    return compared


def _tabular(name, seed):
    """A fitted StandardScaler + MLPClassifier pipeline, its data splits and calibration pool."""
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        hidden, calibration_size = (256, 256), 500
    else:
        X, y = make_classification(
            n_samples=20000, n_features=40, n_informative=20, n_redundant=5, n_classes=10,
            n_clusters_per_class=2, random_state=seed,
        )
        hidden, calibration_size = (256, 256, 256), 1000
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = make_pipeline(
            StandardScaler(), MLPClassifier(hidden, max_iter=200, early_stopping=True, random_state=seed)
        ).fit(X_train, y_train)
    return model, model[-1], X_train, X_test, y_test, calibration_size


def network(name, args, seed):
    """(description, model, its MLP, training rows, test rows, test labels, calibration size)."""
    if name in ("digits", "synthetic"):
        model, mlp, X_train, X_test, y_test, size = _tabular(name, seed)
        widths = [mlp.coefs_[0].shape[0], *(W.shape[1] for W in mlp.coefs_)]
        source = "digits" if name == "digits" else "synthetic (make_classification, 20,000 rows)"
        return f"{source} {'-'.join(map(str, widths))}, seed {seed}", model, mlp, X_train, X_test, y_test, size
    hidden = (300, 300) if name == "mnist-300" else (1000, 1000, 1000)
    recipe = replace(Recipe(), epochs=args.epochs, seed=seed)
    X_train, y_train, X_test, y_test, _ = prepare_data("mnist", recipe, args.data_dir)
    mlp, _, _ = train_network("mnist", hidden, X_train, y_train, recipe, args.cache, print)
    widths = "-".join(map(str, [784, *hidden, 10]))
    return f"MNIST {widths} ({args.epochs} epochs), seed {seed}", mlp, mlp, X_train, X_test, y_test, 1000


def measure(name, seed, args, compared, log):
    """Per kept fraction: the output layer's share of the budget, its kept fraction
    under the floor, and every rule's drops over the draws."""
    title, model, mlp, X_train, X_test, y_test, size = network(name, args, seed)
    if args.calibration_size is not None:
        size = min(args.calibration_size, X_train.shape[0])
        title = f"{title}, {size} calibration points"
    base = model.score(X_test, y_test)
    weights = [np.vstack([W, b]) for W, b in zip(mlp.coefs_, mlp.intercepts_, strict=True)]
    log(f"{title}: test accuracy {100 * base:.2f}%")
    results = []
    for keep_ratio in args.keep_ratios:
        drops = {label: [] for label in compared}
        warned = {label: 0 for label in compared}
        for draw in range(N_DRAWS):
            rng = np.random.default_rng(draw)
            calibration = X_train[rng.choice(X_train.shape[0], size, replace=False)]
            done = {}
            for label, method in compared.items():
                if draw == 0 and label == next(iter(compared)):
                    budget = CoreNetCompressor(keep_ratio=keep_ratio, method=method).fit(model, calibration).budget_
                counts = tuple(method.layer_counts(weights, budget))
                if counts not in done:
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        compressed = CoreNetCompressor(keep_ratio=keep_ratio, method=method).fit_transform(
                            model, calibration
                        )
                    lstsq = sum("least-squares re-fit has" in str(w.message) for w in caught)
                    done[counts] = (100 * (base - compressed.score(X_test, y_test)), lstsq)
                drop, lstsq = done[counts]
                drops[label].append(drop)
                warned[label] += lstsq
            log(f"  {keep_ratio:.0%} draw {draw}: " + ", ".join(f"{label} {d[-1]:.2f}" for label, d in drops.items()))
        floor = compared["floor"].layer_counts(weights, budget)
        results.append({
            "keep_ratio": keep_ratio,
            "budget": budget,
            "output_share": weights[-1].size / budget,
            "floor_output_kept": floor[-1] / weights[-1].size,
            "drops": drops,
            "warned": warned,
        })
    return title, base, results


def report(measured, args, compared, elapsed):
    """Lines of the markdown report."""
    labels = list(compared)
    lines = [
        "# The output layer's budget under \"wanda\"",
        "",
        f"Command: `{command_line('output_layer')}`. Machine: {machine()}; {software_versions()}. "
        f"Run time {elapsed / 60:.1f} min.",
        "",
        "One-shot accuracy drop in points (test accuracy of the original minus the compressed model's), "
        "`CoreNetCompressor(keep_ratio=r, method=ActivationMagnitude(...))` with the default least-squares "
        f"re-fit, mean ± standard deviation over {N_DRAWS} draws of the calibration points. "
        "\"floor\": `output_layer=\"floor\"` (at least 16 edges per output neuron); \"dense if ≤ s\": "
        "`output_layer=\"dense-if-cheap\", dense_output_share=s` (the output layer keeps all its "
        "parameters when they are at most s of the budget, else the floor). \"output share\": the "
        "output layer's parameters over the budget; \"floor keeps\": the fraction of the output layer's "
        "parameters the floor rule keeps. Bold: the lowest mean of a row.",
        "",
    ]
    header = ["kept", "output share", "floor keeps", *labels]
    all_rows = []
    for title, base, results in measured:
        lines += [f"## {title}, {100 * base:.2f}% test accuracy", ""]
        rows = []
        for result in results:
            means = {label: np.mean(result["drops"][label]) for label in labels}
            best = min(means.values())
            cells = []
            for label in labels:
                text = f"{means[label]:.2f} ± {np.std(result['drops'][label]):.2f}"
                cells.append(f"**{text}**" if means[label] == best else text)
            rows.append([f"{result['keep_ratio']:.0%}", f"{result['output_share']:.1%}",
                         f"{result['floor_output_kept']:.1%}", *cells])
            all_rows.append((title, result, means))
        lines += markdown_table(header, rows) + [""]
        warned = [(result["keep_ratio"], label, result["warned"][label])
                  for result in results for label in labels if result["warned"][label]]
        if warned:
            lines += ["Least-squares re-fits warned of too few calibration points: " + "; ".join(
                f"{keep_ratio:.0%} {label} ({count} of {N_DRAWS} draws)" for keep_ratio, label, count in warned
            ) + ".", ""]
    # each rule against the floor, over every network
    lines += ["## Each rule against the floor", "",
              "Difference of the mean drops, rule minus floor, averaged over the networks (negative: the "
              "rule loses less accuracy); worst cell: the largest difference of any network and kept "
              "fraction. A rule is fit to be the default when no cell is worse than the floor's by more "
              f"than {TOLERANCE:g} point and it loses less on average at 2-5% kept.", ""]
    summary_header = ["rule", *(f"mean at {r:.0%}" for r in args.keep_ratios), "mean at 2-5%",
                      "worst cell", "cells better / worse by > 0.5", "fit to be the default"]
    summary = []
    for label in labels[1:]:
        differences = {r: [] for r in args.keep_ratios}
        cells = []
        for title, result, means in all_rows:
            difference = means[label] - means["floor"]
            differences[result["keep_ratio"]].append(difference)
            cells.append((difference, f"{title}, {result['keep_ratio']:.0%}"))
        small = [d for r in args.keep_ratios if r <= 0.05 for d in differences[r]]
        worst, where = max(cells)
        better = sum(d < -TOLERANCE for d, _ in cells)
        worse = sum(d > TOLERANCE for d, _ in cells)
        fit = worst <= TOLERANCE and bool(small) and np.mean(small) < 0
        summary.append([label, *(f"{np.mean(differences[r]):+.2f}" for r in args.keep_ratios),
                        f"{np.mean(small):+.2f}" if small else "—", f"{worst:+.2f} ({where})",
                        f"{better} / {worse}", "yes" if fit else "no"])
    lines += markdown_table(summary_header, summary, align="l" + "r" * len(args.keep_ratios) + "rlrl") + [""]
    return lines


def write_csv(measured, path):
    lines = ["network,keep_ratio,budget,output_share,rule,draw,drop"]
    for title, _, results in measured:
        for result in results:
            for label, drops in result["drops"].items():
                for draw, drop in enumerate(drops):
                    lines.append(f"\"{title}\",{result['keep_ratio']},{result['budget']},"
                                 f"{result['output_share']:.4f},\"{label}\",{draw},{drop:.4f}")
    Path(path).write_text("\n".join(lines) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--cache", type=Path, default=CACHE_DIR)
    parser.add_argument("--epochs", type=int, default=5, help="training epochs of the MNIST networks")
    parser.add_argument("--keep-ratios", nargs="+", type=float, default=list(KEEP_RATIOS))
    parser.add_argument("--shares", nargs="+", type=float, default=list(SHARES))
    parser.add_argument("--data-sets", nargs="+", choices=[*DATA_SETS, "mnist-1000"], default=list(DATA_SETS))
    parser.add_argument("--large", action="store_true", help="also MNIST 784-1000-1000-1000-10")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0],
                        help="seeds of the networks' training (and of the tabular data sets' splits)")
    parser.add_argument("--calibration-size", type=int, default=None,
                        help="calibration points of every network (default: 1,000; digits 500)")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "output_layer.md")
    args = parser.parse_args(argv)
    names = [*args.data_sets, *(["mnist-1000"] if args.large and "mnist-1000" not in args.data_sets else [])]
    compared = rules(args.shares)
    start = time.perf_counter()
    measured = [measure(name, seed, args, compared, print) for name in names for seed in args.seeds]
    lines = report(measured, args, compared, time.perf_counter() - start)
    args.output.write_text("\n".join(lines))
    write_csv(measured, args.output.with_suffix(".csv"))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
