"""What the narrower network of structured compression can reach: its shape trained from scratch.

Run from the project root::

    .venv/bin/python -m benchmarks.structured_capacity      # --keep-ratios, --seeds, --epochs

Structured compression leaves a narrower dense network; fine-tuning can bring
it no further than a network of that shape can go. For MNIST 784-300-300-10
(the paper's recipe, 30 epochs, cached in ``benchmarks/cache``; the network of
``benchmarks.neurons``), at each kept fraction: the hidden widths that
``method="neurons-thinet"`` leaves (one draw of 2,000 calibration rows from
the training rows), the test accuracy drop of that compressed network
one-shot, after ``fine_tune(X_train, y_train, epochs=5)`` and after 30
epochs (the library's other defaults), and the drop of an ``MLPClassifier``
of the same widths trained from scratch on all the training rows (Adam at
1e-3, mini-batches of 128, ``--epochs`` epochs, one run per seed): at its
last epoch and at its best epoch on the test rows (an optimistic figure,
the epoch being chosen on the rows it is scored on). Writes
``benchmarks/results/structured_capacity.md``.
"""

import argparse
import copy
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from sklearn_corenet import CoreNetCompressor

from ._common import (
    CACHE_DIR,
    DEFAULT_DATA_DIR,
    MissingDataError,
    Recipe,
    prepare_data,
    train_network,
    write_table_report,
)

CALIBRATION_SIZE = 2000
#: Epochs of the two fine-tuning runs of the compressed network.
FINE_TUNE_EPOCHS = (5, 30)
BATCH_SIZE = 128


def from_scratch(widths, X_train, y_train, X_test, y_test, epochs, seed):
    """Test accuracy after every epoch of an MLPClassifier of these widths trained from scratch."""
    mlp = MLPClassifier(widths, batch_size=BATCH_SIZE, learning_rate_init=1e-3, max_iter=1, warm_start=True,
                        random_state=seed)
    scores = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # one epoch per fit
        for _ in range(epochs):
            mlp.fit(X_train, y_train)
            scores.append(mlp.score(X_test, y_test))
    return np.array(scores)


def run(args, log=print):
    recipe = Recipe()
    X_train, y_train, X_test, y_test, _ = prepare_data("mnist", recipe, args.data_dir)
    mlp, _, _ = train_network("mnist", (300, 300), X_train, y_train, recipe, args.cache, log)
    original = mlp.score(X_test, y_test)
    log(f"MNIST 784-300-300-10: test accuracy {100 * original:.2f}%")
    calibration = X_train[np.random.default_rng(0).choice(len(X_train), CALIBRATION_SIZE, replace=False)]
    rows = []
    for keep_ratio in args.keep_ratios:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            compressed = CoreNetCompressor(keep_ratio=keep_ratio, method="neurons-thinet", random_state=0)
            compressed = compressed.fit_transform(mlp, calibration)
        widths = tuple(compressed.hidden_layer_sizes_)
        drops = [100 * (original - compressed.score(X_test, y_test))]
        for epochs in FINE_TUNE_EPOCHS:
            tuned = copy.deepcopy(compressed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                tuned.fine_tune(X_train, y_train, epochs=epochs, random_state=0, keep_one_shot=False)
            drops.append(100 * (original - tuned.score(X_test, y_test)))
        began = time.perf_counter()
        curves = [from_scratch(widths, X_train, y_train, X_test, y_test, args.epochs, seed) for seed in range(args.seeds)]
        last = [100 * (original - curve[-1]) for curve in curves]
        best = [100 * (original - curve.max()) for curve in curves]
        row = [
            f"{100 * keep_ratio:g}%",
            "-".join(map(str, widths)),
            *(f"{drop:.2f}" for drop in drops),
            f"{np.mean(last):.2f} ± {np.std(last):.2f}",
            f"{np.mean(best):.2f} ± {np.std(best):.2f}",
        ]
        log(" | ".join(row) + f" ({time.perf_counter() - began:.0f} s from scratch)")
        rows.append(row)
    return original, rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    parser.add_argument("--cache", default=CACHE_DIR)
    parser.add_argument("--keep-ratios", type=float, nargs="+", default=[0.05, 0.1, 0.2])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args(argv)
    try:
        original, rows = run(args)
    except MissingDataError as error:
        print(f"skipped: {error}")
        return
    write_table_report(
        "structured_capacity",
        "Structured compression against its shape trained from scratch (MNIST 784-300-300-10)",
        argv,
        f"Test accuracy drop in points from the original ({100 * original:.2f}%). Compressed: "
        f"`CoreNetCompressor(keep_ratio=r, method=\"neurons-thinet\", random_state=0)` on "
        f"{CALIBRATION_SIZE:,} calibration rows, one-shot and after "
        "`fine_tune(X_train, y_train, epochs=e, random_state=0)`. From scratch: an `MLPClassifier` "
        f"of the same hidden widths, Adam at 1e-3, mini-batches of {BATCH_SIZE}, {args.epochs} epochs on "
        f"the 60,000 training rows, mean ± standard deviation over {args.seeds} seeds, at the last epoch "
        "and at the best epoch on the test rows (optimistic: chosen on the rows it is scored on).",
        [
            "kept", "hidden widths", "compressed one-shot", "fine-tuned 5 epochs", "fine-tuned 30 epochs",
            "from scratch, last epoch", "from scratch, best epoch",
        ],
        rows,
    )


if __name__ == "__main__":
    main()
