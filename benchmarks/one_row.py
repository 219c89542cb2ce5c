"""Predicting one row at a time: compressed against dense, by kernel rule.

Run from the project root::

    .venv/bin/python -m benchmarks.one_row            # --repeat N

A request served alone predicts one row. For random ReLU networks of the
benchmark shapes (784-1000-1000-1000-10 and 784-300-300-10; their weights do
not change the time) compressed by the default method at 5, 10 and 20% kept
(1,000 non-negative random calibration rows), times ``predict_proba`` of 1, 8
and 64 rows against the dense ``MLPClassifier`` (calls alternating, best of
``--repeat`` rounds of 20 calls), and names the kernel of each layer
(``d``: dense BLAS, ``c``: CSR). Writes ``benchmarks/results/one_row.md``.
"""

import argparse
import warnings

import numpy as np

from sklearn_corenet import CoreNetCompressor

from ._common import alternating_best_times, random_mlp, write_table_report

NETWORKS = ((784, 1000, 1000, 1000, 10), (784, 300, 300, 10))
KEEP_RATIOS = (0.05, 0.1, 0.2)
ROWS = (1, 8, 64)


def run(repeat):
    rows = []
    X = np.abs(np.random.default_rng(0).normal(size=(1000, 784)))
    for sizes in NETWORKS:
        mlp = random_mlp(sizes, seed=0)
        for keep_ratio in KEEP_RATIOS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                compressed = CoreNetCompressor(keep_ratio=keep_ratio, random_state=0).fit_transform(mlp, X)
            densities = ", ".join(f"{100 * W.nnz / (W.shape[0] * W.shape[1]):.0f}%" for W in compressed.coefs_)
            cells = []
            for n_rows in ROWS:
                A = X[:n_rows]
                dense, sparse = alternating_best_times(
                    [lambda: mlp.predict_proba(A), lambda: compressed.predict_proba(A)], repeat, inner=20  # noqa: B023
                )
                kernels = "".join(compressed._kernels().kernel(layer, n_rows)[0] for layer in range(len(sizes) - 1))
                cells.append(f"{sparse / dense:.2f}x ({kernels})")
            rows.append(["-".join(map(str, sizes)), f"{100 * keep_ratio:g}%", densities, *cells])
            print(" | ".join(rows[-1]), flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args(argv)
    rows = run(args.repeat)
    header = ["network", "kept", "layer densities", *(f"{n} row{'s' if n > 1 else ''}" for n in ROWS)]
    write_table_report(
        "one_row",
        "One row at a time: compressed predict_proba time over the dense network's",
        argv,
        "Time of the compressed model's `predict_proba` over the dense `MLPClassifier`'s "
        "(default BLAS threads), and the kernel of each layer (d: dense BLAS, c: CSR).",
        header,
        rows,
    )


if __name__ == "__main__":
    main()
