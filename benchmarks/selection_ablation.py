"""Which edges to keep: scores and layer splits, with and without re-fitting.

Run from the project root::

    .venv/bin/python benchmarks/selection_ablation.py              # one-shot table
    .venv/bin/python benchmarks/selection_ablation.py --fine-tune  # + fine-tuning starts

Trains (or loads from ``benchmarks/cache``) a 784-300-300-10 MNIST network with
the paper's recipe, takes 1,000 calibration points from the training set, keeps
the top edges by each score under each layer split, and reports the accuracy
drop without and with the least-squares re-fit. Prints the rows that
``docs/choosing_a_method.md`` tabulates.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _data import DEFAULT_DATA_DIR  # noqa: E402
from paper import Config, _prepare_data, train_network  # noqa: E402

from sklearn_corenet import CoreNetCompressor  # noqa: E402
from sklearn_corenet._compressor import _assemble  # noqa: E402
from sklearn_corenet._methods import global_magnitude_masks  # noqa: E402
from sklearn_corenet._reweight import lstsq_reweight  # noqa: E402
from sklearn_corenet._sensitivity import augmented_weights, compute_layer_statistics  # noqa: E402
from sklearn_corenet._sklearn_adapter import network_from_sklearn  # noqa: E402
from sklearn_corenet._sparse_mlp import SparseMLPClassifier  # noqa: E402


def scores(kind, weights, inputs, statistics):
    out = []
    for layer, W in enumerate(weights):
        A = inputs[layer]
        if kind == "magnitude":
            out.append(np.abs(W))
        elif kind == "sensitivity":
            out.append(statistics[layer].sensitivity.astype(float))
        elif kind == "wanda":
            out.append(np.abs(W) * np.sqrt(np.mean(A**2, axis=0))[:, np.newaxis])
        elif kind == "obs":
            H = A.T @ A / len(A)
            H += 1e-2 * np.mean(np.diag(H)) * np.eye(len(H))
            out.append(W**2 / np.diag(np.linalg.inv(H))[:, np.newaxis])
    return out


def select(score, weights, keep_ratio, split):
    total = sum(W.size for W in weights)
    if split == "per layer":
        counts = [int(round(keep_ratio * s.size)) for s in score]
    elif split == "global":
        values = np.concatenate([s.ravel() for s in score])
        threshold = np.partition(values, values.size - int(round(keep_ratio * total)))[values.size - int(round(keep_ratio * total))]
        return [s >= threshold for s in score]
    else:  # the layer split of global magnitude pruning
        counts = [int(m.sum()) for m in global_magnitude_masks(weights, int(round(keep_ratio * total)))]
    return [s >= np.partition(s.ravel(), s.size - k)[s.size - k] for s, k in zip(score, counts, strict=True)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--cache", type=Path, default=Path(__file__).parent / "cache")
    parser.add_argument("--fine-tune", action="store_true")
    args = parser.parse_args(argv)
    config = Config()
    X_train, y_train, X_test, y_test, calibration = _prepare_data("mnist", config, args.data_dir)
    model, _, _ = train_network("mnist", (300, 300), X_train, y_train, config, args.cache, print)
    base = model.score(X_test, y_test)
    print(f"test accuracy {base:.4f}")
    network = network_from_sklearn(model)
    weights = [augmented_weights(W, b) for W, b in zip(network.coefs, network.intercepts, strict=True)]
    inputs = [np.hstack([A, np.ones((len(A), 1))]) for A in network.hidden_activations(calibration)]
    statistics = compute_layer_statistics(network, calibration[:300])
    active = [np.ones(W.shape[1], dtype=bool) for W in weights]

    def drop(layers):
        compressed = SparseMLPClassifier._from_network(_assemble(network, layers, active), network.n_params)
        return 100 * (base - compressed.score(X_test, y_test))

    for keep_ratio in (0.05, 0.1):
        for kind in ("magnitude", "sensitivity", "wanda", "obs"):
            for split in ("per layer", "global", "magnitude split"):
                masks = select(scores(kind, weights, inputs, statistics), weights, keep_ratio, split)
                layers = [np.where(m, W, 0) for m, W in zip(masks, weights, strict=True)]
                refit = lstsq_reweight(network, layers, calibration)
                print(f"{keep_ratio:.2f} {kind:12s} {split:16s} no re-fit {drop(layers):6.2f}  lstsq {drop(refit):6.2f}", flush=True)

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
