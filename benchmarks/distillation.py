"""Fine-tuning on labels against fine-tuning toward the original (distillation).

Run from the project root::

    .venv/bin/python -m benchmarks.distillation            # --trials N, --epochs E

For tabular data sets from scikit-learn, a scaled MLP is trained on all its
training rows, compressed by the default method (``keep_ratio`` 5% and 10%,
1,000 calibration rows), then fine-tuned for the same epochs in two ways:

* ``labels``: ``fine_tune(X, y)`` on the rows whose labels are known;
* ``distillation``: ``fine_tune(X, teacher=original)`` on every training row,
  labelled or not (the original's class probabilities are the targets).

"all labels" gives both the whole training set; "10% labels" gives label
fine-tuning a tenth of it (stratified), distillation still every row. The
table reports the test accuracy drop from the original, one-shot and after
each, as the mean over ``--trials`` seeds of the calibration draw and the
fine-tuning split. Writes ``benchmarks/results/distillation.md``.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits, make_classification
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from sklearn_corenet import CoreNetCompressor

from ._common import write_table_report


def datasets():
    """(name, X, y, hidden widths) of the tabular data sets."""
    X, y = load_digits(return_X_y=True)
    yield "digits", X, y, (256, 256)
    X, y = make_classification(
        20000, 20, n_informative=12, n_classes=5, n_clusters_per_class=2, class_sep=0.8, random_state=0
    )
    yield "make_classification 20k, 5 classes", X, y, (256, 256, 256)
    X, y = make_classification(
        6000, 40, n_informative=20, n_classes=10, n_clusters_per_class=1, class_sep=1.0, random_state=1
    )
    yield "make_classification 6k, 10 classes", X, y, (256, 256, 256)


def run(trials, epochs, keep_ratios, log=print):
    rows = []
    for name, X, y, hidden in datasets():
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            mlp = MLPClassifier(hidden, max_iter=200, early_stopping=True, random_state=0).fit(X_train, y_train)
        original = mlp.score(X_test, y_test)
        log(f"{name}: {mlp.hidden_layer_sizes}, test accuracy {original:.4f}")
        for keep_ratio in keep_ratios:
            for labelled in (1.0, 0.1):
                drops = {"one-shot": [], "labels": [], "distillation": []}
                seconds = {"labels": 0.0, "distillation": 0.0}
                for trial in range(trials):
                    rng = np.random.default_rng(trial)
                    calibration = X_train[rng.choice(len(X_train), min(1000, len(X_train)), replace=False)]
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        compressed = CoreNetCompressor(keep_ratio=keep_ratio, random_state=trial).fit_transform(
                            mlp, calibration
                        )
                    drops["one-shot"].append(original - compressed.score(X_test, y_test))
                    if labelled < 1:
                        rows_with_labels, _ = train_test_split(
                            np.arange(len(X_train)), train_size=labelled, random_state=trial, stratify=y_train
                        )
                    else:
                        rows_with_labels = np.arange(len(X_train))
                    for how in ("labels", "distillation"):
                        model = CoreNetCompressor(keep_ratio=keep_ratio, random_state=trial).fit_transform(
                            mlp, calibration
                        ) if how == "distillation" else compressed
                        start = time.perf_counter()
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            if how == "labels":
                                model.fine_tune(
                                    X_train[rows_with_labels], y_train[rows_with_labels], epochs=epochs,
                                    random_state=trial,
                                )
                            else:
                                model.fine_tune(X_train, teacher=mlp, epochs=epochs, random_state=trial)
                        seconds[how] += time.perf_counter() - start
                        drops[how].append(original - model.score(X_test, y_test))
                row = [
                    name,
                    f"{100 * keep_ratio:g}%",
                    "all" if labelled == 1 else f"{100 * labelled:g}%",
                    *(f"{100 * np.mean(drops[key]):.2f}" for key in ("one-shot", "labels", "distillation")),
                    f"{seconds['labels'] / trials:.1f} / {seconds['distillation'] / trials:.1f}",
                ]
                log(" | ".join(row))
                rows.append(row)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--keep-ratios", nargs="+", type=float, default=[0.05, 0.1])
    args = parser.parse_args(argv)
    rows = run(args.trials, args.epochs, args.keep_ratios)
    header = [
        "data set", "kept", "labels known", "one-shot drop", "after labels", "after distillation",
        "seconds (labels / distillation)",
    ]
    write_table_report(
        "distillation",
        "Fine-tuning: labels against distillation",
        argv,
        f"Accuracy drop in points from the original on the test set, mean of {args.trials} trials, "
        f"{args.epochs} epochs of `fine_tune` each way (early stopping on its own validation split). "
        "Labels: `fine_tune(X, y)` on the rows with known labels; distillation: "
        "`fine_tune(X, teacher=original)` on every training row.",
        header,
        rows,
    )


if __name__ == "__main__":
    main()
