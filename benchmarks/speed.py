"""Speed, memory and size of the core compressor (the targets of the core issue).

Run from the project root::

    python -m benchmarks.speed              # or: make bench
    python -m benchmarks.speed --repeat 1 --output /tmp/speed.md

Writes ``benchmarks/results/speed.md``. Networks have He-initialised random
weights (timings do not depend on training); calibration data are standard
normal, so the first layer uses the positive/negative split of A.2.4, the
expensive case. Every timing is the best of ``--repeat`` runs.
"""

import argparse
import pickle
import tracemalloc
from pathlib import Path

import numpy as np
import sklearn

from sklearn_corenet import CoreNetCompressor

from ._common import RESULTS_DIR, best_time, command_line, emit, machine, random_mlp


def compression_time(sizes, n_points, repeat, **params):
    mlp = random_mlp(sizes)
    X = np.random.default_rng(1).normal(size=(n_points, sizes[0]))
    compressor = CoreNetCompressor(random_state=0, **params)
    return best_time(lambda: compressor.fit_transform(mlp, X), repeat)


def peak_memory(sizes, n_points, working_memory):
    """Peak memory allocated during fit + transform, above model and data."""
    mlp = random_mlp(sizes)
    X = np.random.default_rng(1).normal(size=(n_points, sizes[0]))
    with sklearn.config_context(working_memory=working_memory):
        tracemalloc.start()
        baseline = tracemalloc.get_traced_memory()[0]
        CoreNetCompressor(random_state=0, keep_ratio=0.1, method="corenet++").fit_transform(mlp, X)
        peak = tracemalloc.get_traced_memory()[1] - baseline
        tracemalloc.stop()
    model_bytes = sum(W.nbytes + b.nbytes for W, b in zip(mlp.coefs_, mlp.intercepts_, strict=True))
    return peak, model_bytes, X.nbytes


def predict_times(sizes, keep_ratio, batches, repeat):
    mlp = random_mlp(sizes)
    rng = np.random.default_rng(2)
    compressed = CoreNetCompressor(keep_ratio=keep_ratio, method="magnitude").fit_transform(
        mlp, rng.normal(size=(50, sizes[0]))
    )
    rows = []
    for batch in batches:
        X = rng.normal(size=(batch, sizes[0]))
        compressed.predict(X)  # warm the kernel choice and caches
        inner = max(1, 2000 // batch)

        def run(model, X=X, inner=inner):
            for _ in range(inner):
                model.predict(X)

        dense = best_time(lambda X=X: run(mlp), repeat) / inner
        sparse = best_time(lambda X=X: run(compressed), repeat) / inner
        rows.append((batch, dense, sparse))
    size_ratio = len(pickle.dumps(compressed)) / len(pickle.dumps(mlp))
    return rows, size_ratio


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "speed.md")
    args = parser.parse_args(argv)

    small, large = [784, 300, 300, 10], [784, 1000, 1000, 1000, 10]
    lines = [
        "# Core compressor: speed, memory, size",
        "",
        f"Command: `{command_line('speed', argv)}` (best of {args.repeat}). "
        f"Machine: {machine()}, "
        f"numpy {np.__version__}, scikit-learn {sklearn.__version__}.",
        "",
        "## fit + transform, 300 calibration points",
        "",
        "| network | mode | seconds | target |",
        "| --- | --- | ---: | ---: |",
    ]
    for sizes, target in ((small, 1.0), (large, 6.0)):
        name = "-".join(map(str, sizes))
        for label, params in (
            ("theory (ε=0.1, δ=0.1, corenet++)", {}),
            ("budget 10% (corenet++)", {"keep_ratio": 0.1, "method": "corenet++"}),
        ):
            seconds = compression_time(sizes, 300, args.repeat, **params)
            emit(lines, f"| {name} | {label} | {seconds:.2f} | ≤ {target:g} |")

    lstsq = compression_time(small, 1000, args.repeat, keep_ratio=0.1)
    emit(lines, f"| {'-'.join(map(str, small))} | budget 10%, method='auto' (wanda + lstsq), 1,000 points | {lstsq:.2f} | ≤ 3 |")

    lines += ["", "## Peak memory above model and data (784-1000-1000-1000-10, 300 points)", ""]
    lines += ["| working_memory (MiB) | peak above model + data (MiB) | model (MiB) | data (MiB) |", "| ---: | ---: | ---: | ---: |"]
    for working_memory in (16, 64, 256):
        peak, model_bytes, data_bytes = peak_memory(large, 300, working_memory)
        emit(
            lines,
            f"| {working_memory} | {(peak - data_bytes) / 2**20:.1f} | {model_bytes / 2**20:.1f} | {data_bytes / 2**20:.1f} |",
        )
    lines += [
        "",
        "The peak includes what the compressed model and the method keep",
        "(sensitivities and sampling plans are the size of the model); the",
        "chunked parts (activations over S, the (max, ×) product) stay within",
        "`working_memory`.",
    ]

    rows, size_ratio = predict_times(small, 0.1, (1, 64, 10_000), args.repeat)
    lines += [
        "",
        "## predict at keep_ratio 0.1 (784-300-300-10)",
        "",
        "| batch | dense MLPClassifier (ms) | SparseMLPClassifier (ms) | sparse / dense |",
        "| ---: | ---: | ---: | ---: |",
    ]
    for batch, dense, sparse in rows:
        emit(lines, f"| {batch} | {1e3 * dense:.3f} | {1e3 * sparse:.3f} | {sparse / dense:.2f} |")
    emit(lines, "", f"Pickled size of the compressed model: {100 * size_ratio:.1f}% of the dense model (target ≤ 16%).")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
