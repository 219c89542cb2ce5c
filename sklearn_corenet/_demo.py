"""The demo behind ``make demo``: train an MLP, compress it, show what it gives.

One screen: the library's recommended methods against magnitude pruning and
the paper's CoreNet++ at a few budgets, with accuracy, size on disk, predict
speed and the certificate of how close each stays to the original on test
points; then the sparsest model certified to stay within ε.
"""

import pickle
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from .certification._certify import certify
from .compressor._compressor import CoreNetCompressor

#: What each row of the demo is.
METHODS = {
    "auto": "the default: keep the edges of largest weight × input size, re-fit them (least squares)",
    "neurons": "structured: remove whole neurons (narrower dense layers), re-fit: the fastest",
    "magnitude": "magnitude pruning, what torch.nn.utils.prune gives (keep the largest |w|)",
    "corenet++": "the paper's CoreNet++ (Baykal et al., ICLR 2019): sensitivity sampling",
}
KEEP_RATIOS = (0.2, 0.1, 0.05)
EPSILON, DELTA, CONFIDENCE = 0.1, 0.1, 0.95


def _train(random_state):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16.0, y, test_size=0.4, random_state=random_state, stratify=y
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier(hidden_layer_sizes=(256, 256), max_iter=300, random_state=random_state)
        mlp.fit(X_train, y_train)
    return mlp, X_train, X_test, y_test


def _speed_up(original, compressed, X, repeat=9):
    """Predict time of ``original`` over ``compressed``'s, calls alternating (best of ``repeat``)."""
    best = {id(original): np.inf, id(compressed): np.inf}
    for _ in range(repeat):
        for model in (original, compressed):
            start = time.perf_counter()
            model.predict_proba(X)
            best[id(model)] = min(best[id(model)], time.perf_counter() - start)
    return best[id(original)] / best[id(compressed)]


def _row(label, mlp, compressed, X_test, y_test, dense_bytes):
    certificate = certify(mlp, compressed, X_test, epsilon=EPSILON, delta=DELTA, confidence=CONFIDENCE)
    return {
        "method": label,
        "kept": compressed.keep_ratio_,
        "accuracy": compressed.score(X_test, y_test),
        "size": len(pickle.dumps(compressed)) / dense_bytes,
        # a batch of 2,000 rows: the test set repeated
        "speed-up": _speed_up(mlp, compressed, np.resize(X_test, (2000, X_test.shape[1]))),
        "agreement": certificate.label_agreement,
        "epsilon": certificate.epsilon_certified,
    }


def demo_rows(random_state=0, keep_ratios=KEEP_RATIOS, methods=tuple(METHODS)):
    """Train an MLP on digits and compress it; return the model and the result rows."""
    mlp, X_train, X_test, y_test = _train(random_state)
    dense_bytes = len(pickle.dumps(mlp))
    rows = []
    for ratio in keep_ratios:
        for method in methods:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                compressed = CoreNetCompressor(
                    keep_ratio=ratio, method=method, random_state=random_state
                ).fit_transform(mlp, X_train)
            rows.append(_row(method, mlp, compressed, X_test, y_test, dense_bytes))
    compressor = CoreNetCompressor(
        keep_ratio="certified", epsilon=EPSILON, delta=DELTA, confidence=CONFIDENCE, random_state=random_state
    )
    compressed = compressor.fit_transform(mlp, X_train)
    rows.append(_row("certified", mlp, compressed, X_test, y_test, dense_bytes))
    return mlp, mlp.score(X_test, y_test), rows


def format_rows(rows):
    """The rows as an aligned text table."""
    header = ["kept", "method", "accuracy", "size", "speed-up", "same labels", "ε at δ=0.1"]
    body = [
        [
            f"{100 * r['kept']:.1f}%",
            r["method"],
            f"{r['accuracy']:.3f}",
            f"{100 * r['size']:.1f}%",
            f"{r['speed-up']:.1f}x",
            f"{100 * r['agreement']:.1f}%",
            f"{r['epsilon']:.3f}",
        ]
        for r in rows
    ]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]

    def line(cells):
        return "  ".join(c.ljust(w) if i == 1 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True)))

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(b) for b in body)])


def run_demo(random_state=0):
    """Print the demo's screen."""
    print("Training a 64-256-256-10 MLPClassifier on scikit-learn's digits (60% of it) ...")
    start = time.perf_counter()
    mlp, accuracy, rows = demo_rows(random_state=random_state)
    n_params = sum(W.size + b.size for W, b in zip(mlp.coefs_, mlp.intercepts_, strict=True))
    print(f"Test accuracy of the original network: {accuracy:.3f} ({n_params} parameters).\n")
    print(format_rows(rows))
    print("\nmethod:")
    for name, text in METHODS.items():
        print(f"  {name:10s} {text}")
    print(
        f"  certified  the sparsest model whose certificate holds: error ≤ ε={EPSILON} on at least\n"
        f"             {100 * (1 - DELTA):.0f}% of new points, at {100 * CONFIDENCE:.0f}% confidence "
        "(keep_ratio=\"certified\")"
    )
    print(
        "kept: fraction of the original weights and biases that stay non-zero; size: pickled bytes\n"
        "against the original MLPClassifier's; speed-up: predict_proba on 2,000 rows against the\n"
        "original; same labels: test points where the compressed model predicts the original's\n"
        f"label; ε at δ=0.1: the smallest relative output error ‖f'(x) − f(x)‖₁ / ‖f(x)‖₁ certified\n"
        f"for 90% of new points at {100 * CONFIDENCE:.0f}% confidence, from the test points.\n"
        f"({time.perf_counter() - start:.0f} s)"
    )
