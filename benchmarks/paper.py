"""Reproduce the paper's evaluation on MNIST and Fashion-MNIST.

Baykal et al. (ICLR 2019), Section 6 and Appendix B: fully-connected ReLU
networks are trained with Adam (learning rate 1e-3, batch 300, 30 epochs),
then compressed by CoreNet, CoreNet+, CoreNet++ and the data-oblivious
baselines at budgets from 3% to 50% of the parameters; the drop in test
accuracy and the relative ℓ1 error of the output are averaged over trials.

Usage (from the repository root)::

    python -m benchmarks.paper                  # the full benchmark
    python -m benchmarks.paper --quick          # a smoke run on a subset, < 2 min
    python -m benchmarks.paper --methods corenet++ magnitude "corenet++:allocation=theory"
    python -m benchmarks.paper --data-dir /path/to/data   # <dir>/mnist/, <dir>/fashion-mnist/

Outputs go to ``benchmarks/results/`` (``--out``): ``paper.csv`` (one row
per data set, network, method, keep ratio and trial), ``paper_networks.csv``
(the trained networks), ``paper_accuracy_drop.png``,
``paper_relative_error.png`` and ``paper_table.md``, which the docs page
"Reproducing the paper" includes. Trained networks are cached in
``benchmarks/cache/`` (``--cache``), so a rerun only compresses.

A method is a ``CoreNetCompressor`` method name, optionally with parameters
(``name:key=value,key=value``, values parsed as Python literals), or one of
the benchmark's own: ``svd`` (rank-r truncation, counted as the paper does)
and ``torch-l1`` (``torch.nn.utils.prune.global_unstructured`` with
``L1Unstructured``, an outside reference for ``magnitude``).

The work is split by job: ``_paper_methods`` (method names and the
benchmark's own baselines), ``_paper_run`` (configuration, training and
compression), ``_paper_report`` (table and figures); this module is the
command line.
"""

import argparse
import os
import sys
from dataclasses import replace

from ._common import (
    CACHE_DIR,
    DATASETS,
    DEFAULT_DATA_DIR,
    RESULTS_DIR,
    MissingDataError,
)
from ._paper_methods import parse_method
from ._paper_report import report
from ._paper_run import NETWORKS, QUICK, QUICK_NETWORKS, Config, run


def build_config(args):
    """The run's :class:`Config`: the paper's, or ``--quick``'s, with the options given."""
    config = Config()
    if args.quick:
        config = replace(config, **QUICK)
    changes = {}
    if args.datasets:
        changes["datasets"] = tuple(args.datasets)
    if args.methods:
        changes["methods"] = tuple(parse_method(m)[0] for m in args.methods)
    if args.keep_ratios:
        changes["keep_ratios"] = tuple(args.keep_ratios)
    if args.trials:
        changes["n_trials"] = args.trials
    if args.networks:
        changes["networks"] = {name: NETWORKS.get(name) or QUICK_NETWORKS.get(name) or _parse_widths(name)
                               for name in args.networks}
    if args.epochs:
        changes["epochs"] = args.epochs
    if args.calibration_size:
        changes["calibration_size"] = args.calibration_size
    return replace(config, **changes)


def _parse_widths(name):
    try:
        return tuple(int(w) for w in name.split("-"))
    except ValueError:
        raise SystemExit(
            f"--networks: unknown network {name!r}; use one of {', '.join(NETWORKS)} "
            "or hidden widths such as 300-100"
        ) from None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR),
                        help="folder holding mnist/ and fashion-mnist/ with the idx files "
                             "(default: ../shared/data from the repository root)")
    parser.add_argument("--out", default=None,
                        help="output folder (default: benchmarks/results, or benchmarks/results/tmp with --quick)")
    parser.add_argument("--cache", default=str(CACHE_DIR), help="trained-network cache folder")
    parser.add_argument("--quick", action="store_true", help="a smoke run on a subset (under 2 minutes)")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS)
    parser.add_argument("--networks", nargs="+", help=f"subset of {', '.join(NETWORKS)} or widths like 300-100")
    parser.add_argument("--methods", nargs="+",
                        help="methods to run (default: the paper's); name or name:key=value,...")
    parser.add_argument("--keep-ratios", nargs="+", type=float)
    parser.add_argument("--trials", type=int)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--calibration-size", type=int)
    parser.add_argument("--report-only", action="store_true",
                        help="only rewrite the table and figures from the CSVs in --out")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                        help="worker processes, one network each (default: 2)")
    args = parser.parse_args(argv)
    config = build_config(args)
    out = args.out or str(RESULTS_DIR / ("tmp" if args.quick else ""))
    prefix = "paper_quick" if args.quick else "paper"
    if args.report_only:
        report(out, prefix)
        return 0
    try:
        run(config, args.data_dir, out, args.cache, prefix=prefix, jobs=args.jobs, argv=argv)
    except MissingDataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
