"""Fidelity fine-tuning in the certified search: how many mixed rows it trains on.

Run from the project root::

    python -m benchmarks.mixed_rows
    python -m benchmarks.mixed_rows --datasets digits --n-synthetic 2000  # a smoke run

Writes ``benchmarks/results/mixed_rows.md``. For the classifiers of
``benchmarks.certified`` (MNIST and Fashion-MNIST 784-300-300-10 on 1,000
calibration rows, digits 64-100-100-10), certified compression to ε = 0.1 on
the outputs at δ = 0.05 (confidence 95%) with fidelity fine-tuning:
``fine_tune=True`` (mixed pairs of compression rows added up to 5,000 rows
in all, the default) against ``fine_tune={"n_synthetic": n}`` (n mixed rows
added). Each row gives the kept fraction found, the coverage at ε measured on
the test set, the time of the certified compression and its cost against one
compression plus one fine-tuning run with the same setting at the budget it
found (as ``benchmarks.certified`` measures it).
"""

import argparse
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

from .certified import (
    DATA_DIR,
    available,
    cost_cells,
    measure_target,
    write_single_runs,
)

BENCHMARKS_DIR = Path(__file__).resolve().parent
RESULTS = BENCHMARKS_DIR / "results" / "mixed_rows.md"
DATASETS = ("mnist", "fashion-mnist", "digits")
N_SYNTHETIC = (10_000, 20_000)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--data-dir", default=str(DATA_DIR))
    parser.add_argument("--n-synthetic", type=int, nargs="+", default=list(N_SYNTHETIC))
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)

    began = time.perf_counter()
    lines = [
        "| data set | fine_tune | kept | test: coverage at ε | budgets tried | time certified "
        "(of which fine-tuning) | one compression + fine-tuning | cost |",
        "|" + " --- |" * 8,
    ]
    notes = []
    with threadpool_limits(1):
        for name, loaded in available(args.datasets, args.data_dir, notes):
            model, X_cal, y_cal, X_test, y_test, description = loaded
            settings = [("True (up to 5,000 rows)", True)] + [
                (f"n_synthetic={n:,}", {"n_synthetic": n}) for n in args.n_synthetic
            ]
            for label, fine_tune in settings:
                row = measure_target(model, X_cal, y_cal, X_test, y_test, {"epsilon": 0.1}, fine_tune)
                print(name, label, row, flush=True)
                if "error" in row:
                    lines.append(f"| {name} {description} | {label} | {row['error']} | | | | | |")
                    continue
                cells = [f"{name} {description}", label, f"{100 * row['kept']:.1f}%", f"{100 * row['test']:.1f}%"]
                lines.append("| " + " | ".join([*cells, str(row["budgets"]), *cost_cells(row)]) + " |")
    write_single_runs(
        args.output,
        "Fidelity fine-tuning: how many mixed rows",
        "python -m benchmarks.mixed_rows",
        time.perf_counter() - began,
        "Certified compression to ε = 0.1 on the outputs, δ = 0.05, confidence 95%, 1,000 calibration "
        "rows (300 held out to certify), with fidelity fine-tuning on the 700 compression rows and mixed "
        "pairs of them: `fine_tune=True` adds them up to 5,000 rows in all, `fine_tune={\"n_synthetic\": n}` "
        "adds n. *Test* is the share of test points within ε (95% certified). *Cost*: the certified "
        "compression's time over that of one compression at the budget found plus one fine-tuning run "
        "with the same setting.",
        lines,
        notes,
    )

if __name__ == "__main__":
    main()
