"""
Compress a skorch classifier on tabular data and export it back
===============================================================

A skorch ``NeuralNetClassifier`` is trained on scikit-learn's breast cancer
data set inside a :class:`~sklearn.pipeline.Pipeline` with a
:class:`~sklearn.preprocessing.StandardScaler`. The trained net is compressed
at several budgets with :class:`~sklearn_corenet.CoreNetCompressor`; each
compressed model is exported back with ``to_skorch()`` and put in place of
the original net in the same pipeline, and with ``to_torch()`` as a plain
torch module.

Needs the ``torch`` extra. Run time: about 10 s on two cores (longer on a
busy machine).
"""

# %%
# A torch module and a skorch pipeline
# ------------------------------------
import numpy as np
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from skorch import NeuralNetClassifier
from torch import nn

from sklearn_corenet import CoreNetCompressor


class MLP(nn.Module):
    def __init__(self, n_features=30, hidden=128, n_classes=2):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(n_features, hidden),
            nn.ReLU(),
            nn.Dropout(
                0.1
            ),  # skipped when read: the net is read in evaluation mode
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, X):
        return self.layers(
            X
        )  # logits: CrossEntropyLoss, skorch applies the softmax


torch.manual_seed(0)
# tiny tensors: with several threads, start-up and contention dominate
torch.set_num_threads(1)
X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, stratify=y, random_state=0
)

net = NeuralNetClassifier(
    MLP,
    criterion=nn.CrossEntropyLoss,
    optimizer=torch.optim.Adam,
    lr=1e-3,
    max_epochs=60,
    batch_size=64,
    train_split=None,
    verbose=0,
)
# skorch's module is float32: cast after scaling
to_float32 = FunctionTransformer(np.asarray, kw_args={"dtype": np.float32})
pipeline = make_pipeline(StandardScaler(), to_float32, net).fit(
    X_train, y_train
)
preprocessing, original = pipeline[:-1], pipeline[-1]
baseline = pipeline.score(X_test, y_test)
print(f"original {type(original).__name__}: test accuracy {baseline:.3f}")

# %%
# Compress, export back, compare
# ------------------------------
# The calibration points are what the net sees: scaled training rows. Each
# compressed model is used three ways: as the library's
# ``SparseMLPClassifier`` (column "compressed"), as a skorch net of the same
# class, criterion and settings in the original pipeline ("skorch pipe"), and
# as a torch module with sparse weight storage, whose probabilities are
# compared with ``predict_proba`` ("torch abs diff").
X_calibration = preprocessing.transform(X_train)
X_check = preprocessing.transform(X_test)

header = (
    f"{'method':>10} {'kept':>6} {'non-zeros':>10} {'compressed':>11} "
    f"{'skorch pipe':>12} {'torch abs diff':>15}"
)
print(header)
print("-" * len(header))
for method in ("auto", "corenet++"):
    for keep_ratio in (0.5, 0.2, 0.1, 0.05):
        compressor = CoreNetCompressor(
            keep_ratio=keep_ratio, method=method, random_state=0
        )
        compressed = compressor.fit_transform(original, X_calibration)

        # back to skorch, used in the same pipeline
        exported = compressed.to_skorch()
        exported_pipeline = make_pipeline(*preprocessing, exported)
        exported_accuracy = exported_pipeline.score(X_test, y_test)

        # back to torch: a plain module (here with sparse weight storage)
        module = compressed.to_torch(sparse=True).eval()
        with torch.no_grad():
            probabilities = module(torch.from_numpy(X_check)).numpy()
        torch_gap = np.abs(
            probabilities - compressed.predict_proba(X_check)
        ).max()

        print(
            f"{method:>10} {keep_ratio:>6.0%} {compressed.nnz_:>10d} "
            f"{compressed.score(X_check, y_test):>11.3f} "
            f"{exported_accuracy:>12.3f} "
            f"{torch_gap:>15.1e}"
        )
