"""Structured compression on MNIST 784-300-300-10: speed-up against accuracy.

Run from the project root::

    .venv/bin/python -m benchmarks.structured            # --keep-ratios, --epochs, --repeat

Trains (or reads from ``benchmarks/cache``) the paper's 784-300-300-10 MNIST
network (Appendix B recipe), compresses it with ``method="neurons"``
(neurons ranked by empirical sensitivity, least-squares re-fit) and with
``method="neuron-norm", reweight="none"`` (neurons ranked by weight norm,
no re-fit: what Torch-Pruning gives) at the same widths, and reports the
predict speed-up at 1,000 rows against the dense ``MLPClassifier`` (timed in
turn in the same run) and the accuracy drop one-shot and after the
library's ``fine_tune`` (5 epochs). The speed-up is measured twice: on the
machine's default BLAS threads, and with one BLAS thread for both models
(steadier on a busy machine). Writes ``benchmarks/results/structured.md``.
"""

import argparse
import os
import time

import numpy as np
from threadpoolctl import threadpool_limits

from benchmarks._common import (
    CACHE_DIR,
    DEFAULT_DATA_DIR,
    RESULTS_DIR,
    MissingDataError,
    Recipe,
    alternating_best_times,
    command_line,
    emit,
    machine,
    prepare_data,
    train_network,
)
from sklearn_corenet import CoreNetCompressor

METHODS = {"neurons": {"method": "neurons"}, "neuron-norm": {"method": "neuron-norm", "reweight": "none"}}


def speed_up(dense, compressed, X, repeat):
    """Dense predict time over the compressed model's, calls in turn (best of ``repeat``)."""
    dense_time, compressed_time = alternating_best_times(
        [lambda: dense.predict_proba(X), lambda: compressed.predict_proba(X)], repeat
    )
    return dense_time / compressed_time


def run(args):
    recipe = Recipe()
    X_train, y_train, X_test, y_test, calibration = prepare_data("mnist", recipe, args.data_dir)
    mlp, _, _ = train_network("mnist", (300, 300), X_train, y_train, recipe, args.cache, print)
    base = mlp.score(X_test, y_test)
    rows = []
    for keep_ratio in args.keep_ratios:
        for label, params in METHODS.items():
            compressed = CoreNetCompressor(keep_ratio=keep_ratio, random_state=0, **params).fit_transform(
                mlp, calibration
            )
            one_shot = 100 * (base - compressed.score(X_test, y_test))
            ratio = speed_up(mlp, compressed, X_test[:1000], args.repeat)
            with threadpool_limits(1, user_api="blas"):
                one_thread = speed_up(mlp, compressed, X_test[:1000], args.repeat)
            tuned = np.nan
            if label == "neurons":
                compressed.fine_tune(X_train, y_train, epochs=args.epochs, random_state=0)
                tuned = 100 * (base - compressed.score(X_test, y_test))
            rows.append((keep_ratio, label, compressed.hidden_layer_sizes_, ratio, one_thread, one_shot, tuned))
            print(rows[-1], flush=True)
    return base, rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    parser.add_argument("--cache", default=CACHE_DIR)
    parser.add_argument("--keep-ratios", type=float, nargs="+", default=[0.05, 0.1, 0.15, 0.2, 0.3])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    start, load = time.perf_counter(), os.getloadavg()[0]
    try:
        base, rows = run(args)
    except MissingDataError as error:
        print(f"skipped: {error}")
        return
    lines = []
    emit(
        lines,
        "# Structured compression on MNIST 784-300-300-10",
        "",
        f"Command: `{command_line('structured')}`. Machine: {machine()}. "
        f"Run time {(time.perf_counter() - start) / 60:.1f} min; load average {load:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end.",
        "",
        f"Dense test accuracy {100 * base:.2f}%. Speed-up: dense `predict_proba` time over the compressed "
        f"model's on 1,000 test rows, calls in turn, best of {args.repeat}. Fine-tuning: "
        f"`fine_tune(X_train, y_train, epochs={args.epochs}, random_state=0)`, the library's other defaults.",
        "",
        "| kept | method | hidden widths | speed-up (1,000 rows) | speed-up, 1 BLAS thread "
        "| drop one-shot (points) | drop fine-tuned |",
        "| ---: | --- | --- | ---: | ---: | ---: | ---: |",
    )
    for keep_ratio, label, widths, ratio, one_thread, one_shot, tuned in rows:
        tuned_text = "—" if np.isnan(tuned) else f"{tuned:.2f}"
        emit(
            lines,
            f"| {100 * keep_ratio:.0f}% | {label} | {'-'.join(map(str, widths))} | {ratio:.1f}× "
            f"| {one_thread:.1f}× | {one_shot:.2f} | {tuned_text} |",
        )
    (RESULTS_DIR / "structured.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
