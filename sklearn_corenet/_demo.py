"""The demo behind ``make demo``: train, compress, compare."""

import time
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from ._compressor import CoreNetCompressor
from ._metrics import relative_error


def demo_rows(random_state=0, keep_ratios=(0.3, 0.1, 0.05), methods=("auto", "corenet++", "magnitude")):
    """Train an MLP on digits and compress it; return the result rows."""
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=random_state, stratify=y
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier(hidden_layer_sizes=(200, 200), max_iter=300, random_state=random_state)
        mlp.fit(X_train, y_train)
    accuracy = mlp.score(X_test, y_test)
    runs = [("theory ε=0.5 δ=0.1", {"epsilon": 0.5, "delta": 0.1, "method": "corenet++"})]
    runs += [(method, {"keep_ratio": ratio, "method": method}) for ratio in keep_ratios for method in methods]
    rows = []
    for label, params in runs:
        start = time.perf_counter()
        compressor = CoreNetCompressor(random_state=random_state, **params)
        compressed = compressor.fit_transform(mlp, X_train)
        elapsed = time.perf_counter() - start
        rows.append(
            {
                "method": label,
                "keep ratio": compressed.keep_ratio_,
                "kept": compressed.nnz_,
                "total": compressor.n_params_,
                "accuracy before": accuracy,
                "accuracy after": compressed.score(X_test, y_test),
                "relative error": relative_error(mlp, compressed, X_test),
                "seconds": elapsed,
            }
        )
    return mlp, rows


def format_rows(rows):
    header = ["method", "keep ratio", "kept", "total", "acc. before", "acc. after", "rel. error", "time (s)"]
    body = [
        [
            r["method"],
            f"{r['keep ratio']:.3f}",
            str(r["kept"]),
            str(r["total"]),
            f"{r['accuracy before']:.4f}",
            f"{r['accuracy after']:.4f}",
            f"{r['relative error']:.4f}",
            f"{r['seconds']:.2f}",
        ]
        for r in rows
    ]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths, strict=True)))]
    lines.append("  ".join("-" * w for w in widths))
    for b in body:
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(b, widths, strict=True))))
    return "\n".join(lines)


def run_demo(random_state=0):
    print("Training a 64-200-200-10 MLPClassifier on scikit-learn's digits data ...")
    mlp, rows = demo_rows(random_state=random_state)
    print(f"test accuracy of the original network: {rows[0]['accuracy before']:.4f}\n")
    print(format_rows(rows))
    print(
        "\nkeep ratio: fraction of the original weights and biases that stay non-zero;"
        "\nrel. error: mean over test points of |f'(x) - f(x)|_1 / |f(x)|_1 on the network's"
        "\n            outputs before softmax (the paper's measure)."
    )
