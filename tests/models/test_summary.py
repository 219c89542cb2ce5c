import copy
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from sklearn_corenet import CompressionSummary, CoreNetCompressor

DEAD = 3  # the neuron of the first hidden layer that never fires


@pytest.fixture(scope="module")
def mlp(digits):
    """A 64-20-15-10 classifier whose first-layer neuron 3 is dead on the
    (non-negative) digits."""
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier(hidden_layer_sizes=(20, 15), max_iter=40, random_state=0).fit(X[:600], y[:600])
    mlp = copy.deepcopy(mlp)
    mlp.coefs_[0][:, DEAD] = -np.abs(mlp.coefs_[0][:, DEAD])
    mlp.intercepts_[0][DEAD] = -1.0
    return mlp


@pytest.fixture(scope="module")
def pruned(mlp, digits):
    compressor = CoreNetCompressor(keep_ratio=0.4, method="corenet+", random_state=0).fit(mlp, digits[0][:500])
    sparse = compressor.transform()
    return sparse, compressor.summary(sparse)


def _cells(summary):
    """The printed table's rows, split into cells (after title, header and rule)."""
    lines = str(summary).splitlines()
    return [line.split() for line in lines[3:]]


def test_rows_count_kept_and_total_parameters(mlp, pruned):
    sparse, summary = pruned
    assert len(summary.rows) == len(mlp.coefs_)
    for row, W, b, original, original_bias in zip(
        summary.rows, sparse.coefs_, sparse.intercepts_, mlp.coefs_, mlp.intercepts_, strict=True
    ):
        assert row["kept"] == W.count_nonzero() + np.count_nonzero(b)
        assert row["total"] == original.size + original_bias.size
        assert row["kept %"] == pytest.approx(100 * row["kept"] / row["total"], rel=1e-12)
    assert sum(row["kept"] for row in summary.rows) == sparse.nnz_
    assert sum(row["total"] for row in summary.rows) == sparse.n_params_original_
    # and the printed table shows the same figures
    for cells, row in zip(_cells(summary), summary.rows, strict=True):
        assert cells[3] == str(row["kept"]) and cells[4] == str(row["total"])
        assert cells[5] == f"{row['kept %']:.1f}"


def test_removed_neurons_show_as_arrows(mlp, pruned, digits):
    sparse, summary = pruned
    width = mlp.coefs_[0].shape[1]
    removed = sparse.compression_info_["dead_neurons"][0]
    # CoreNet+ removed the dead neuron, and every neuron silent on all the
    # calibration rows (S is drawn from them)
    first_layer = digits[0][:500] @ mlp.coefs_[0] + mlp.intercepts_[0]
    silent = np.flatnonzero(~(first_layer > 0).any(axis=0))
    assert DEAD in removed and set(silent) <= set(removed)
    kept = width - len(removed)
    assert sparse.coefs_[0].shape[1] == kept
    first, second, last = summary.rows
    assert first["n_in"] == 64 and first["n_out"] == f"{width}→{kept}"
    assert second["n_in"] == f"{width}→{kept}"
    assert first["dead_neurons"] == len(removed)
    assert last["dead_neurons"] is None  # output neurons are never removed
    cells = _cells(summary)
    assert cells[0][2] == f"{width}→{kept}" and cells[1][1] == f"{width}→{kept}"
    assert cells[0][8] == str(len(removed)) and cells[2][8] == "-"


def test_title_names_method_and_kept_percentage(mlp, pruned):
    sparse, summary = pruned
    n_params = sum(W.size + b.size for W, b in zip(mlp.coefs_, mlp.intercepts_, strict=True))
    nnz = sum(W.count_nonzero() + np.count_nonzero(b) for W, b in zip(sparse.coefs_, sparse.intercepts_, strict=True))
    title = str(summary).splitlines()[0]
    assert summary.title == title
    assert "method='corenet+'" in title
    assert f"{nnz} of {n_params} parameters kept" in title
    assert f"({100 * nnz / n_params:.1f}%)" in title
    assert "MLPClassifier" in title


def test_figures_without_a_value_print_as_dashes(mlp, digits):
    # magnitude pruning has no ε (NaN) and no Δ (None), and removes no neuron
    compressor = CoreNetCompressor(keep_ratio=0.3, method="magnitude").fit(mlp, digits[0][:200])
    sparse = compressor.transform()
    summary = compressor.summary(sparse)
    assert all(np.isnan(row["epsilon"]) for row in summary.rows)
    assert all(row["delta_hat"] is None for row in summary.rows)
    cells = _cells(summary)
    assert [row[6:] for row in cells] == [["-", "-", "0"], ["-", "-", "0"], ["-", "-", "-"]]
    assert "method='magnitude'" in summary.title and "(30.0%)" in summary.title


def test_table_from_rows():
    rows = [
        {"layer": 1, "n_in": "8→6", "n_out": 4, "kept": 7, "total": 36, "kept %": 100 * 7 / 36,
         "epsilon": float("nan"), "delta_hat": 12.3456789, "dead_neurons": None},
        {"layer": 2, "n_in": 4, "n_out": 2, "kept": 10, "total": 10, "kept %": 100.0,
         "epsilon": 0.0123456, "delta_hat": None, "dead_neurons": 0},
    ]
    lines = str(CompressionSummary(rows, title="a title")).splitlines()
    assert lines[0] == "a title"
    assert lines[1].split() == ["layer", "in", "out", "kept", "total", "kept", "%", "ε_ℓ", "Δ^ℓ", "dead"]
    assert set(lines[2].replace(" ", "")) == {"-"}
    assert lines[3].split() == ["1", "8→6", "4", "7", "36", "19.4", "-", "12.35", "-"]
    assert lines[4].split() == ["2", "4", "2", "10", "10", "100.0", "0.0123", "-", "0"]
    # columns are aligned: every line of the table is as wide as the header
    assert len({len(line) for line in lines[1:]}) == 1
    # without a title the table starts with its header
    assert str(CompressionSummary(rows)).splitlines()[0] == lines[1]


def test_estimator_summary_is_the_compressors(pruned):
    sparse, summary = pruned
    assert str(sparse.summary()) == str(summary)
    assert repr(summary) == str(summary)


def test_title_states_no_epsilon_for_methods_without_one(mlp, digits):
    # the selection methods have no guarantee: the title says nothing of ε
    for method in ("wanda", "magnitude", "neurons"):
        compressor = CoreNetCompressor(keep_ratio=0.3, method=method, random_state=0).fit(mlp, digits[0][:300])
        summary = compressor.summary()
        assert np.isnan(compressor.epsilon_)
        assert "ε" not in summary.title and "nan" not in str(summary), method


def test_title_states_the_epsilon_of_the_guarantee(mlp, digits):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # theory mode keeps most of this network
        compressor = CoreNetCompressor(keep_ratio="theory", epsilon=0.5, random_state=0).fit(mlp, digits[0][:300])
    assert compressor.summary().title.endswith(", ε = 0.5")


def test_a_certified_models_title_states_the_certified_epsilon(mlp, digits):
    X, y = digits
    compressor = CoreNetCompressor(random_state=0).fit(mlp, X[:1200], y[:1200])
    certificate = compressor.certificate_
    summary = compressor.summary()
    assert summary.certificate is certificate and np.isfinite(certificate.epsilon_certified)
    expected = f", ε = {certificate.epsilon_certified:.4g} certified at δ = {certificate.delta:g}"
    assert summary.title.endswith(expected)
    # the figure the certificate below the table states
    assert f"smallest ε certified at δ = {certificate.delta:g}: {certificate.epsilon_certified:.4g}" in str(summary)
    assert "nan" not in str(summary)
