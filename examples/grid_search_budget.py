"""
Choose a budget by cross-validation: the sparsest model that scores well
========================================================================

An :class:`~sklearn.neural_network.MLPClassifier` is trained once on half of
scikit-learn's handwritten digits and frozen.
:class:`~sklearn.model_selection.GridSearchCV` then searches the budget
``keep_ratio`` (and the compression method) of a
:class:`~sklearn_corenet.CoreNetClassifier` with 5-fold cross-validation on
30% of the data that the network has not seen (calibration on four folds,
scores on the fifth), and the chosen model is tested on the last 20%.

The network is never trained again, and with ``memory`` the "corenet++"
candidates compute the sensitivities once per fold for all budgets. Each
candidate records its accuracy and the fraction of parameters it keeps
(:func:`~sklearn_corenet.kept_fraction_scorer`);
:func:`~sklearn_corenet.sparsest_within` refits the sparsest candidate whose
mean accuracy is within two points of the best, where accuracy alone would
pick a larger model.

Run time: about 10 s on two cores (50 compressions and their scores;
longer on a busy machine).
"""

# %%
# Train and freeze the network
# ----------------------------
# Three parts of the data: the network's training data, the search's data
# and a final test set. Scores on data the network was trained on would
# flatter every budget.
import tempfile

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import (
    GridSearchCV,
    StratifiedKFold,
    train_test_split,
)
from sklearn.neural_network import MLPClassifier

from sklearn_corenet import (
    CoreNetClassifier,
    kept_fraction_scorer,
    sparsest_within,
)

X, y = load_digits(return_X_y=True)
X_train, X_rest, y_train, y_rest = train_test_split(
    X / 16, y, train_size=0.5, stratify=y, random_state=0
)
X_search, X_test, y_search, y_test = train_test_split(
    X_rest, y_rest, test_size=0.4, stratify=y_rest, random_state=0
)
mlp = MLPClassifier(
    hidden_layer_sizes=(300, 100), max_iter=300, random_state=0
)
mlp.fit(X_train, y_train)
n_params = sum(
    W.size + b.size for W, b in zip(mlp.coefs_, mlp.intercepts_, strict=True)
)
print(
    f"trained MLP: {mlp.score(X_test, y_test):.3f} test accuracy, "
    f"{n_params} parameters"
)

# %%
# Search the budget
# -----------------
# ``FrozenEstimator`` keeps the trained network through the search's clones;
# ``memory`` caches what every budget of a fold shares (a temporary folder
# here). The search runs in this process: with ``n_jobs=2`` it would use two
# worker processes, which pays off for larger networks than this one.
BUDGETS = [0.02, 0.05, 0.1, 0.2, 0.5]
METHODS = ["auto", "corenet++"]
TOLERANCE = 0.02

with tempfile.TemporaryDirectory() as cache:
    search = GridSearchCV(
        CoreNetClassifier(FrozenEstimator(mlp), memory=cache, random_state=0),
        {"keep_ratio": BUDGETS, "method": METHODS},
        scoring={
            "accuracy": "accuracy",
            "kept_fraction": kept_fraction_scorer,
        },
        refit=sparsest_within(TOLERANCE, score_key="accuracy"),
        cv=StratifiedKFold(5, shuffle=True, random_state=0),
    )
    search.fit(X_search, y_search)

results = search.cv_results_
best = search.best_estimator_
most_accurate = results["params"][np.nanargmax(results["mean_test_accuracy"])]
print(
    f"chosen: {search.best_params_}; keeps "
    f"{best.compressed_.keep_ratio_:.1%} of the parameters; test accuracy "
    f"{best.score(X_test, y_test):.3f} against the MLP's "
    f"{mlp.score(X_test, y_test):.3f}\n"
    f"(most accurate candidate: {most_accurate})"
)

# %%
# Accuracy against budget
# -----------------------
# One line per method, the cross-validated accuracy with its standard
# deviation over the folds; the circle marks the refitted candidate, the
# dotted line the best mean accuracy minus the tolerance.
fig, ax = plt.subplots(figsize=(6.4, 4.2))
for method, marker in zip(METHODS, "os", strict=True):
    rows = np.flatnonzero(results["param_method"] == method)
    ax.errorbar(
        results["mean_test_kept_fraction"][rows],
        results["mean_test_accuracy"][rows],
        yerr=results["std_test_accuracy"][rows],
        marker=marker,
        capsize=3,
        label=f'method="{method}"',
    )
ax.scatter(
    results["mean_test_kept_fraction"][search.best_index_],
    results["mean_test_accuracy"][search.best_index_],
    s=220,
    facecolors="none",
    edgecolors="black",
    linewidths=1.5,
    zorder=3,
    label=f"refit: sparsest within {TOLERANCE:g} of the best",
)
ax.axhline(
    np.nanmax(results["mean_test_accuracy"]) - TOLERANCE,
    color="grey",
    linestyle=":",
    linewidth=1,
)
ax.set_xscale("log")
ax.set_xticks(BUDGETS, labels=[f"{budget:.0%}" for budget in BUDGETS])
ax.minorticks_off()
ax.set_xlabel("kept fraction of the parameters (log scale)")
ax.set_ylabel("5-fold CV accuracy")
ax.set_title("Digits, frozen 64-300-100-10 MLP: accuracy against budget")
ax.legend(loc="lower right")
ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()
