"""Sensitivities with numpy or with torch: ``CoreNetCompressor(device=...)``.

Run from the project root::

    python -m benchmarks.torch_backend
    python -m benchmarks.torch_backend --repeat 1 --points 50 --output /tmp/torch.md  # a smoke run

Writes ``benchmarks/results/torch_backend.md``. Times
``CoreNetCompressor(method="corenet", keep_ratio=0.1, device=..., n_jobs=...).fit``,
the public way to choose the backend: ``device=None`` computes the
sensitivities with numpy, ``device="cpu"`` with torch. The network is
784-1000-1000-1000-10 with He-initialised random weights and 300 standard
normal calibration points, all of them used as S (so the first layer uses
the split of A.2.4, the expensive case), as in ``benchmarks/speed.py``.
Every timing is the best of ``--repeat`` runs. A fit of ``method="uniform"``
at the same budget, which computes no sensitivities, gives the scale of what
the backend does not change (the sampling plans and the budget's allocation).
"""

import argparse
import os
from pathlib import Path

import numpy as np
import sklearn
import torch

from sklearn_corenet import CoreNetCompressor

from ._common import RESULTS_DIR, best_time, command_line, emit, machine, random_mlp

SIZES = [784, 1000, 1000, 1000, 10]
KEEP_RATIO = 0.1
#: The backends timed: (device, n_jobs), in table order.
BACKENDS = (("numpy", None, None), ("numpy", None, 1), ("torch", "cpu", None), ("torch", "cpu", 1))


def fit_times(dtype, n_points, repeat):
    """Best seconds of ``fit`` per (backend, n_jobs), and of a fit without sensitivities.

    The runs are interleaved, so that a burst of load from other jobs hits
    every variant.
    """
    mlp = random_mlp(SIZES, dtype=dtype)
    X = np.random.default_rng(1).normal(size=(n_points, SIZES[0])).astype(dtype)
    compressors = {
        (backend, n_jobs): CoreNetCompressor(
            method="corenet", keep_ratio=KEEP_RATIO, calibration_size=n_points,
            device=device, n_jobs=n_jobs, random_state=0,
        )
        for backend, device, n_jobs in BACKENDS
    }
    compressors["no sensitivities", None] = CoreNetCompressor(
        method="uniform", keep_ratio=KEEP_RATIO, random_state=0
    )
    times = {key: [] for key in compressors}
    for _ in range(repeat):
        for key, compressor in compressors.items():
            times[key].append(best_time(lambda compressor=compressor: compressor.fit(mlp, X), 1))
    return {key: min(values) for key, values in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--points", type=int, default=300)
    parser.add_argument("--output", type=Path, default=RESULTS_DIR / "torch_backend.md")
    args = parser.parse_args(argv)

    name = "-".join(map(str, SIZES))
    threads = torch.get_num_threads()
    lines = [
        "# Sensitivities: numpy or torch",
        "",
        f"Command: `{command_line('torch_backend', argv)}` (best of {args.repeat}). "
        f"Machine: {machine()}, numpy {np.__version__}, "
        f"torch {torch.__version__} ({threads} threads), "
        f"scikit-learn {sklearn.__version__}. Load average when the run started: "
        f"{os.getloadavg()[0]:.1f} (a shared machine: timings are noisy, hence best-of-N).",
        "",
        f"## `CoreNetCompressor(method=\"corenet\", keep_ratio={KEEP_RATIO:g}).fit` on {name}, "
        f"{args.points} calibration points",
        "",
        "The backend is chosen with the compressor's `device` (None: numpy; \"cpu\": torch)",
        "and its threads with `n_jobs`; every calibration point is a sensitivity point",
        f"(`calibration_size={args.points}`). The last column, for scale, is a fit of",
        "`method=\"uniform\"` at the same budget: it computes no sensitivities, only the",
        "sampling plans and the budget's allocation, which the backend does not change.",
        "",
        "| dtype | numpy: `device=None`, `n_jobs=None` (s) | numpy: `n_jobs=1` (s) | torch: "
        f"`device=\"cpu\"`, `n_jobs=None`, {threads} threads (s) | torch: `n_jobs=1` (s) "
        "| best numpy / best torch | `method=\"uniform\"` (s) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    print("\n".join(lines), flush=True)
    for dtype in (np.float64, np.float32):
        times = fit_times(dtype, args.points, args.repeat)
        best_numpy = min(times["numpy", None], times["numpy", 1])
        best_torch = min(times["torch", None], times["torch", 1])
        emit(
            lines,
            f"| {np.dtype(dtype).name} | {times['numpy', None]:.2f} | {times['numpy', 1]:.2f} | "
            f"{times['torch', None]:.2f} | {times['torch', 1]:.2f} | {best_numpy / best_torch:.1f}× | "
            f"{times['no sensitivities', None]:.2f} |",
        )
    emit(
        lines,
        "",
        "`n_jobs` is the numpy path's thread count and, for torch, the intra-op",
        "threads during the sensitivity computation. On a machine already running",
        "other jobs one thread can beat all of them: every parallel step then waits",
        "for the thread that was descheduled.",
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
