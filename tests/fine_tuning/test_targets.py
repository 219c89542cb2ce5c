"""Targets are checked against the head and encoded as the loss compares them."""

import numpy as np
import pytest
import scipy.sparse as sp

from sklearn_corenet.core import OutputHead
from sklearn_corenet.fine_tuning._targets import encode_targets


def encode(y, head, n_outputs, loss, dtype=np.float64):
    return encode_targets(
        y, head, n_outputs=n_outputs, n_samples=len(y) if not sp.issparse(y) else y.shape[0],
        loss=loss, dtype=dtype,
    )


def test_multiclass_labels_become_one_hot_rows_in_class_order():
    head = OutputHead("multiclass", classes=np.array(["cat", "dog", "eel"]))
    Y, stratify = encode(np.array(["eel", "cat", "eel", "dog"]), head, 3, "cross_entropy")
    np.testing.assert_array_equal(Y, [[0, 0, 1], [1, 0, 0], [0, 0, 1], [0, 1, 0]])
    assert Y.dtype == np.float64
    np.testing.assert_array_equal(stratify, ["eel", "cat", "eel", "dog"])


def test_labels_of_a_few_classes_keep_every_column():
    # only two of ten classes present: still ten one-hot columns
    head = OutputHead("multiclass", classes=np.arange(10))
    Y, _ = encode(np.array([[3], [7], [3]]), head, 10, "cross_entropy", dtype=np.float32)
    expected = np.zeros((3, 10), dtype=np.float32)
    expected[[0, 1, 2], [3, 7, 3]] = 1
    np.testing.assert_array_equal(Y, expected)
    assert Y.dtype == np.float32


def test_binary_head_with_one_output_gets_the_positive_class_column():
    head = OutputHead("binary", classes=np.array(["high", "low"]))
    Y, stratify = encode(np.array(["low", "high", "low"]), head, 1, "binary_cross_entropy")
    np.testing.assert_array_equal(Y, [[1], [0], [1]])
    # a batch holding one class only is encoded the same way
    Y, _ = encode(np.array(["high", "high"]), head, 1, "binary_cross_entropy")
    np.testing.assert_array_equal(Y, [[0], [0]])


def test_two_classes_with_two_softmax_outputs_get_two_columns():
    head = OutputHead("binary", classes=np.array([0, 1]))
    Y, _ = encode(np.array([1, 0, 1]), head, 2, "cross_entropy")
    np.testing.assert_array_equal(Y, [[0, 1], [1, 0], [0, 1]])


@pytest.mark.parametrize("container", [np.asarray, sp.csr_matrix])
def test_multilabel_indicator_is_kept(container):
    indicator = np.array([[1, 0, 1], [0, 0, 0], [1, 1, 0]])
    head = OutputHead("multilabel", classes=np.arange(3))
    Y, stratify = encode(container(indicator), head, 3, "binary_cross_entropy")
    np.testing.assert_array_equal(Y, indicator)
    assert Y.dtype == np.float64 and stratify is None


def test_regression_values_become_columns():
    head = OutputHead("regression")
    y = np.array([0.5, -1.25, 3.0])
    Y, stratify = encode(y, head, 1, "squared_error", dtype=np.float32)
    np.testing.assert_array_equal(Y, y.astype(np.float32).reshape(-1, 1))
    assert Y.dtype == np.float32 and stratify is None
    Y, _ = encode(np.column_stack([y, 2 * y]), head, 2, "squared_error")
    np.testing.assert_array_equal(Y, np.column_stack([y, 2 * y]))


@pytest.mark.parametrize(
    ("kind", "n_outputs", "loss", "y", "message"),
    [
        ("multiclass", 3, "cross_entropy", [0, 11, 2, 12], r"labels not in classes_ \[0, 1, 2\]: \[11, 12\]"),
        ("multiclass", 3, "cross_entropy", ["0", "1", "2"], r"labels not in classes_"),
        ("multiclass", 3, "cross_entropy", [[0, 1], [1, 2]], r"1-D class labels; y has shape \(2, 2\)"),
        ("binary", 1, "binary_cross_entropy", [0, 1, np.nan], r"labels not in classes_"),
        ("regression", 1, "squared_error", ["a", "b"], "numeric targets; y has dtype <U1"),
        ("regression", 1, "squared_error", [[1.0, 2.0]], r"1 output\(s\); y has shape \(1, 2\)"),
        ("regression", 1, "squared_error", [1.0, np.nan], "NaN"),
        ("regression", 1, "poisson", [1.0, -1.0], "non-negative targets"),
        ("multilabel", 3, "binary_cross_entropy", [0, 1], r"indicator matrix of shape \(n_samples, 3\)"),
        ("multilabel", 3, "binary_cross_entropy", [[0, 2, 1]], "only 0 and 1"),
    ],
)
def test_targets_not_fitting_the_head_are_rejected(kind, n_outputs, loss, y, message):
    classes = None if kind == "regression" else np.arange(max(n_outputs, 2))
    with pytest.raises(ValueError, match=message):
        encode(np.asarray(y), OutputHead(kind, classes), n_outputs, loss)


def test_length_must_match_the_inputs():
    head = OutputHead("multiclass", classes=np.arange(3))
    with pytest.raises(ValueError, match="y has 2 samples but X has 3"):
        encode_targets(
            [0, 1], head, n_outputs=3, n_samples=3, loss="cross_entropy", dtype=np.float64
        )
