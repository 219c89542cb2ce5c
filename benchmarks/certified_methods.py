"""Certified compression with another selection method: which certifies the smaller model depends on the data.

Run from the project root::

    python -m benchmarks.certified_methods
    python -m benchmarks.certified_methods --datasets digits friedman   # a quick run

Writes ``benchmarks/results/certified_methods.md``: for the data sets of
``benchmarks.certified`` (the same networks, calibration and test rows), the
kept fraction that ``CoreNetCompressor(keep_ratio="certified", epsilon=0.1,
delta=0.05, method=m)`` certifies, without and with fidelity fine-tuning
(``fine_tune=True``), for the default ``method="auto"`` and for
``method="wanda-search"`` (each layer's budget searched by the error measured
on the calibration rows), with the test coverage at ε and the cost of the
fine-tuned search over one compression plus one fine-tuning run at the budget
found.
"""

import argparse
import time
from pathlib import Path

from threadpoolctl import threadpool_limits

from .certified import (
    CONFIDENCE,
    DATA_DIR,
    DATASETS,
    DELTA,
    TARGET_COLUMNS,
    available,
    measure_target,
    target_cells,
    write_single_runs,
)

METHODS = ("auto", "wanda-search")
EPSILON = 0.1
RESULTS = Path(__file__).parent / "results" / "certified_methods.md"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--data-dir", default=str(DATA_DIR))
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)

    began = time.perf_counter()
    notes = []
    lines = ["| " + " | ".join(["data set", "method", *TARGET_COLUMNS]) + " |", "|" + " --- |" * 10]
    with threadpool_limits(1):
        for name, (model, X_cal, y_cal, X_test, y_test, description) in available(args.datasets, args.data_dir, notes):
            for method in METHODS:
                options = {"epsilon": EPSILON, "method": method}
                plain = measure_target(model, X_cal, y_cal, X_test, y_test, options, None)
                tuned = measure_target(model, X_cal, y_cal, X_test, y_test, options, True)
                print(name, method, plain, tuned, flush=True)
                cells = [f"{name} {description}", f'`"{method}"`', *target_cells(plain, tuned)]
                lines.append("| " + " | ".join(cells) + " |")
    write_single_runs(
        args.output,
        "Certified compression: the default method against layer budgets searched by measured error",
        "python -m benchmarks.certified_methods",
        time.perf_counter() - began,
        f"`CoreNetCompressor(keep_ratio=\"certified\", epsilon={EPSILON}, delta={DELTA}, "
        f"confidence={CONFIDENCE}, method=m, random_state=0)`, without and with `fine_tune=True`, on the "
        "networks, calibration rows (1,000, 30% held out) and test rows of `benchmarks.certified`, and its "
        "columns: *kept*, the fraction of the parameters the search certifies; *test*, the fraction of "
        "test points within ε; *cost*, the fine-tuned search's time over one compression plus one "
        "fine-tuning run at the budget it found, with the same method.",
        lines,
        notes,
    )

if __name__ == "__main__":
    main()
