"""Which product is fastest for a compressed layer: the crossover densities.

Run from the project root::

    .venv/bin/python -m benchmarks.kernels            # --repeat N, --quick

For the layer shapes of the benchmark networks (784-300-300-10 and
784-1000-1000-1000-10), densities from 1% to 50% and batches of 1 to 10,000
rows, times the candidate products of a batch by a sparse layer: dense BLAS
on a dense copy, scipy's CSR product ``(Wᵀ Aᵀ)ᵀ``, and that product split
over threads by output neurons. Writes ``benchmarks/results/kernels.md``:
per batch, the largest density at which a CSR product still beats dense
BLAS on every shape, the numbers behind ``SPARSE_UP_TO_DENSITY`` and
``THREADS_FROM_ROWS`` in ``sklearn_corenet/_kernels.py``.
"""

import argparse
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy
import scipy.sparse as sp

from benchmarks._common import RESULTS_DIR, best_time, command_line, emit, machine

SHAPES = ((784, 300), (300, 300), (784, 1000), (1000, 1000))
DENSITIES = (0.01, 0.02, 0.05, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5)
BATCHES = (1, 16, 64, 256, 1000, 3000, 10000)


def products(W, n_threads, pool):
    """The candidate products ``A -> A @ W`` for the sparse layer ``W``."""
    dense = W.toarray()
    transposed = W.T.tocsr()
    bounds = np.linspace(0, transposed.shape[0], n_threads + 1).astype(int)
    parts = [(a, b, transposed[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def threaded(A):
        At = np.ascontiguousarray(A.T)
        out = np.empty((W.shape[1], A.shape[0]))

        def block(part):
            out[part[0] : part[1]] = part[2] @ At

        list(pool.map(block, parts))
        return out.T

    return {
        "dense": lambda A: A @ dense,
        "csr": lambda A: np.asarray(transposed @ A.T).T,
        "csr-threads": threaded,
    }


def measure(repeat, shapes, densities, batches):
    """Time of every product, keyed by (shape, density, batch, product)."""
    rng = np.random.default_rng(0)
    n_threads = os.cpu_count() or 1
    pool = ThreadPoolExecutor(n_threads)
    times = {}
    for shape in shapes:
        for density in densities:
            W = sp.random(*shape, density=density, format="csr", random_state=1)
            candidates = products(W, n_threads, pool)
            for rows in batches:
                A = rng.normal(size=(rows, shape[0]))
                calls = repeat if rows >= 1000 else 10 * repeat
                # the candidates in turn, so that a slow moment hits all alike
                for name, product in candidates.items():
                    times[shape, density, rows, name] = best_time(lambda p=product, a=A: p(a), calls)
    return times


def dense_time(times, shape, rows, densities):
    """Dense BLAS time of a shape and batch: the best over the densities.

    The dense product does not depend on the density; its best time over all
    of them is the least noisy estimate (a slow moment of the machine during
    one density's rounds would otherwise make sparse look faster there).
    """
    return min(times[shape, density, rows, "dense"] for density in densities)


def crossover(times, shapes, densities, rows, product):
    """The largest density up to which ``product`` beats dense on every shape."""
    limit = 0.0
    for density in densities:
        if all(times[shape, density, rows, product] < dense_time(times, shape, rows, densities) for shape in shapes):
            limit = density
        else:
            break
    return limit


def report(times, args, shapes, densities, batches):
    lines = []
    emit(
        lines,
        "# Kernels: sparse against dense products of a compressed layer",
        "",
        f"Command: `{command_line('kernels')}` (best of {args.repeat}, 10x that below 1,000 rows). "
        f"Machine: {machine()}, numpy {np.__version__}, scipy {scipy.__version__}.",
        "",
        "## Largest density at which the product beats dense BLAS on every shape",
        "",
        "Dense time: the best over all densities of a shape and batch (it does not depend on the density). "
        "Last column: on how many shapes and densities up to the csr crossover the threaded product "
        "beats the single-threaded one.",
        "",
        "| rows | csr | csr-threads | csr-threads faster than csr |",
        "| ---: | ---: | ---: | ---: |",
    )
    for rows in batches:
        limit = max(crossover(times, shapes, densities, rows, name) for name in ("csr", "csr-threads"))
        cases = [(shape, d) for shape in shapes for d in densities if d <= limit]
        faster = sum(times[shape, d, rows, "csr-threads"] < times[shape, d, rows, "csr"] for shape, d in cases)
        emit(
            lines,
            f"| {rows} | {crossover(times, shapes, densities, rows, 'csr'):.2f} "
            f"| {crossover(times, shapes, densities, rows, 'csr-threads'):.2f} | {faster} of {len(cases)} |",
        )
    emit(lines, "", "## Time over dense BLAS", "", "| shape | density | rows | csr | csr-threads | dense (ms) |",
         "| --- | ---: | ---: | ---: | ---: | ---: |")
    for shape in shapes:
        for density in densities:
            for rows in batches:
                dense = dense_time(times, shape, rows, densities)
                emit(
                    lines,
                    f"| {shape[0]}x{shape[1]} | {density:.2f} | {rows} | "
                    f"{times[shape, density, rows, 'csr'] / dense:.2f} | "
                    f"{times[shape, density, rows, 'csr-threads'] / dense:.2f} | {1e3 * dense:.3f} |",
                )
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="two shapes, four densities, three batches")
    args = parser.parse_args(argv)
    shapes, densities, batches = SHAPES, DENSITIES, BATCHES
    if args.quick:
        shapes, densities, batches = SHAPES[:2], (0.02, 0.05, 0.1, 0.3), (1, 64, 1000)
    times = measure(args.repeat, shapes, densities, batches)
    lines = report(times, args, shapes, densities, batches)
    if not args.quick:
        (RESULTS_DIR / "kernels.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
