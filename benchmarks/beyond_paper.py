"""Beyond the paper: the library's methods against magnitude pruning.

Run from the project root (needs the torch extra for training the network)::

    python -m benchmarks.beyond_paper                 # one-shot + fine-tuning
    python -m benchmarks.beyond_paper --skip-fine-tuning
    python -m benchmarks.beyond_paper --datasets fashion-mnist   # one data set; the other's rows are kept
    python -m benchmarks.beyond_paper --datasets mnist --hidden 100,100 --epochs 2 \
        --trials 1 --skip-fine-tuning --output /tmp/beyond.md   # a smoke run

A 784-500-350-200-10 network (``--hidden``) is trained on each data set as
the paper did (Adam, learning rate 1e-3, batch 300, 30 epochs (``--epochs``);
cached in ``benchmarks/cache/`` with the paper benchmark's networks), then
compressed with 1,000 calibration points from the training set:

* one-shot: accuracy drop of ``method="auto"`` (the default: "measured", the
  best on held-out calibration rows of "wanda", "wanda" with a dense output
  layer where cheap, and magnitude ranking, with the least-squares re-fit)
  and of other rules (each alone, "wanda-search", "neurons-thinet", the
  paper's CoreNet++) against global magnitude pruning at 5, 10, 20 and 30%
  kept, mean over ``--trials`` draws of the calibration points, with the
  seconds per compression;
* fine-tuned (the paper's Appendix B.4 setting, Adam lr 1e-3, batch 300, the
  kept weights only, all training images, no early stopping): magnitude pruning
  against the default with each starting point, and the default trained
  toward the original network's outputs instead of the labels (distillation,
  Hinton et al. 2015), 5 epochs at 5% kept and 15 epochs at 2% and 3%, mean
  over ``--fine-tune-trials`` calibration draws and training seeds.

Writes ``benchmarks/results/beyond_paper.md`` (and ``.csv``). ``--rerun``
replaces only some rows and ``--datasets`` only some data sets; the other
rows are read back from the CSV, which records the command of every row.
"""

import argparse
import csv
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from sklearn_corenet import CoreNetCompressor
from sklearn_corenet.methods import ActivationMagnitude

from ._common import (
    CACHE_DIR,
    DATASETS,
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
    "wanda + lstsq (the previous default)": {"method": "wanda", "reweight": "lstsq"},
    "wanda, dense output layer if cheap + lstsq": {"method": ActivationMagnitude(output_layer="dense-if-cheap")},
    "wanda-search + lstsq (layer budgets searched)": {"method": "wanda-search"},
    "neurons-thinet (structured)": {"method": "neurons-thinet"},
    "auto (measured choice + lstsq, default)": {},
}
#: label: (compression parameters, ``init`` of fine_tune, whether it learns the
#: original network's outputs (distillation) instead of the labels).
FINE_TUNING = {
    "magnitude": ({"method": "magnitude"}, "current", False),
    "auto, init='current' (lstsq start)": ({}, "current", False),
    "auto, init='auto' (selected edges' values)": ({}, "auto", False),
    "auto, init='auto', distilled (no labels)": ({}, "auto", True),
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
        for label, (params, init, distil) in FINE_TUNING.items():
            if not _selected(label, rerun):
                continue
            drops, seconds = [], []
            for trial in range(trials):
                compressed, _ = _compress(model, X_train, ratio, trial, calibration_size, params)
                start = time.perf_counter()
                targets = {"teacher": model} if distil else {"y": y_train}
                compressed.fine_tune(X_train, **targets, init=init, epochs=epochs, learning_rate=1e-3,
                                     batch_size=300, early_stopping=False, random_state=trial)
                seconds.append(time.perf_counter() - start)
                drops.append(100 * (base - compressed.score(X_test, y_test)))
            rows.append(_row("fine-tuned", ratio, label, epochs, drops, seconds))
    return rows


#: The command of the rows of a CSV written before it recorded one per row.
EARLIER_COMMAND = "python -m benchmarks.beyond_paper"


def _kept_rows(path, datasets, rerun):
    """Rows of an earlier run (its CSV) that this run does not replace.

    All rows of the data sets not in ``datasets``, and the rows of the others
    that ``rerun`` does not select (none when ``rerun`` is None); rows whose
    label is no longer in ``ONE_SHOT`` or ``FINE_TUNING`` are dropped.
    """
    if not Path(path).exists():
        return []
    with open(path, newline="") as handle:
        rows = [r for r in csv.DictReader(handle)
                if r["method"] in (ONE_SHOT if r["kind"] == "one-shot" else FINE_TUNING)
                and (r["dataset"] not in datasets or (rerun is not None and not _selected(r["method"], rerun)))]
    for r in rows:
        for key in ("keep_ratio", "drop", "std", "seconds"):
            r[key] = float(r[key])
        for key in ("epochs", "trials"):
            r[key] = int(r[key])
        r["base"] = float(r["base"]) if r.get("base") else None
        r["command"] = r.get("command") or EARLIER_COMMAND
    return rows


def _cell(rows, label, key, value, n_draws):
    found = [r for r in rows if r["method"] == label and r[key] == value]
    if not found:
        return "–"
    r = found[0]
    return f"{r['drop']:.2f} ± {r['std']:.2f}" if n_draws > 1 else f"{r['drop']:.2f}"


def markdown(rows, hidden):
    """The report: per data set, the one-shot and the fine-tuned table, and the commands."""
    commands = list(dict.fromkeys(r["command"] for r in rows))
    lines = ["# Beyond the paper: the library's methods against magnitude pruning", "",
             ("Command: " if len(commands) == 1 else "Commands (each data set below says which rows come "
              "from which): ") + "; ".join(f"`{c}`" for c in commands)
             + f". Network 784-{hidden}-10 trained as the paper did; accuracy drop in points on the 10,000 "
             "test images (lower is better); seconds: mean time of one compression.", ""]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        mine = [r for r in rows if r["dataset"] == dataset]
        base = next((r["base"] for r in mine if r["base"] is not None), None)
        accuracy = f"test accuracy {100 * base:.2f}%" if base is not None else "test accuracy not recorded"
        lines += [f"## {dataset} ({accuracy})", ""]
        mine_commands = list(dict.fromkeys(r["command"] for r in mine))
        if len(mine_commands) > 1:
            lines += ["Rows from " + "; ".join(
                f"`{c}`: " + ", ".join(dict.fromkeys(r["method"] for r in mine if r["command"] == c))
                for c in mine_commands) + ".", ""]
        elif len(commands) > 1:
            lines += [f"All rows from `{mine_commands[0]}`.", ""]
        shot = [r for r in mine if r["kind"] == "one-shot"]
        if shot:
            ratios = sorted({r["keep_ratio"] for r in shot})
            n_draws = max(int(r["trials"]) for r in shot)
            lines += ["One-shot (no training)" + (f", mean ± std over {n_draws} calibration draws:" if n_draws > 1
                                                  else ", one calibration draw:"), "",
                      "| method | " + " | ".join(f"{100 * r:g}% kept" for r in ratios) + " | seconds |",
                      "| --- | " + " | ".join("---:" for _ in ratios) + " | ---: |"]
            for label in [label for label in ONE_SHOT if any(r["method"] == label for r in shot)]:
                seconds = np.mean([r["seconds"] for r in shot if r["method"] == label])
                lines.append(f"| {label} | " + " | ".join(_cell(shot, label, "keep_ratio", k, n_draws) for k in ratios)
                             + f" | {seconds:.2f} |")
            lines.append("")
        tuned = [r for r in mine if r["kind"] == "fine-tuned"]
        if tuned:
            for r in tuned:
                r["setting"] = (r["keep_ratio"], r["epochs"])
            settings = sorted({r["setting"] for r in tuned}, reverse=True)
            n_tuned = max(int(r["trials"]) for r in tuned)
            lines += ["Fine-tuned (Adam, lr 1e-3, batch 300, kept weights only, all training images, no early "
                      "stopping; on the labels, or on the original network's outputs when distilled)"
                      + (f", mean ± std over {n_tuned} trials:" if n_tuned > 1 else ":"), "",
                      "| start | " + " | ".join(f"{100 * k:g}%, {e} epochs" for k, e in settings) + " |",
                      "| --- | " + " | ".join("---:" for _ in settings) + " |"]
            for label in [label for label in FINE_TUNING if any(r["method"] == label for r in tuned)]:
                lines.append(f"| {label} | " + " | ".join(_cell(tuned, label, "setting", k, n_tuned)
                                                         for k in settings) + " |")
            for r in tuned:
                del r["setting"]
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
    command = command_line("beyond_paper", argv)
    new = []
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
        new += [{"dataset": dataset, **r, "base": base, "command": command} for r in rows]
    kept = _kept_rows(args.output.with_suffix(".csv"), args.datasets, args.rerun)
    order = list(dict.fromkeys([*DATASETS, *(r["dataset"] for r in kept), *args.datasets]))
    flat = sorted(kept + new, key=lambda r: order.index(r["dataset"]))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(markdown(flat, args.hidden.replace(",", "-")))
    with open(args.output.with_suffix(".csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(flat[0]))
        writer.writeheader()
        writer.writerows(flat)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
