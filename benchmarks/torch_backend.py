"""Sensitivities with numpy or with torch (``CoreNetCompressor(device=...)``).

Run from the project root::

    .venv/bin/python benchmarks/torch_backend.py

Writes ``benchmarks/results/torch_backend.md``. The network is
784-1000-1000-1000-10 with He-initialised random weights and 300 standard
normal calibration points (so the first layer uses the split of A.2.4, the
expensive case), as in ``benchmarks/speed.py``. Every timing is the best of
``--repeat`` runs. A second table times the candidate torch formulations of
the (max, ×) product on one 1000 × 1000 layer.
"""

import argparse
import os
import platform
from pathlib import Path

import numpy as np
import sklearn
import torch

# benchmarks/ is on sys.path when run as a script
from speed import best_time, emit, random_mlp

from sklearn_corenet._adapters import network_from_model
from sklearn_corenet._sensitivity import compute_layer_statistics, max_product
from sklearn_corenet._torch_compute import (
    _transposed_csr,
    compute_layer_statistics_torch,
    max_product_dense,
    max_product_sparse,
)

RESULTS = Path(__file__).parent / "results"
SIZES = [784, 1000, 1000, 1000, 10]


def random_network(sizes, dtype, seed=0):
    """A Network with He-initialised weights (the same draws as speed.py)."""
    network = network_from_model(random_mlp(sizes, seed=seed))
    return network.copy(
        coefs=[W.astype(dtype) for W in network.coefs],
        intercepts=[b.astype(dtype) for b in network.intercepts],
    )


def sensitivity_times(dtype, n_points, repeat):
    """Best times of numpy and torch, all threads and one, runs interleaved."""
    network = random_network(SIZES, dtype)
    X = np.random.default_rng(1).normal(size=(n_points, SIZES[0])).astype(dtype)
    runs = {
        ("numpy", None): lambda: compute_layer_statistics(network, X),
        ("numpy", 1): lambda: compute_layer_statistics(network, X, n_jobs=1),
        ("torch", None): lambda: compute_layer_statistics_torch(network, X),
        ("torch", 1): lambda: compute_layer_statistics_torch(network, X, n_jobs=1),
    }
    # interleaved, so that a burst of load from other jobs hits every variant
    times = {key: [] for key in runs}
    for _ in range(repeat):
        for key, function in runs.items():
            times[key].append(best_time(function, 1))
    return {key: min(values) for key, values in times.items()}


def _loop_over_points(points, inverse, out):
    buffer = torch.empty_like(out)
    for x in range(points.shape[0]):
        torch.outer(points[x], inverse[x], out=buffer)
        torch.maximum(out, buffer, out=out)


def product_times(n_points, repeat):
    """One layer's (max, ×) product, float64, the formulations tried."""
    rng = np.random.default_rng(2)
    # ReLU-like activations (about half zero) with the bias input, and 1 / D
    points = np.hstack([np.maximum(rng.normal(size=(n_points, 1000)), 0), np.ones((n_points, 1))])
    inverse = 1 / rng.random(size=(n_points, 1000))
    points_t, inverse_t = torch.from_numpy(points), torch.from_numpy(inverse)

    def fresh():
        return torch.zeros(points.shape[1], inverse.shape[1], dtype=torch.float64)

    candidates = {
        "numpy: loop over points, column blocks in threads (numpy path)": lambda: max_product(
            points, inverse, np.zeros((points.shape[1], inverse.shape[1]))
        ),
        "torch: loop over points, `torch.maximum(M, torch.outer(p, v), out=M)`": lambda: _loop_over_points(
            points_t, inverse_t, fresh()
        ),
        "torch: chunks of points broadcast to (c, n_in, n_out), `amax(0)` (path off the CPU)": lambda: max_product_dense(
            points_t, inverse_t, fresh(), working_memory=64
        ),
        '**torch: `torch.sparse.mm(P.T as CSR, V, reduce="amax")` (path on the CPU)**': lambda: max_product_sparse(
            _transposed_csr(points_t), inverse_t, fresh()
        ),
    }
    return {name: best_time(function, repeat) for name, function in candidates.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--points", type=int, default=300)
    parser.add_argument("--output", type=Path, default=RESULTS / "torch_backend.md")
    args = parser.parse_args(argv)

    name = "-".join(map(str, SIZES))
    lines = [
        "# Sensitivities: numpy or torch",
        "",
        f"Command: `.venv/bin/python benchmarks/torch_backend.py` (best of {args.repeat}). "
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, numpy {np.__version__}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"scikit-learn {sklearn.__version__}. Load average when the run started: "
        f"{os.getloadavg()[0]:.1f} (a shared machine: timings are noisy, hence best-of-N).",
        "",
        f"## `compute_layer_statistics` on {name}, {args.points} calibration points",
        "",
        f"| dtype | numpy, n_jobs=None (s) | numpy, n_jobs=1 (s) | torch, device=\"cpu\", "
        f"{torch.get_num_threads()} threads (s) | torch, 1 thread (s) | best numpy / best torch |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    print("\n".join(lines), flush=True)
    for dtype in (np.float64, np.float32):
        times = sensitivity_times(dtype, args.points, args.repeat)
        best_numpy = min(times["numpy", None], times["numpy", 1])
        best_torch = min(times["torch", None], times["torch", 1])
        emit(
            lines,
            f"| {np.dtype(dtype).name} | {times['numpy', None]:.2f} | {times['numpy', 1]:.2f} | "
            f"{times['torch', None]:.2f} | {times['torch', 1]:.2f} | {best_numpy / best_torch:.1f}× |",
        )
    emit(
        lines,
        "",
        "`n_jobs` is the numpy path's thread count and, for torch, the intra-op",
        "threads during the call (`compute_layer_statistics_torch(..., n_jobs=1)`).",
        "On a machine already running other jobs one thread can beat all of them:",
        "every parallel step then waits for the thread that was descheduled.",
    )
    emit(
        lines,
        "",
        f"## One layer's (max, ×) product: 1001 × 1000, {2 * args.points} points "
        "(the split doubles them), float64",
        "",
        "| formulation | seconds |",
        "| --- | ---: |",
    )
    for label, seconds in product_times(2 * args.points, args.repeat).items():
        emit(lines, f"| {label} | {seconds:.2f} |")
    lines += [
        "",
        "The CSR reduction is one compiled, threaded kernel that also skips the",
        "zero activations (ReLU zeros and half of every split point); the dense",
        "formulations materialise every product. torch only implements the",
        "reduction for CSR tensors on the CPU, so other devices use the broadcast.",
    ]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
