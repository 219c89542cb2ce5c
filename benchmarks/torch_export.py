"""Exported torch modules: dense ``nn.Linear`` against ``SparseLinear`` (CSR) and COO.

Run from the project root::

    .venv/bin/python -m benchmarks.torch_export            # --repeat N, --threads N

Compresses He-initialised 784-300-300-10 and 784-1000-1000-1000-10
``MLPClassifier``s (timings do not depend on training) with the default
method at 5, 10 and 30% kept, exports each with ``to_torch(dtype=torch.float32)``
(dense ``nn.Linear`` layers holding the zeros) and ``to_torch(sparse=True,
dtype=torch.float32)`` (``SparseLinear``: CSR weights), and times a forward
pass of 1, 64, 1,000 and 10,000 rows under ``torch.no_grad()``, the modules
in turn (best of ``--repeat`` rounds). For comparison it also times the
same ``SparseLinear`` layers computed from a COO tensor, torch's other
sparse layout, up to 1,000 rows (at 10,000 rows it takes seconds a call).
Writes ``benchmarks/results/torch_export.md``.
"""

import argparse
import time

import numpy as np

from benchmarks._common import (
    RESULTS_DIR,
    alternating_best_times,
    command_line,
    emit,
    machine,
    markdown_table,
    random_mlp,
    software_versions,
)
from sklearn_corenet import CoreNetCompressor

NETWORKS = {"784-300-300-10": (784, 300, 300, 10), "784-1000-1000-1000-10": (784, 1000, 1000, 1000, 10)}
KEEP_RATIOS = (0.05, 0.1, 0.3)
BATCHES = (1, 64, 1000, 10000)
COO_UP_TO_ROWS = 1000


def coo_copy(module, torch):
    """The module with every SparseLinear computing through a COO weight instead."""
    import copy

    from torch import nn

    class CooLinear(nn.Module):
        def __init__(self, layer):
            super().__init__()
            weight = layer.weight.detach().to_sparse_coo().coalesce()
            self.weight, self.bias = weight, layer.bias.detach()

        def forward(self, x):
            return torch.sparse.mm(self.weight, x.T).T + self.bias

    copied = copy.deepcopy(module)
    for index, layer in enumerate(copied):
        if type(layer).__name__ == "SparseLinear":
            copied[index] = CooLinear(layer)
    return copied


def measure(args):
    import torch

    torch.set_num_threads(args.threads)
    rows = []
    rng = np.random.default_rng(0)
    for name, sizes in NETWORKS.items():
        mlp = random_mlp(sizes)
        calibration = rng.normal(size=(500, sizes[0]))
        for keep_ratio in KEEP_RATIOS:
            compressed = CoreNetCompressor(keep_ratio=keep_ratio, random_state=0).fit_transform(mlp, calibration)
            dense = compressed.to_torch(dtype=torch.float32)
            csr = compressed.to_torch(sparse=True, dtype=torch.float32)
            coo = coo_copy(csr, torch)
            for batch in BATCHES:
                X = torch.from_numpy(rng.normal(size=(batch, sizes[0])).astype(np.float32))
                with torch.no_grad():
                    np.testing.assert_allclose(csr(X).numpy(), dense(X).numpy(), rtol=1e-3, atol=1e-5)
                    repeat = args.repeat if batch >= 1000 else 10 * args.repeat
                    inner = 1 if batch >= 64 else 20
                    modules = (dense, csr, coo) if batch <= COO_UP_TO_ROWS else (dense, csr)
                    times = alternating_best_times([lambda m=m, x=X: m(x) for m in modules], repeat, inner)
                rows.append((name, keep_ratio, batch, *times, *[np.nan] * (3 - len(times))))
                print(rows[-1], flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    rows = measure(args)
    lines = []
    emit(
        lines,
        "# Exported torch modules: dense against sparse layers",
        "",
        f"Command: `{command_line('torch_export', argv)}`. Machine: {machine()}, {software_versions()}; "
        f"{args.threads} torch thread(s). Run time {(time.perf_counter() - start) / 60:.1f} min.",
        "",
        "Forward pass of the exported module (float32, `torch.no_grad()`), best of "
        f"{args.repeat} rounds (10x that below 1,000 rows), the three modules timed in turn. "
        "`dense`: `to_torch()`, `nn.Linear` layers holding the zeros; `SparseLinear`: "
        "`to_torch(sparse=True)`, CSR weights; `COO`: the same layers through a COO tensor "
        "(what `sparse=True` exported before). Ratios are over the dense module's time.",
        "",
        *markdown_table(
            ["network", "kept", "rows", "dense (ms)", "SparseLinear (CSR)", "COO"],
            [
                (name, f"{100 * keep:.0f}%", f"{batch:,}", f"{1e3 * dense:.3f}", f"{csr / dense:.2f}×",
                 "—" if np.isnan(coo) else f"{coo / dense:.2f}×")
                for name, keep, batch, dense, csr, coo in rows
            ],
        ),
    )
    (RESULTS_DIR / "torch_export.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
