"""The demo behind ``make demo``: train an MLP, compress it, show what it gives.

The network sits behind a scaler in a fitted ``Pipeline``, as tabular
networks usually do, and the Pipeline is what is compressed. One screen: the
library's recommended methods against magnitude pruning and the paper's
CoreNet++ at a few budgets, with accuracy, size on disk, predict speed and
the certificate of how close each stays to the original on test points; then
what the no-argument compressor gives: the sparsest model certified to stay
within ε.
"""

import pickle
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from .certification._certify import certify
from .compressor._compressor import CoreNetCompressor

#: What each row of the demo is.
METHODS = {
    "auto": "the default: the edge-selection rule measured best on held-out calibration rows, re-fit (least squares)",
    "neurons-thinet": "structured: remove whole neurons, keep those that best rebuild the next layer: the fastest",
    "magnitude": "magnitude pruning, what torch.nn.utils.prune gives (keep the largest |w|)",
    "corenet++": "the paper's CoreNet++ (Baykal et al., ICLR 2019): sensitivity sampling",
}
KEEP_RATIOS = (0.2, 0.1, 0.05)
EPSILON, DELTA, CONFIDENCE = 0.1, 0.1, 0.95


def _train(random_state):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.4, random_state=random_state, stratify=y
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe = make_pipeline(
            StandardScaler(),
            MLPClassifier(hidden_layer_sizes=(256, 256), max_iter=300, random_state=random_state),
        )
        pipe.fit(X_train, y_train)
    return pipe, X_train, X_test, y_test


#: Timing: calls of the two models alternate, ``TIMING_REPEAT`` of each per
#: block, best of a block; the speed-up is the median over ``TIMING_BLOCKS``
#: blocks and their range shows the timing noise. One BLAS thread, so that
#: the other work of the machine and the thread pool's start-up do not
#: decide the ratio.
TIMING_BLOCKS, TIMING_REPEAT = 5, 5


def speed_up(original, compressed, X, blocks=TIMING_BLOCKS, repeat=TIMING_REPEAT):
    """Predict time of ``original`` over ``compressed``'s: (median, lowest, highest) over blocks."""
    ratios = []
    with threadpool_limits(1):
        for _ in range(blocks):
            best = [np.inf, np.inf]
            for _ in range(repeat):
                for which, model in enumerate((original, compressed)):
                    start = time.perf_counter()
                    model.predict_proba(X)
                    best[which] = min(best[which], time.perf_counter() - start)
            ratios.append(best[0] / best[1])
    return float(np.median(ratios)), float(min(ratios)), float(max(ratios))


def _row(label, pipe, compressed, X_test, y_test, dense_bytes):
    certificate = certify(pipe, compressed, X_test, epsilon=EPSILON, delta=DELTA, confidence=CONFIDENCE)
    network = compressed[-1]
    return {
        "method": label,
        "kept": network.keep_ratio_,
        "accuracy": compressed.score(X_test, y_test),
        "size": len(pickle.dumps(network)) / dense_bytes,
        # a batch of 2,000 rows: the test set repeated
        "speed-up": speed_up(pipe, compressed, np.resize(X_test, (2000, X_test.shape[1]))),
        "agreement": certificate.label_agreement,
        "epsilon": certificate.epsilon_certified,
    }


def demo_rows(random_state=0, keep_ratios=KEEP_RATIOS, methods=tuple(METHODS)):
    """Train a scaled MLP on digits and compress the Pipeline; return it and the result rows."""
    pipe, X_train, X_test, y_test = _train(random_state)
    dense_bytes = len(pickle.dumps(pipe[-1]))
    rows = []
    for ratio in keep_ratios:
        for method in methods:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                compressed = CoreNetCompressor(
                    keep_ratio=ratio, method=method, random_state=random_state
                ).fit_transform(pipe, X_train)
            rows.append(_row(method, pipe, compressed, X_test, y_test, dense_bytes))
    # the no-argument compressor: certified at its default (epsilon, delta)
    compressed = CoreNetCompressor(random_state=random_state).fit_transform(pipe, X_train)
    rows.append(_row("default", pipe, compressed, X_test, y_test, dense_bytes))
    return pipe, pipe.score(X_test, y_test), rows


def format_rows(rows):
    """The rows as an aligned text table."""
    header = ["kept", "method", "accuracy", "size", "speed-up (range)", "same labels", "ε at δ=0.1"]
    body = [
        [
            f"{100 * r['kept']:.1f}%",
            r["method"],
            f"{r['accuracy']:.3f}",
            f"{100 * r['size']:.1f}%",
            "{:.1f}x ({:.1f}-{:.1f})".format(*r["speed-up"]),
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
    print(
        "Training Pipeline(StandardScaler(), MLPClassifier(256, 256)) on scikit-learn's digits\n"
        "(60% of it) and compressing the fitted Pipeline ..."
    )
    start = time.perf_counter()
    pipe, accuracy, rows = demo_rows(random_state=random_state)
    mlp = pipe[-1]
    n_params = sum(W.size + b.size for W, b in zip(mlp.coefs_, mlp.intercepts_, strict=True))
    print(f"Test accuracy of the original network: {accuracy:.3f} ({n_params} parameters).\n")
    print(format_rows(rows))
    print("\nmethod:")
    width = max(map(len, METHODS))
    for name, text in METHODS.items():
        print(f"  {name:{width}s} {text}")
    indent = " " * (width + 3)
    print(
        f"  {'default':{width}s} CoreNetCompressor() with no argument: the sparsest model whose certificate\n"
        f"{indent}holds, error ≤ ε={EPSILON} on at least {100 * (1 - DELTA):.0f}% of new points at "
        f"{100 * CONFIDENCE:.0f}% confidence"
    )
    print(
        "kept: fraction of the original weights and biases that stay non-zero; size: pickled bytes\n"
        "against the original MLPClassifier's; speed-up: predict_proba of the Pipeline on 2,000 rows\n"
        f"against the original's, one BLAS thread, median over {TIMING_BLOCKS} blocks of best-of-"
        f"{TIMING_REPEAT} alternating\ncalls (range: the lowest and highest block, the timing noise); "
        "same labels: test points where\nthe compressed model predicts the original's label; "
        "ε at δ=0.1: the smallest relative output\nerror ‖f'(x) − f(x)‖₁ / ‖f(x)‖₁ certified for "
        f"90% of new points at {100 * CONFIDENCE:.0f}% confidence, from the test points.\n"
        f"({time.perf_counter() - start:.0f} s)"
    )
