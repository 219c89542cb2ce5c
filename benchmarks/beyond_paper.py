"""Beyond the paper: the recommended method against magnitude pruning.

Run from the project root (needs the torch extra for training the network)::

    python -m benchmarks.beyond_paper                 # one-shot + fine-tuning
    python -m benchmarks.beyond_paper --skip-fine-tuning
    python -m benchmarks.beyond_paper --datasets mnist --hidden 100,100 --epochs 2 \
        --trials 1 --skip-fine-tuning --output /tmp/beyond.md   # a smoke run

A 784-500-350-200-10 network (``--hidden``) is trained on each data set as
the paper did (Adam, learning rate 1e-3, batch 300, 30 epochs (``--epochs``);
cached in ``benchmarks/cache/`` with the paper benchmark's networks), then
compressed with 1,000 calibration points from the training set:

* one-shot: accuracy drop of ``method="auto"`` (the default: "wanda" selection
  and least-squares re-fit) and of other rules against global magnitude pruning
  at 5, 10, 20 and 30% kept, mean over ``--trials`` draws of the calibration
  points;
* fine-tuned (the paper's Appendix B.4 setting, Adam lr 1e-3, batch 300, the
  kept weights only, all training images, no early stopping): magnitude pruning
  against the default with each starting point, 5 epochs at 5% kept and 15
  epochs at 2% and 3%, mean over ``--fine-tune-trials`` calibration draws and
  training seeds.

Writes ``benchmarks/results/beyond_paper.md`` (and ``.csv``).
"""

import argparse
import csv
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from sklearn_corenet import CoreNetCompressor

from ._common import (
    CACHE_DIR,
    DEFAULT_DATA_DIR,
    RESULTS_DIR,
    Recipe,
    command_line,
    prepare_data,
    train_network,
)

ONE_SHOT = {
    "magnitude (global, paper baseline)": {"method": "magnitude"},
    "magnitude + lstsq": {"method": "magnitude", "reweight": "lstsq"},
    "corenet++ (paper)": {"method": "corenet++"},
    "corenet++ + lstsq": {"method": "corenet++", "reweight": "lstsq"},
    "wanda, no re-fit": {"method": "wanda", "reweight": "none"},
    "auto (wanda + lstsq, default)": {},
}
FINE_TUNING = {
    "magnitude": ({"method": "magnitude"}, "current"),
    "auto, init='current' (lstsq start)": ({}, "current"),
    "auto, init='auto' (selected edges' values)": ({}, "auto"),
}


def _selected(label, rerun):
    return rerun is None or any(part in label for part in rerun)


def _compress(model, X_train, ratio, trial, calibration_size, params):
    """Compress with trial ``trial``'s calibration draw and seed; (model, seconds)."""
    rng = np.random.default_rng(trial)
    calibration = X_train[rng.choice(len(X_train), calibration_size, replace=False)]
    start = time.perf_counter()
    compressed = CoreNetCompressor(keep_ratio=ratio, random_state=trial, **params).fit_transform(model, calibration)
    return compressed, time.perf_counter() - start


def _row(kind, ratio, label, epochs, drops, seconds):
    """One result row (mean and std over trials), printed as it comes."""
    row = {"kind": kind, "keep_ratio": ratio, "method": label, "epochs": epochs, "trials": len(drops),
           "drop": float(np.mean(drops)), "std": float(np.std(drops)), "seconds": float(np.mean(seconds))}
    setting = f"{epochs:2d} epochs " if epochs else ""
    print(f"  {ratio:.2f} {setting}{label:42s} drop {row['drop']:6.2f} ± {row['std']:.2f}", flush=True)
    return row


def one_shot(model, X_train, X_test, y_test, ratios, trials, calibration_size, rerun=None):
    base = model.score(X_test, y_test)
    rows = []
    for ratio in ratios:
        for label, params in ONE_SHOT.items():
            if not _selected(label, rerun):
                continue
            drops, seconds = [], []
            for trial in range(trials):
                compressed, elapsed = _compress(model, X_train, ratio, trial, calibration_size, params)
                seconds.append(elapsed)
                drops.append(100 * (base - compressed.score(X_test, y_test)))
            rows.append(_row("one-shot", ratio, label, 0, drops, seconds))
    return rows


def fine_tuned(model, X_train, y_train, X_test, y_test, settings, trials, calibration_size, rerun=None):
    base = model.score(X_test, y_test)
    rows = []
    for ratio, epochs in settings:
        for label, (params, init) in FINE_TUNING.items():
            if not _selected(label, rerun):
                continue
            drops, seconds = [], []
            for trial in range(trials):
                compressed, _ = _compress(model, X_train, ratio, trial, calibration_size, params)
                start = time.perf_counter()
                compressed.fine_tune(X_train, y_train, init=init, epochs=epochs, learning_rate=1e-3,
                                     batch_size=300, early_stopping=False, random_state=trial)
                seconds.append(time.perf_counter() - start)
                drops.append(100 * (base - compressed.score(X_test, y_test)))
            rows.append(_row("fine-tuned", ratio, label, epochs, drops, seconds))
    return rows


def _kept_rows(path, dataset, rerun):
    """Rows of an earlier run (its CSV) that ``rerun`` does not replace."""
    with open(path, newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["dataset"] == dataset and not _selected(r["method"], rerun)]
    for r in rows:
        del r["dataset"]
        for key in ("keep_ratio", "drop", "std", "seconds"):
            r[key] = float(r[key])
        for key in ("epochs", "trials"):
            r[key] = int(r[key])
    return rows


def markdown(results, command, args_hidden, source=""):
    lines = ["# Beyond the paper: the default against magnitude pruning", "",
             f"Command: `{command}`{source}. Network 784-{args_hidden}-10 trained as the paper did; "
             "accuracy drop in points on the 10,000 test images (lower is better).", ""]
    for dataset, (base, rows) in results.items():
        lines += [f"## {dataset} (test accuracy {100 * base:.2f}%)", ""]
        shot = [r for r in rows if r["kind"] == "one-shot"]
        if shot:
            ratios = sorted({r["keep_ratio"] for r in shot})
            n_draws = len({r["std"] for r in shot}) and max(1, int(shot[0].get("trials", 1)))
            lines += ["One-shot (no training)" + (", mean ± std over calibration draws:" if n_draws > 1 else
                      ", one calibration draw:"), "",
                      "| method | " + " | ".join(f"{100 * r:g}% kept" for r in ratios) + " | seconds |",
                      "| --- | " + " | ".join("---:" for _ in ratios) + " | ---: |"]
            for label in ONE_SHOT:
                cells = [next(r for r in shot if r["method"] == label and r["keep_ratio"] == k) for k in ratios]
                lines.append(f"| {label} | " + " | ".join(
                    f"{c['drop']:.2f} ± {c['std']:.2f}" if n_draws > 1 else f"{c['drop']:.2f}" for c in cells)
                             + f" | {np.mean([c['seconds'] for c in cells]):.2f} |")
            lines.append("")
        tuned = [r for r in rows if r["kind"] == "fine-tuned"]
        if tuned:
            settings = sorted({(r["keep_ratio"], r["epochs"]) for r in tuned}, reverse=True)
            n_tuned = max(1, int(tuned[0].get("trials", 1)))
            lines += ["Fine-tuned (Adam, lr 1e-3, batch 300, kept weights only)"
                      + (f", mean ± std over {n_tuned} trials:" if n_tuned > 1 else ":"), "",
                      "| start | " + " | ".join(f"{100 * k:g}%, {e} epochs" for k, e in settings) + " |",
                      "| --- | " + " | ".join("---:" for _ in settings) + " |"]
            for label in FINE_TUNING:
                cells = [next(r for r in tuned if r["method"] == label and (r["keep_ratio"], r["epochs"]) == s)
                         for s in settings]
                lines.append(f"| {label} | " + " | ".join(
                    f"{c['drop']:.2f} ± {c['std']:.2f}" if n_tuned > 1 else f"{c['drop']:.2f}" for c in cells) + " |")
            lines.append("")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--skip-fine-tuning", action="store_true")
    parser.add_argument("--fine-tune-trials", type=int, default=3)
    parser.add_argument("--rerun", nargs="+", default=None,
                        help="rerun only the rows whose label contains one of these strings; the "
                             "other rows are read back from the CSV of --output")
    parser.add_argument("--fine-tune-datasets", nargs="+", default=["mnist"])
    parser.add_argument("--fine-tune-settings", default="0.05:5,0.03:15,0.02:15",
                        help="keep ratio:epochs pairs, comma-separated")
    parser.add_argument("--hidden", default="500,350,200", help="hidden widths of the network")
    parser.add_argument("--epochs", type=int, default=Recipe.epochs,
                        help="training epochs of the network (the paper's 30 by default)")
    parser.add_argument("--cache", type=Path, default=CACHE_DIR)
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "beyond_paper.md")
    args = parser.parse_args(argv)
    recipe = replace(Recipe(), epochs=args.epochs)
    results, flat = {}, []
    for dataset in args.datasets:
        X_train, y_train, X_test, y_test, _ = prepare_data(dataset, recipe, args.data_dir)
        hidden = tuple(int(w) for w in args.hidden.split(","))
        model, _, _ = train_network(dataset, hidden, X_train, y_train, recipe, args.cache, print)
        base = model.score(X_test, y_test)
        print(f"{dataset}: test accuracy {base:.4f}", flush=True)
        rows = one_shot(model, X_train, X_test, y_test, (0.05, 0.1, 0.2, 0.3), args.trials, recipe.calibration_size,
                        args.rerun)
        if not args.skip_fine_tuning and dataset in args.fine_tune_datasets:
            settings = [(float(k), int(e)) for k, e in (p.split(":") for p in args.fine_tune_settings.split(","))]
            rows += fine_tuned(model, X_train, y_train, X_test, y_test, settings,
                               args.fine_tune_trials, recipe.calibration_size, args.rerun)
        if args.rerun is not None:
            rows = _kept_rows(args.output.with_suffix(".csv"), dataset, args.rerun) + rows
        results[dataset] = (base, rows)
        flat += [{"dataset": dataset, **r} for r in rows]
    command = command_line("beyond_paper", argv)
    source = "" if args.rerun is None else f" (the other rows: from the earlier run of `{command_line('beyond_paper', [])}`)"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(markdown(results, command, args.hidden.replace(",", "-"), source))
    with open(args.output.with_suffix(".csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(flat[0]))
        writer.writeheader()
        writer.writerows(flat)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
