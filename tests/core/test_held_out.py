import numpy as np
import scipy.sparse as sp

from sklearn_corenet.core import row_keys, seen_rows, split_held_out


def test_equal_rows_get_equal_keys_and_different_rows_different_keys():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 3, size=(2000, 16)).astype(np.float64) / 16  # many near-equal rows
    keys = row_keys(X)
    _, first, inverse = np.unique(X, axis=0, return_index=True, return_inverse=True)
    # rows are equal exactly when their keys are
    assert np.unique(keys).size == first.size
    np.testing.assert_array_equal(keys, keys[first][inverse.ravel()])


def test_keys_agree_for_dense_sparse_and_signed_zeros():
    X = np.array([[0.0, 1.5, 0.0, -2.0], [0.0, 0.0, 0.0, 0.0], [3.0, 0.0, 0.25, 0.0]])
    keys = row_keys(X)
    np.testing.assert_array_equal(row_keys(sp.csr_matrix(X)), keys)
    np.testing.assert_array_equal(row_keys(sp.csc_array(X)), keys)
    negative_zero = X.copy()
    negative_zero[X == 0] = -0.0
    np.testing.assert_array_equal(row_keys(negative_zero), keys)
    # a value moved to another column is another row
    assert row_keys(X[:, ::-1])[0] != keys[0]


def test_split_keeps_copies_of_a_row_together():
    rng = np.random.default_rng(1)
    distinct = rng.normal(size=(300, 5))
    X = distinct[rng.integers(0, 300, size=900)]  # every row about three times
    keys = row_keys(X)
    fit_rows, held_out_rows = split_held_out(keys, 0.3, np.random.RandomState(0))
    assert fit_rows.size + held_out_rows.size == X.shape[0]
    assert not seen_rows(keys[held_out_rows], keys[fit_rows]).any()
    # the fraction is of the distinct rows
    assert np.unique(keys[held_out_rows]).size == round(0.3 * np.unique(keys).size)


def test_seen_rows():
    X = np.arange(12.0).reshape(4, 3)
    mask = seen_rows(row_keys(X), row_keys(X[[1, 3]]))
    np.testing.assert_array_equal(mask, [False, True, False, True])
