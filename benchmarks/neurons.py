"""Neuron selection by reconstruction (ThiNet) and widths by measured error, against "neurons".

Run from the project root::

    .venv/bin/python -m benchmarks.neurons                 # --keep-ratios, --draws, --epochs, --large

Structured compression (whole hidden neurons removed, least-squares re-fit
of the kept weights) of four rules, at the same parameter budget:

* ``neurons``: neurons ranked by empirical sensitivity, the same fraction
  of every hidden layer (the library's ``method="neurons"``);
* ``neurons, widths by error``: the same ranking, widths chosen by the
  reconstruction error measured on the calibration points
  (``NeuronPruning(widths="error")``);
* ``thinet, uniform widths``: neurons chosen greedily by the reconstruction
  of the next layer's input (``NeuronPruning(score="reconstruction")``);
* ``neurons-thinet``: both (the registered ``method="neurons-thinet"``).

Networks: MNIST 784-300-300-10 (the paper's recipe, 30 epochs, cached in
``benchmarks/cache``; the network of ``benchmarks.structured``), and two
``make_classification`` sets of 20,000 rows with a 3×256 ``MLPClassifier``
behind a ``StandardScaler`` (75% to train, 25% to test): 20 features and 5
classes (the set of ``benchmarks.distillation``), and 40 features and 10
classes (the set of ``benchmarks.output_layer``). With ``--large``, also
MNIST 784-1000-1000-1000-10 (5 epochs of the recipe), one-shot only.

Every cell is the mean over ``--draws`` draws of 2,000 calibration rows from
the training rows: the test accuracy drop in points one-shot and after
``fine_tune(X_train, y_train, epochs=5, random_state=draw)`` (the library's
other defaults), the compression time (``fit_transform``, seconds) and the
hidden widths of the first draw. Writes ``benchmarks/results/neurons.md``.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import make_classification

from sklearn_corenet import CoreNetCompressor
from sklearn_corenet.methods import NeuronPruning

from ._common import (
    CACHE_DIR,
    DEFAULT_DATA_DIR,
    TABULAR_SETS,
    MissingDataError,
    Recipe,
    fit_scaled_mlp,
    prepare_data,
    train_network,
    write_table_report,
)

RULES = {
    "neurons": "neurons",
    "neurons, widths by error": NeuronPruning("neurons, widths by error", widths="error"),
    "thinet, uniform widths": NeuronPruning("thinet, uniform widths", score="reconstruction"),
    "neurons-thinet": "neurons-thinet",
}
CALIBRATION_SIZE = 2000


def networks(args, log=print):
    """(name, MLPClassifier, X_train, y_train, X_test, y_test, fine-tune) of every network."""
    try:
        recipe = Recipe()
        X_train, y_train, X_test, y_test, _ = prepare_data("mnist", recipe, args.data_dir)
        mlp, _, _ = train_network("mnist", (300, 300), X_train, y_train, recipe, args.cache, log)
        yield "MNIST 784-300-300-10", mlp, X_train, y_train, X_test, y_test, True
        if args.large:
            recipe = Recipe(epochs=5)
            mlp, _, _ = train_network("mnist", (1000, 1000, 1000), X_train, y_train, recipe, args.cache, log)
            yield "MNIST 784-1000-1000-1000-10", mlp, X_train, y_train, X_test, y_test, False
    except MissingDataError as error:
        log(f"MNIST skipped: {error}")
    for name, params in TABULAR_SETS.items():
        model, X_train, X_test, y_train, y_test = fit_scaled_mlp(*make_classification(**params), (256, 256, 256))
        scaler, mlp = model[0], model[-1]
        yield name, mlp, scaler.transform(X_train), y_train, scaler.transform(X_test), y_test, True


def run(args, log=print):
    rows = []
    for name, mlp, X_train, y_train, X_test, y_test, tune in networks(args, log):
        original = mlp.score(X_test, y_test)
        log(f"{name}: test accuracy {100 * original:.2f}%")
        for keep_ratio in args.keep_ratios:
            for label, method in RULES.items():
                one_shot, tuned, seconds, widths = [], [], [], None
                for draw in range(args.draws):
                    rng = np.random.default_rng(draw)
                    calibration = X_train[rng.choice(len(X_train), CALIBRATION_SIZE, replace=False)]
                    start = time.perf_counter()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", UserWarning)
                        compressed = CoreNetCompressor(keep_ratio=keep_ratio, method=method, random_state=draw)
                        compressed = compressed.fit_transform(mlp, calibration)
                    seconds.append(time.perf_counter() - start)
                    widths = widths or compressed.hidden_layer_sizes_
                    one_shot.append(100 * (original - compressed.score(X_test, y_test)))
                    if tune and args.epochs:
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            compressed.fine_tune(X_train, y_train, epochs=args.epochs, random_state=draw)
                        tuned.append(100 * (original - compressed.score(X_test, y_test)))
                row = [
                    name,
                    f"{100 * keep_ratio:g}%",
                    label,
                    "-".join(map(str, widths)),
                    f"{np.mean(one_shot):.2f} ± {np.std(one_shot):.2f}",
                    f"{np.mean(tuned):.2f} ± {np.std(tuned):.2f}" if tuned else "—",
                    f"{np.mean(seconds):.2f}",
                ]
                log(" | ".join(row))
                rows.append(row)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    parser.add_argument("--cache", default=CACHE_DIR)
    parser.add_argument("--keep-ratios", type=float, nargs="+", default=[0.05, 0.1, 0.2])
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--large", action="store_true")
    args = parser.parse_args(argv)
    rows = run(args)
    write_table_report(
        "neurons",
        "Structured compression: neurons chosen by reconstruction, widths by measured error",
        argv,
        f"Test accuracy drop in points from the original (mean ± standard deviation over {args.draws} draws "
        f"of {CALIBRATION_SIZE:,} calibration rows), one-shot and after "
        f"`fine_tune(X_train, y_train, epochs={args.epochs}, random_state=draw)`; compression time of "
        "`CoreNetCompressor(keep_ratio=r, method=...).fit_transform(mlp, calibration)` in seconds "
        "(mean); hidden widths of the first draw. Every rule re-fits the kept weights by least "
        "squares (`reweight=\"lstsq\"`, the structured methods' default).",
        ["network", "kept", "rule", "hidden widths", "drop one-shot", "drop fine-tuned", "seconds"],
        rows,
    )


if __name__ == "__main__":
    main()
