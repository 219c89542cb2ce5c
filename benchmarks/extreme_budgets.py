"""The default at extreme budgets: one-shot and fine-tuned drops, and what it costs.

Run from the project root::

    python -m benchmarks.extreme_budgets --search            # every network, 2-20% kept
    python -m benchmarks.extreme_budgets --networks digits --keep-ratios 0.05 --draws 1  # a smoke run

``method="auto"`` is the default: :class:`~sklearn_corenet.methods._measured.MeasuredChoice`,
which compresses with each candidate selection rule on about three quarters
of the calibration rows and keeps the one that agrees best with the original
on the others (the first unless another is clearly better). Before it,
``method="auto"`` was ``"wanda"``, the first candidate. Both re-fit the kept
weights by least squares.

Networks (every one a ReLU MLP classifier):

* MNIST 784-300-300-10, the paper's recipe (30 epochs), and Fashion-MNIST
  784-300-300-10, the same recipe;
* MNIST 784-1000-1000-1000-10, 5 epochs of the recipe;
* digits 64-256-256-10 (scikit-learn's ``MLPClassifier`` behind a
  ``StandardScaler``; 75% of the rows to train, 25% to test);
* ``make_classification``, 20,000 rows, 3×256 hidden: 20 features and 5
  classes, and 40 features and 10 classes (as ``benchmarks.neurons``).

Each cell is the mean over ``--draws`` draws of the calibration rows
(2,000, or 500 for digits, drawn from the training rows): the test accuracy
drop in points of ``"wanda"`` and of ``"auto"`` one-shot, of ``"auto"``
after ``fine_tune(X, teacher=original, epochs=5)`` on up to 10,000 training
rows (distillation: no labels; first draw only), and the compression time
of ``"auto"`` over that of ``"wanda"`` (``fit_transform``, one BLAS thread,
the two alternated). With ``--search``, also ``method="wanda-search"``
(:class:`~sklearn_corenet.methods._split_search.LayerSplitSearch`: layer
budgets searched by measured error), one-shot, and its time over
``"wanda"``'s. Writes ``benchmarks/results/extreme_budgets.md``.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits, make_classification
from threadpoolctl import threadpool_limits

from sklearn_corenet import CoreNetCompressor

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

NETWORKS = ("mnist-300", "fashion-300", "mnist-1000", "digits", "tabular-5", "tabular-10")
KEEP_RATIOS = (0.02, 0.05, 0.1, 0.2)
#: The tabular networks' names and the titles of their sets in ``TABULAR_SETS``.
TABULAR = dict(zip(("tabular-5", "tabular-10"), TABULAR_SETS, strict=True))
FINE_TUNE_ROWS = 10000


def network(name, args, log=print):
    """(title, fitted model, training rows, test rows, test labels, calibration size)."""
    if name in ("mnist-300", "fashion-300", "mnist-1000"):
        dataset = "fashion-mnist" if name.startswith("fashion") else "mnist"
        hidden = (1000, 1000, 1000) if name == "mnist-1000" else (300, 300)
        recipe = Recipe(epochs=5) if name == "mnist-1000" else Recipe()
        X_train, y_train, X_test, y_test, _ = prepare_data(dataset, recipe, args.data_dir)
        mlp, _, _ = train_network(dataset, hidden, X_train, y_train, recipe, args.cache, log)
        widths = "-".join(map(str, [784, *hidden, 10]))
        title = f"{'Fashion-MNIST' if dataset == 'fashion-mnist' else 'MNIST'} {widths}"
        return title, mlp, X_train, X_test, y_test, 2000
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        title, hidden, size = "digits 64-256-256-10", (256, 256), 500
    else:
        title = TABULAR[name]
        X, y = make_classification(**TABULAR_SETS[title])
        hidden, size = (256, 256, 256), 2000
    model, X_train, X_test, _, y_test = fit_scaled_mlp(X, y, hidden)
    return title, model, X_train, X_test, y_test, size


def _compress(model, calibration, keep_ratio, method, draw):
    """(compressed model, seconds) of one ``fit_transform``."""
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        compressed = CoreNetCompressor(keep_ratio=keep_ratio, method=method, random_state=draw)
        compressed = compressed.fit_transform(model, calibration)
    return compressed, time.perf_counter() - start


def _final(model):
    return model[-1] if hasattr(model, "steps") else model


def run(args, log=print):
    rows = []
    for name in args.networks:
        try:
            title, model, X_train, X_test, y_test, size = network(name, args, log)
        except MissingDataError as error:
            log(f"{name} skipped: {error}")
            continue
        original = model.score(X_test, y_test)
        log(f"{title}: test accuracy {100 * original:.2f}%")
        tune_rows = X_train[np.random.default_rng(0).permutation(len(X_train))[:FINE_TUNE_ROWS]]
        for keep_ratio in args.keep_ratios:
            methods = ("wanda", "auto", "wanda-search") if args.search else ("wanda", "auto")
            drops = {method: [] for method in methods}
            seconds = {method: [] for method in methods}
            chosen, tuned = [], None
            for draw in range(args.draws):
                rng = np.random.default_rng(draw)
                calibration = X_train[rng.choice(len(X_train), size, replace=False)]
                for method in methods:
                    with threadpool_limits(1):
                        result, elapsed = _compress(model, calibration, keep_ratio, method, draw)
                    seconds[method].append(elapsed)
                    drops[method].append(100 * (original - result.score(X_test, y_test)))
                    if method == "auto":
                        compressed = result
                chosen.append(_short(_final(compressed).compression_info_.selection))
                if draw == 0 and args.epochs:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        _final(compressed).fine_tune(
                            tune_rows if not hasattr(model, "steps") else model[:-1].transform(tune_rows),
                            teacher=_final(model), epochs=args.epochs, random_state=draw,
                        )
                    tuned = 100 * (original - compressed.score(X_test, y_test))
            before, after = np.mean(drops["wanda"]), np.mean(drops["auto"])
            row = [
                title,
                f"{100 * keep_ratio:g}%",
                f"{before:.2f}",
                f"{after:.2f}",
                f"{after / before:.2f}" if before > 0.05 else "—",
                "—" if tuned is None else f"{tuned:.2f}",
                f"{np.mean(seconds['auto']):.2f} / {np.mean(seconds['wanda']):.2f} "
                f"({np.mean(seconds['auto']) / np.mean(seconds['wanda']):.1f}×)",
                ", ".join(chosen),
            ]
            if args.search:
                search = np.mean(drops["wanda-search"])
                row[6:6] = [f"{search:.2f}", f"{np.mean(seconds['wanda-search']) / np.mean(seconds['wanda']):.1f}×"]
            log(" | ".join(row))
            rows.append(row)
    return rows


def _short(selection):
    """A short name of the rule ``"auto"`` chose."""
    if selection is None:
        return "—"
    dense = "dense-if-cheap" in selection
    if "score='magnitude'" in selection:
        return "magnitude + dense output" if dense else "magnitude"
    return "dense output" if dense else "wanda"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    parser.add_argument("--cache", default=CACHE_DIR)
    parser.add_argument("--networks", nargs="+", choices=NETWORKS, default=list(NETWORKS))
    parser.add_argument("--keep-ratios", type=float, nargs="+", default=list(KEEP_RATIOS))
    parser.add_argument("--draws", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=5, help="distillation epochs (0: none)")
    parser.add_argument("--search", action="store_true", help='also method="wanda-search"')
    args = parser.parse_args(argv)
    rows = run(args)
    write_table_report(
        "extreme_budgets",
        "The default at extreme budgets",
        argv,
        f"Test accuracy drop in points from the original, mean over {args.draws} draws of the "
        "calibration rows: \"wanda\" (the default before) and `method=\"auto\"` (the default now: "
        "the candidate rule measured best on held-out calibration rows), both with the least-squares "
        f"re-fit; \"auto\" after `fine_tune(X, teacher=original, epochs={args.epochs})` on up to "
        f"{FINE_TUNE_ROWS:,} training rows (first draw); the ratio of the two one-shot drops; "
        + ("`method=\"wanda-search\"` (layer budgets searched by measured error, an option) one-shot and "
           "its compression time over \"wanda\"'s; " if args.search else "")
        +
        "compression seconds (`fit_transform`, one BLAS thread) of \"auto\" and \"wanda\", and the "
        "rule \"auto\" chose in each draw.",
        ["network", "kept", "wanda one-shot", "auto one-shot", "auto / wanda", "auto fine-tuned",
         *(["search one-shot", "search time / wanda"] if args.search else []),
         "seconds auto / wanda", "auto chose"],
        rows,
    )


if __name__ == "__main__":
    main()
