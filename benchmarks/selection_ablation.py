"""Which edges to keep: scores and layer splits, with and without re-fitting.

Run from the project root::

    python -m benchmarks.selection_ablation              # one-shot table
    python -m benchmarks.selection_ablation --fine-tune  # + fine-tuning starts
    python -m benchmarks.selection_ablation --epochs 2 --keep-ratios 0.1  # a smoke run

Trains (or loads from ``benchmarks/cache``) a 784-300-300-10 MNIST network with
the paper's recipe, takes 1,000 calibration points from the training set, keeps
the top edges by each score under each layer split, and reports the accuracy
drop without and with the least-squares re-fit, then that of the rules that
measure on held-out calibration rows ("measured", the default, and
"wanda-search"). Prints the rows that ``docs/choosing_a_method.md`` tabulates.

Each (score, split) pair is a :class:`sklearn_corenet.SelectionMethod` passed
to ``CoreNetCompressor(method=..., reweight="none" or "lstsq")``; the
sensitivities come from 300 of the calibration points (``calibration_size``),
the re-fit uses all of them.
"""

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from sklearn_corenet import METHODS, CoreNetCompressor, SelectionMethod

from ._common import CACHE_DIR, DEFAULT_DATA_DIR, Recipe, prepare_data, train_network

SCORES = ("magnitude", "sensitivity", "wanda", "obs")
SPLITS = ("per layer", "global", "magnitude split")
#: Registered rules beyond the fixed (score, split) pairs: the default and the search.
RULES = ("measured", "wanda-search")


def edge_scores(score, problem):
    """Importance of every edge of every layer, shape (n_in + 1, n_out) each.

    "magnitude": |w|; "sensitivity": the empirical sensitivity; "wanda":
    |w| times the RMS of its input over the calibration points; "obs": the
    saliency w² / [H⁻¹]_jj of Optimal Brain Surgeon, H the (damped) second
    moment of the layer's inputs.
    """
    if score == "sensitivity":
        return [stats.sensitivity.astype(float) for stats in problem.statistics]
    if score == "magnitude":
        return [np.abs(W) for W in problem.weights]
    inputs = [np.hstack([A, np.ones((len(A), 1))]) for A in problem.network.hidden_activations(problem.X)]
    scores = []
    for W, A in zip(problem.weights, inputs, strict=True):
        if score == "wanda":
            scores.append(np.abs(W) * np.sqrt(np.mean(A**2, axis=0))[:, np.newaxis])
        else:
            H = A.T @ A / len(A)
            H += 1e-2 * np.mean(np.diag(H)) * np.eye(len(H))
            scores.append(W**2 / np.diag(np.linalg.inv(H))[:, np.newaxis])
    return scores


class ScoreSelection(SelectionMethod):
    """Keep the edges of highest ``score`` under the layer ``split``.

    "per layer": every layer keeps the same fraction of its edges; "global":
    the highest scores over all layers together; "magnitude split": every
    layer keeps as many edges as global magnitude pruning leaves it, its
    highest-scoring ones.
    """

    in_paper = False

    def __init__(self, score, split):
        self.score = score
        self.split = split
        self.name = f"{score}, {split}"
        self.needs_statistics = score == "sensitivity"

    def select(self, problem, budget):
        scores = edge_scores(self.score, problem)
        if self.split == "global":
            values = np.concatenate([s.ravel() for s in scores])
            threshold = np.partition(values, values.size - budget)[values.size - budget]
            masks = [s >= threshold for s in scores]
        else:
            if self.split == "per layer":
                fraction = budget / sum(W.size for W in problem.weights)
                counts = [int(round(fraction * s.size)) for s in scores]
            else:
                kept = METHODS["magnitude"].select(problem, budget)
                counts = [int(np.count_nonzero(W)) for W in kept]
            masks = [s >= np.partition(s.ravel(), s.size - k)[s.size - k] for s, k in zip(scores, counts, strict=True)]
        return [np.where(mask, W, 0) for mask, W in zip(masks, problem.weights, strict=True)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--cache", type=Path, default=CACHE_DIR)
    parser.add_argument("--epochs", type=int, default=Recipe.epochs,
                        help="training epochs of the network (the paper's 30 by default)")
    parser.add_argument("--keep-ratios", nargs="+", type=float, default=[0.05, 0.1])
    parser.add_argument("--fine-tune", action="store_true")
    args = parser.parse_args(argv)
    recipe = replace(Recipe(), epochs=args.epochs)
    X_train, y_train, X_test, y_test, calibration = prepare_data("mnist", recipe, args.data_dir)
    model, _, _ = train_network("mnist", (300, 300), X_train, y_train, recipe, args.cache, print)
    base = model.score(X_test, y_test)
    print(f"test accuracy {base:.4f}")

    def drop(method, keep_ratio, reweight):
        # the sensitivities depend on the network and S only: cached across fits
        compressor = CoreNetCompressor(method=method, keep_ratio=keep_ratio, reweight=reweight,
                                       calibration_size=300, memory=str(args.cache / "statistics"),
                                       random_state=0)
        compressed = compressor.fit_transform(model, calibration)
        return 100 * (base - compressed.score(X_test, y_test))

    for keep_ratio in args.keep_ratios:
        for score in SCORES:
            for split in SPLITS:
                method = ScoreSelection(score, split)
                plain, refit = drop(method, keep_ratio, "none"), drop(method, keep_ratio, "lstsq")
                print(f"{keep_ratio:.2f} {score:12s} {split:16s} no re-fit {plain:6.2f}  lstsq {refit:6.2f}", flush=True)
        # the rules that measure on held-out calibration rows (they re-fit to measure)
        for rule in RULES:
            print(f"{keep_ratio:.2f} {rule:29s} lstsq {drop(rule, keep_ratio, 'lstsq'):6.2f}", flush=True)

    if args.fine_tune:
        starts = {"magnitude": ({"method": "magnitude"}, "current"),
                  "wanda, lstsq values": ({}, "current"),
                  "wanda, selected values": ({}, "selected")}
        for keep_ratio, epochs in ((0.05, 5), (0.03, 15), (0.02, 15)):
            for label, (params, init) in starts.items():
                compressed = CoreNetCompressor(keep_ratio=keep_ratio, random_state=0, **params).fit_transform(model, calibration)
                compressed.fine_tune(X_train, y_train, init=init, epochs=epochs, early_stopping=False, random_state=0)
                print(f"{keep_ratio:.2f} {epochs:2d} epochs {label:24s} drop {100 * (base - compressed.score(X_test, y_test)):6.2f}", flush=True)


if __name__ == "__main__":
    main()
