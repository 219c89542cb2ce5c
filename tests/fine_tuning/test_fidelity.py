"""Fidelity fine-tuning: a compressed network trained toward the original's outputs."""

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn

from sklearn_corenet import CoreNetCompressor
from sklearn_corenet.adapters import network_of
from sklearn_corenet.fine_tuning._fidelity import (
    AUTO_ROWS,
    FIDELITY_EPOCHS,
    FidelityRows,
    MixedRows,
    fidelity_settings,
    mixing_pairs,
    synthetic_rows,
)


def test_settings_from_the_hyperparameter():
    assert fidelity_settings(None) is None and fidelity_settings(False) is None
    default = fidelity_settings(True, random_state=3)
    assert default.settings.epochs == FIDELITY_EPOCHS and default.settings.random_state == 3
    assert default.n_synthetic == "auto" and default.synthetic_count(100) == AUTO_ROWS - 100
    assert fidelity_settings(7).settings.epochs == 7
    chosen = fidelity_settings({"epochs": 4, "learning_rate": 1e-3, "n_synthetic": 10, "random_state": 1}, 3)
    assert (chosen.settings.epochs, chosen.settings.learning_rate, chosen.n_synthetic) == (4, 1e-3, 10)
    assert chosen.settings.random_state == 1 and chosen.synthetic_count(100) == 10


@pytest.mark.parametrize(
    ("fine_tune", "match"),
    [
        ({"epoch": 3}, r"unknown settings \['epoch'\]"),
        ({"n_synthetic": -1}, "n_synthetic"),
        ({"n_synthetic": "many"}, "n_synthetic"),
        ({"learning_rate": -1.0}, "learning_rate"),
    ],
)
def test_bad_settings_are_named(fine_tune, match):
    with pytest.raises(ValueError, match=match):
        fidelity_settings(fine_tune)


@pytest.mark.parametrize("sparse", [False, True])
def test_synthetic_rows_are_mixtures_of_two_rows(sparse):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    rows = synthetic_rows(sp.csr_array(X) if sparse else X, 200, np.random.default_rng(1))
    assert rows.shape == (200, 4) and sp.issparse(rows) == sparse
    rows = rows.toarray() if sparse else rows
    # every row lies on a segment between two data rows: inside the data's box
    assert np.all(rows >= X.min(axis=0) - 1e-12) and np.all(rows <= X.max(axis=0) + 1e-12)
    # and replaying the draws gives the same rows
    again = synthetic_rows(X, 200, np.random.default_rng(1))
    np.testing.assert_allclose(rows, again)


@pytest.mark.parametrize("sparse", [False, True])
def test_mixed_rows_read_are_the_synthetic_rows_of_the_same_draws(sparse):
    X = np.random.default_rng(0).normal(size=(30, 4))
    data = sp.csr_array(X) if sparse else X
    rows = MixedRows(data, *mixing_pairs(data, 200, np.random.default_rng(1)))
    synthetic = synthetic_rows(data, 200, np.random.default_rng(1))
    expected = np.vstack([X, synthetic.toarray() if sparse else synthetic])
    assert rows.shape == (230, 4)
    np.testing.assert_array_equal(rows[np.arange(230)], expected)
    order = np.random.default_rng(2).permutation(230)[:50]  # real and mixed rows, in any order
    np.testing.assert_array_equal(rows[order], expected[order])
    np.testing.assert_array_equal(rows[25:40], expected[25:40])


def test_mixed_rows_beyond_working_memory_are_mixed_as_they_are_read(digits, digits_mlp):
    X, _ = digits
    original = network_of(digits_mlp)
    settings = fidelity_settings({"n_synthetic": 20_000, "epochs": 1, "random_state": 0})
    # 20,500 rows of 64 float64 features: 10 MiB, held whole within the default working_memory
    whole = FidelityRows(original, X[:500], "outputs", settings, np.random.default_rng(0))
    assert isinstance(whole.X, np.ndarray) and whole.X.shape == (20_500, X.shape[1])
    # 15 MiB would hold them, but not in half of it
    with sklearn.config_context(working_memory=15):
        rows = FidelityRows(original, X[:500], "outputs", settings, np.random.default_rng(0))
    assert isinstance(rows.X, MixedRows) and rows.X.shape == (20_500, X.shape[1])
    np.testing.assert_array_equal(rows.X[:], whole.X)  # the same rows either way
    held = sum(part.nbytes for part in (rows.X.first, rows.X.second, rows.X.weight))
    assert held <= 24 * 20_000  # not 64 features of 8 bytes per row
    # the targets are the original's outputs on the rows as read
    np.testing.assert_allclose(rows.Y[[3, 700, 20_499]], original.decision(rows.X[[3, 700, 20_499]]), rtol=1e-12)
    compressed = CoreNetCompressor(keep_ratio=0.2, random_state=0).fit_transform(digits_mlp, X[:500])
    _, history = rows.tune(compressed.to_network())  # training reads them a mini-batch at a time
    assert history.n_epochs == 1


def test_sparse_rows_are_mixed_as_read_and_tune_as_dense_ones(digits, digits_mlp):
    X, _ = digits
    original = network_of(digits_mlp)
    settings = fidelity_settings({"n_synthetic": 2_000, "epochs": 3, "random_state": 0})
    dense = FidelityRows(original, X[:500], "outputs", settings, np.random.default_rng(0))
    sparse = FidelityRows(original, sp.csr_array(X[:500]), "outputs", settings, np.random.default_rng(0))
    assert isinstance(sparse.X, MixedRows) and isinstance(dense.X, np.ndarray)
    np.testing.assert_array_equal(sparse.X[:], dense.X)
    np.testing.assert_allclose(sparse.Y, dense.Y, rtol=1e-12, atol=1e-12)
    compressed = CoreNetCompressor(keep_ratio=0.2, random_state=0).fit_transform(digits_mlp, X[:500])
    (from_dense, _), (from_sparse, _) = (rows.tune(compressed.to_network()) for rows in (dense, sparse))
    for W, V in zip(from_dense.coefs, from_sparse.coefs, strict=True):
        W, V = (M.toarray() if sp.issparse(M) else M for M in (W, V))
        np.testing.assert_allclose(V, W, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("target", ["outputs", "probabilities"])
def test_tuning_brings_the_outputs_closer_on_new_points_and_keeps_the_pattern(digits, digits_mlp, target):
    X, _ = digits
    original = network_of(digits_mlp)
    compressed = CoreNetCompressor(keep_ratio=0.08, random_state=0).fit_transform(digits_mlp, X[:1000])
    network = compressed.to_network()
    before = [W.copy() for W in network.coefs]
    rows = FidelityRows(original, X[:1000], target, fidelity_settings({"random_state": 0}), np.random.default_rng(0))
    tuned, history = rows.tune(network)
    # the network given is left as it was, the pattern is kept
    dense = [W.toarray() if sp.issparse(W) else np.asarray(W) for W in (*network.coefs, *before, *tuned.coefs)]
    n = len(before)
    for W, W0, T in zip(dense[:n], dense[n : 2 * n], dense[2 * n :], strict=True):
        np.testing.assert_array_equal(W, W0)
        assert not np.any((T != 0) & (W0 == 0))  # no new non-zero
        assert not np.array_equal(T, W0)
    assert history.best_epoch > 0
    reference, old, new = (n.decision(X[1000:]) for n in (original, network, tuned))
    if target == "outputs":
        assert np.abs(new - reference).sum() < 0.9 * np.abs(old - reference).sum()
    else:
        assert np.mean(new.argmax(1) == reference.argmax(1)) >= np.mean(old.argmax(1) == reference.argmax(1))


def test_a_regressor_has_no_probabilities(regression_data, regression_mlp):
    X, _ = regression_data
    with pytest.raises(ValueError, match="regressor"):
        FidelityRows(network_of(regression_mlp), X, "probabilities", fidelity_settings(True), np.random.default_rng(0))


def test_rows_no_compression_read_validate_when_there_are_enough(digits, digits_mlp):
    X, _ = digits
    original = network_of(digits_mlp)
    settings = fidelity_settings({"n_synthetic": 300, "random_state": 0})
    # 300 calibration rows then 500 rows that no compression read: all 500 validate
    rows = FidelityRows(original, X[:800], "outputs", settings, np.random.default_rng(0), n_unseen=500)
    assert rows.X.shape[0] == 800 + 300
    np.testing.assert_array_equal(rows.validation_rows, np.arange(300, 800))
    assert not np.isin(rows.validation_rows, rows.train_rows).any()
    # too few of them for the 0.95 quantile (10 beyond it): they train, synthetic rows validate
    rows = FidelityRows(original, X[:400], "outputs", settings, np.random.default_rng(0), n_unseen=100)
    assert rows.validation_rows.min() >= 400
    assert np.isin(np.arange(300, 400), rows.train_rows).all()
