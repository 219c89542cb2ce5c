"""
Compress a trained MLP: the default method against magnitude pruning
====================================================================

The library's main job in a few lines: train a scikit-learn
:class:`~sklearn.neural_network.MLPClassifier` on the handwritten digits,
compress it with :class:`~sklearn_corenet.CoreNetCompressor` and its default
method at a few budgets (the fraction of weights and biases kept), and
compare it with magnitude pruning (keep the largest weights) at the same
budgets.

Run time: about 5 s on two cores (training the network takes most of it;
longer on a busy machine).
"""

# %%
# Train the network
# -----------------
# A 64-128-128-10 network on 70% of the digits; the other 30% are held out
# to score the compressed networks.
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

from sklearn_corenet import CoreNetCompressor

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X / 16, y, test_size=0.3, stratify=y, random_state=0
)
mlp = MLPClassifier(
    hidden_layer_sizes=(128, 128), max_iter=200, random_state=0
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    mlp.fit(X_train, y_train)
print(f"original network: test accuracy {mlp.score(X_test, y_test):.3f}")

# %%
# Compress at a few budgets
# -------------------------
# ``keep_ratio`` is the budget: the fraction of the original parameters that
# stay non-zero, met exactly. The training rows serve as calibration data:
# the compressor reads the network's activations on them. The result is a
# :class:`~sklearn_corenet.SparseMLPClassifier` whose weight matrices are
# ``scipy.sparse`` arrays.
budgets = [0.5, 0.2, 0.1, 0.05, 0.02]
methods = {"auto": "default (method='auto')", "magnitude": "magnitude pruning"}
accuracy = {method: [] for method in methods}
kept = {method: [] for method in methods}
for method in methods:
    for keep_ratio in budgets:
        compressor = CoreNetCompressor(
            keep_ratio=keep_ratio, method=method, random_state=0
        )
        compressed = compressor.fit_transform(mlp, X_train)
        accuracy[method].append(compressed.score(X_test, y_test))
        kept[method].append(compressed.keep_ratio_)

print(
    f"{'kept':>6}  " + "  ".join(f"{label:>24}" for label in methods.values())
)
for row, keep_ratio in enumerate(budgets):
    print(
        f"{keep_ratio:>6.0%}  "
        + "  ".join(f"{accuracy[m][row]:>24.3f}" for m in methods)
    )

# %%
# What the default did at the smallest budget: ``method_`` is the method
# ``"auto"`` resolved to, and ``summary`` shows every layer's widths and kept
# parameters.
compressor = CoreNetCompressor(keep_ratio=budgets[-1], random_state=0)
compressed = compressor.fit_transform(mlp, X_train)
print(f"method='auto' chose {compressor.method_}")
print(f"reweight='auto' chose {compressor.reweight_!r}")
print(compressor.summary(compressed))

# %%
# Accuracy against the kept fraction
# ----------------------------------
fig, ax = plt.subplots(figsize=(6.4, 4.2))
for (method, label), marker in zip(methods.items(), "os", strict=True):
    ax.plot(kept[method], accuracy[method], marker=marker, label=label)
ax.axhline(
    mlp.score(X_test, y_test),
    color="grey",
    linestyle=":",
    label="original network",
)
ax.set_xscale("log")
ax.set_xticks(budgets, labels=[f"{budget:.0%}" for budget in budgets])
ax.minorticks_off()
ax.set_xlabel("kept fraction of the parameters (log scale)")
ax.set_ylabel("test accuracy")
ax.set_title("Digits, 64-128-128-10 MLP")
ax.legend(loc="lower right")
ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()
