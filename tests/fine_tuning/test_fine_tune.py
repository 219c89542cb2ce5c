"""Fine-tuning keeps the sparsity pattern and recovers accuracy (Appendix B.4)."""

import copy
import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import log_loss, mean_poisson_deviance, mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from threadpoolctl import threadpool_limits

from sklearn_corenet import CoreNetCompressor
from sklearn_corenet.fine_tuning import (
    FineTuneHistory,
    FineTuneSettings,
    fine_tune_network,
)
from sklearn_corenet.fine_tuning._training import (
    resolve_batch_size,
    resolve_learning_rate,
)
from sklearn_corenet.models import make_sparse_estimator


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    # the models here are tiny: thread start-up and contention outweigh any
    # parallel speed-up, and make the timings erratic on a busy machine
    with threadpool_limits(limits=1):
        yield


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16, y, test_size=0.3, random_state=0, stratify=y)


@pytest.fixture(scope="module")
def digits_mlp(digits):
    X_train, _, y_train, _ = digits
    return MLPClassifier((64,), max_iter=300, random_state=0).fit(X_train, y_train)


def compress(model, X, keep_ratio):
    # the paper's sampling, without least-squares reweighting: a model that
    # compression has visibly damaged, which is what fine-tuning is for
    compressor = CoreNetCompressor(keep_ratio=keep_ratio, method="corenet++", random_state=0)
    return compressor.fit_transform(model, X)


def assert_same_pattern(before, after):
    for W0, W1 in zip(before.coefs_, after.coefs_, strict=True):
        assert W1.format == "csr" and W1.dtype == W0.dtype
        np.testing.assert_array_equal(W1.indptr, W0.indptr)
        np.testing.assert_array_equal(W1.indices, W0.indices)
    for b0, b1 in zip(before.intercepts_, after.intercepts_, strict=True):
        assert b1.dtype == b0.dtype
        np.testing.assert_array_equal(b1 == 0, b0 == 0)


def test_pattern_fixed_and_weights_trained(digits, digits_mlp):
    X_train, _, y_train, _ = digits
    sparse = compress(digits_mlp, X_train, 0.3)
    before = copy.deepcopy(sparse)
    sparse.predict(X_train)  # fills the dense cache, which must not survive
    returned = sparse.fine_tune(X_train, y_train, epochs=2, early_stopping=False, random_state=0)

    assert returned is sparse
    assert_same_pattern(before, sparse)
    assert sparse.nnz_ == before.nnz_
    # kept weights moved (except those with a zero gradient: fed by a pixel
    # that is always 0, or into a unit that never fires)
    for W0, W1 in zip(before.coefs_, sparse.coefs_, strict=True):
        assert np.mean(W1.data != W0.data) > 0.9
    expected = sparse.to_network().forward(X_train)
    np.testing.assert_allclose(sparse.predict_proba(X_train), expected, rtol=1e-10)


def test_float32_weights_stay_float32(digits):
    X_train, _, y_train, _ = digits
    X32 = X_train.astype(np.float32)
    mlp = MLPClassifier((16,), max_iter=50, random_state=0).fit(X32, y_train)
    sparse = compress(mlp, X32, 0.3)
    assert sparse.coefs_[0].dtype == np.float32
    before = copy.deepcopy(sparse)
    sparse.fine_tune(X_train, y_train, epochs=1, random_state=0, backend="numpy")
    assert_same_pattern(before, sparse)
    assert all(W.data.dtype == np.float32 for W in sparse.coefs_)
    assert all(b.dtype == np.float32 for b in sparse.intercepts_)


def test_training_loss_decreases(digits):
    X_train, _, y_train, _ = digits
    # a barely trained network, compressed: a random sparse starting point
    mlp = MLPClassifier((32,), max_iter=3, random_state=0).fit(X_train, y_train)
    sparse = compress(mlp, X_train, 0.3)
    start = log_loss(y_train, sparse.predict_proba(X_train), labels=sparse.classes_)
    sparse.fine_tune(
        X_train, y_train, epochs=5, learning_rate=1e-2, early_stopping=False, random_state=0
    )
    curve = sparse.fine_tune_history_.loss_curve
    assert len(curve) == 5
    assert np.all(np.diff(curve) < 0)
    end = log_loss(y_train, sparse.predict_proba(X_train), labels=sparse.classes_)
    assert end < 0.5 * start


def test_recovers_accuracy_of_heavily_compressed_model(digits, digits_mlp):
    X_train, X_test, y_train, y_test = digits
    sparse = compress(digits_mlp, X_train, 0.1)
    before = sparse.score(X_test, y_test)
    sparse.fine_tune(X_train, y_train, epochs=20, learning_rate=1e-2, random_state=0)
    after = sparse.score(X_test, y_test)
    # measured: 0.49 -> 0.80 test accuracy; demand at least +0.2
    assert after >= before + 0.2
    assert sparse.keep_ratio_ == pytest.approx(0.1, abs=0.005)


def test_numpy_and_torch_backends_agree(digits, digits_mlp):
    torch = pytest.importorskip("torch")
    X_train, _, y_train, _ = digits
    results = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    for backend in ("numpy", "torch"):
        sparse = compress(digits_mlp, X_train, 0.3)
        sparse.fine_tune(
            X_train, y_train, epochs=2, batch_size=64, alpha=1e-3, random_state=0, backend=backend
        )
        assert sparse.fine_tune_history_.backend == backend
        results[backend] = sparse
    torch.set_num_threads(threads)
    numpy_model, torch_model = results["numpy"], results["torch"]
    for W_numpy, W_torch in zip(numpy_model.coefs_, torch_model.coefs_, strict=True):
        np.testing.assert_allclose(W_torch.data, W_numpy.data, rtol=1e-7, atol=1e-10)
    for b_numpy, b_torch in zip(numpy_model.intercepts_, torch_model.intercepts_, strict=True):
        np.testing.assert_allclose(b_torch, b_numpy, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(
        torch_model.fine_tune_history_.loss_curve,
        numpy_model.fine_tune_history_.loss_curve,
        rtol=1e-9,
    )


def best_of(history):
    """Epoch with the highest validation score, ties to the lower loss, 0 included."""
    scores = [history.initial_validation_score, *history.validation_score_curve]
    losses = [history.initial_validation_loss, *history.validation_loss_curve]
    return max(range(len(scores)), key=lambda epoch: (scores[epoch], -losses[epoch]))


def test_early_stopping_keeps_the_best_epoch(digits, digits_mlp):
    X_train, _, y_train, _ = digits
    sparse = compress(digits_mlp, X_train, 0.3)
    # a large step makes the validation loss go up again after a few epochs
    sparse.fine_tune(
        X_train, y_train, epochs=30, learning_rate=0.05, batch_size=50,
        n_iter_no_change=3, random_state=0,
    )
    history = sparse.fine_tune_history_
    assert history.n_epochs < 30  # stopped early
    assert 0 < history.best_epoch < history.n_epochs  # the last epoch was not the best
    assert history.best_epoch == best_of(history)
    scores = [history.initial_validation_score, *history.validation_score_curve]
    losses = [history.initial_validation_loss, *history.validation_loss_curve]
    assert history.best_validation_score == scores[history.best_epoch] == max(scores)
    assert history.best_validation_loss == losses[history.best_epoch]
    # the last n_iter_no_change epochs improved neither the best score nor the lowest loss
    last = slice(history.n_epochs - 3 + 1, None)
    assert max(scores[last]) <= max(scores[: history.n_epochs - 2]) + 1e-4
    assert min(losses[last]) >= min(losses[: history.n_epochs - 2]) - 1e-4

    rows = history.validation_indices
    assert rows.size == np.ceil(0.2 * len(y_train))  # as train_test_split rounds
    # stratified: every class in the validation rows
    np.testing.assert_array_equal(np.unique(y_train[rows]), sparse.classes_)
    # the model returned is the one scored
    assert sparse.score(X_train[rows], y_train[rows]) == pytest.approx(history.best_validation_score)
    returned = log_loss(y_train[rows], sparse.predict_proba(X_train[rows]), labels=sparse.classes_)
    assert returned == pytest.approx(history.best_validation_loss, rel=1e-9)


def test_inputs_not_modified(digits, digits_mlp):
    X_train, _, y_train, _ = digits
    X, y = X_train.copy(), y_train.copy()
    sparse = compress(digits_mlp, X_train, 0.3)
    sparse.fine_tune(X, y, epochs=1, random_state=0)
    np.testing.assert_array_equal(X, X_train)
    np.testing.assert_array_equal(y, y_train)


@pytest.mark.parametrize("container", [sp.csr_array, sp.csc_matrix])
def test_sparse_input_gives_same_result(digits, digits_mlp, container):
    X_train, _, y_train, _ = digits
    dense_model = compress(digits_mlp, X_train, 0.3)
    dense_model.fine_tune(X_train, y_train, epochs=1, random_state=0, backend="numpy")
    sparse_model = compress(digits_mlp, X_train, 0.3)
    sparse_model.fine_tune(container(X_train), y_train, epochs=1, random_state=0, backend="numpy")
    for W_dense, W_sparse in zip(dense_model.coefs_, sparse_model.coefs_, strict=True):
        np.testing.assert_allclose(W_sparse.data, W_dense.data, rtol=1e-10)


def test_log_softmax_head_trains_like_softmax(digits, digits_mlp):
    X_train, _, y_train, _ = digits
    network = compress(digits_mlp, X_train, 0.3).to_network()
    softmax_model = make_sparse_estimator(network, 1)
    log_model = make_sparse_estimator(network.copy(out_activation="log_softmax"), 1)
    for model in (softmax_model, log_model):
        model.fine_tune(X_train, y_train, epochs=2, random_state=0)
    np.testing.assert_allclose(
        log_model.fine_tune_history_.validation_loss_curve,
        softmax_model.fine_tune_history_.validation_loss_curve,
        rtol=1e-12,
    )
    np.testing.assert_allclose(
        log_model.predict_log_proba(X_train), np.log(softmax_model.predict_proba(X_train)), atol=1e-10
    )


def test_binary_head(digits):
    X_train, X_test, y_train, y_test = digits
    labels = np.where(y_train >= 5, "high", "low")
    mlp = MLPClassifier((32,), max_iter=200, random_state=0).fit(X_train, labels)
    sparse = compress(mlp, X_train, 0.1)
    assert sparse.n_outputs_ == 1 and sparse.out_activation_ == "logistic"
    before = copy.deepcopy(sparse)
    test_labels = np.where(y_test >= 5, "high", "low")
    accuracy = sparse.score(X_test, test_labels)
    sparse.fine_tune(X_train, labels, epochs=20, learning_rate=3e-2, random_state=0)
    assert_same_pattern(before, sparse)
    # measured: 0.69 -> 0.82 test accuracy
    assert sparse.score(X_test, test_labels) >= accuracy + 0.08
    history = sparse.fine_tune_history_
    rows = history.validation_indices
    expected = log_loss(labels[rows], before.predict_proba(X_train[rows]), labels=sparse.classes_)
    assert history.initial_validation_loss == pytest.approx(expected, rel=1e-9)


def test_multilabel_head(digits):
    X_train, _, y_train, _ = digits
    Y = np.column_stack([y_train % 2, y_train >= 5, y_train % 3 == 0]).astype(int)
    mlp = MLPClassifier((32,), max_iter=200, random_state=0).fit(X_train, Y)
    sparse = compress(mlp, X_train, 0.2)
    before = copy.deepcopy(sparse)
    sparse.fine_tune(X_train, Y, epochs=5, learning_rate=1e-2, random_state=0)
    assert_same_pattern(before, sparse)
    history = sparse.fine_tune_history_
    assert history.best_validation_loss < 0.8 * history.initial_validation_loss
    # binary cross-entropy summed over the outputs, as scikit-learn's MLP
    rows = history.validation_indices
    proba = before.predict_proba(X_train[rows])
    expected = sum(
        log_loss(Y[rows, k], proba[:, k], labels=[0, 1]) for k in range(Y.shape[1])
    )
    assert history.initial_validation_loss == pytest.approx(expected, rel=1e-9)


@pytest.fixture(scope="module")
def regression_data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 6))
    weights = rng.normal(size=6)
    return X, weights


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_regression_heads(regression_data, loss):
    X, weights = regression_data
    rng = np.random.default_rng(1)
    if loss == "poisson":
        y = rng.poisson(np.exp(0.3 * X @ weights)).astype(float)
    else:
        y = np.sin(X @ weights) + 0.1 * rng.normal(size=len(X))
    mlp = MLPRegressor(hidden_layer_sizes=(32, 32), loss=loss, max_iter=300, random_state=0).fit(X, y)
    sparse = compress(mlp, X, 0.2)
    before = copy.deepcopy(sparse)
    sparse.fine_tune(X, y, epochs=10, learning_rate=1e-2, batch_size=64, random_state=0)
    assert_same_pattern(before, sparse)
    history = sparse.fine_tune_history_
    assert history.best_validation_loss < 0.9 * history.initial_validation_loss
    # the validation loss is scikit-learn's (half squared error, half deviance)
    rows = history.validation_indices
    prediction = before.predict(X[rows])
    if loss == "poisson":
        expected = 0.5 * mean_poisson_deviance(y[rows], prediction)
    else:
        expected = 0.5 * mean_squared_error(y[rows], prediction)
    assert history.initial_validation_loss == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (lambda y: np.where(y == 3, 11, y), r"labels not in classes_.*\[11\]"),
        (lambda y: y[:-1], "y has 1256 samples but X has 1257"),
        (lambda y: np.column_stack([y, y]), r"1-D class labels; y has shape \(1257, 2\)"),
        (lambda y: y.astype(str), r"labels not in classes_"),
    ],
    ids=["unknown-label", "wrong-length", "2-D", "wrong-type"],
)
def test_bad_classification_targets(digits, digits_mlp, target, message):
    X_train, _, y_train, _ = digits
    sparse = compress(digits_mlp, X_train, 0.3)
    before = copy.deepcopy(sparse)
    with pytest.raises(ValueError, match=message):
        sparse.fine_tune(X_train, target(y_train))
    assert_same_pattern(before, sparse)
    for W0, W1 in zip(before.coefs_, sparse.coefs_, strict=True):
        np.testing.assert_array_equal(W1.data, W0.data)


def test_bad_regression_and_multilabel_targets(regression_data, digits):
    X, weights = regression_data
    y = X @ weights
    sparse = compress(MLPRegressor(hidden_layer_sizes=(8,), max_iter=50, random_state=0).fit(X, y), X, 0.5)
    with pytest.raises(ValueError, match="numeric targets; y has dtype <U"):
        sparse.fine_tune(X, y.astype(str))
    with pytest.raises(ValueError, match=r"1 output\(s\); y has shape \(600, 2\)"):
        sparse.fine_tune(X, np.column_stack([y, y]))
    with pytest.raises(ValueError, match="NaN"):
        sparse.fine_tune(X, np.where(y > 0, np.nan, y))

    poisson = MLPRegressor(hidden_layer_sizes=(8,), loss="poisson", max_iter=50, random_state=0)
    sparse = compress(poisson.fit(X, np.exp(0.1 * y)), X, 0.5)
    with pytest.raises(ValueError, match="non-negative targets"):
        sparse.fine_tune(X, y)

    X_train, _, y_train, _ = digits
    Y = np.column_stack([y_train % 2, y_train >= 5]).astype(int)
    sparse = compress(MLPClassifier((8,), max_iter=20, random_state=0).fit(X_train, Y), X_train, 0.5)
    with pytest.raises(ValueError, match=r"indicator matrix of shape \(n_samples, 2\)"):
        sparse.fine_tune(X_train, y_train)
    with pytest.raises(ValueError, match="only 0 and 1"):
        sparse.fine_tune(X_train, 2 * Y)


def test_bad_parameters(digits, digits_mlp):
    X_train, _, y_train, _ = digits
    sparse = compress(digits_mlp, X_train, 0.3)
    with pytest.raises(ValueError, match="epochs"):
        sparse.fine_tune(X_train, y_train, epochs=0)
    with pytest.raises(ValueError, match="backend"):
        sparse.fine_tune(X_train, y_train, backend="jax")
    with pytest.raises(ValueError, match="features"):
        sparse.fine_tune(X_train[:, :10], y_train)


def test_progress_bar_shows_losses(digits, digits_mlp, capsys):
    X_train, _, y_train, _ = digits
    sparse = compress(digits_mlp, X_train, 0.3)
    sparse.fine_tune(X_train, y_train, epochs=1, random_state=0, verbose=1)
    err = capsys.readouterr().err
    assert "fine-tuning" in err and "val_loss=" in err


def test_network_level_function_without_early_stopping():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 4))
    Y = X[:, :1] ** 2
    coefs = [
        sp.random_array((4, 16), density=0.5, rng=0, format="csr"),
        sp.random_array((16, 1), density=0.5, rng=1, format="csr"),
    ]
    intercepts = [np.where(np.arange(16) % 2, 0.1, 0.0), np.zeros(1)]
    history = fine_tune_network(
        coefs, intercepts, X, Y, activation="tanh", loss="squared_error",
        settings=FineTuneSettings(epochs=3, early_stopping=False, random_state=0, backend="numpy"),
    )
    assert isinstance(history, FineTuneHistory)
    assert history.n_epochs == 3 and history.best_epoch == 3
    assert history.validation_loss_curve == [] and history.validation_indices.size == 0
    np.testing.assert_array_equal(intercepts[0] == 0, np.arange(16) % 2 == 0)



def small_sparse_network():
    coefs = [
        sp.random_array((4, 16), density=0.5, rng=0, format="csr"),
        sp.random_array((16, 2), density=0.5, rng=1, format="csr"),
    ]
    return coefs, [np.full(16, 0.1), np.zeros(2)]


def test_same_random_state_gives_the_same_weights():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    Y = np.column_stack([X[:, 0] ** 2, X[:, 1]])
    runs = []
    for random_state in (0, 0, 1):
        coefs, intercepts = small_sparse_network()
        history = fine_tune_network(
            coefs, intercepts, X, Y, activation="relu", loss="squared_error",
            settings=FineTuneSettings(epochs=2, batch_size=16, random_state=random_state, backend="numpy"),
        )
        runs.append((coefs, history))
    (first, first_history), (again, again_history), (other, other_history) = runs
    for W_first, W_again, W_other in zip(first, again, other, strict=True):
        np.testing.assert_array_equal(W_again.data, W_first.data)
        assert not np.array_equal(W_other.data, W_first.data)
    np.testing.assert_array_equal(again_history.validation_indices, first_history.validation_indices)
    assert set(other_history.validation_indices) != set(first_history.validation_indices)


def test_validation_split_without_strata_when_a_class_is_too_rare():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 4))
    labels = np.repeat([0, 1], 50)
    labels[0] = 2  # one member: no stratified split can hold it out
    Y = np.eye(3)[labels][:, :2]
    coefs, intercepts = small_sparse_network()
    history = fine_tune_network(
        coefs, intercepts, X, Y, activation="relu", loss="binary_cross_entropy",
        stratify=labels, settings=FineTuneSettings(epochs=1, random_state=0, backend="numpy"),
    )
    assert history.validation_indices.size == 20
    assert np.unique(history.validation_indices).size == 20


# -- never worse than the start, the one-shot model kept -----------------------


@pytest.fixture(scope="module")
def refitted(digits, digits_mlp):
    """A compression with the least-squares re-fit: a good one-shot model that training still improves."""
    X_train, _, _, _ = digits
    return CoreNetCompressor(keep_ratio=0.2, method="wanda", random_state=0).fit_transform(digits_mlp, X_train)


def validation_accuracy(model, X, y, history):
    rows = history.validation_indices
    return model.score(X[rows], y[rows])


@pytest.mark.parametrize("init", ["current", "selected"])
def test_diverging_training_returns_the_model_as_it_was(digits, refitted, init):
    X_train, _, y_train, _ = digits
    sparse = copy.deepcopy(refitted)
    # a step this large throws every epoch far from any useful network
    sparse.fine_tune(X_train, y_train, init=init, learning_rate=5.0, epochs=5, random_state=0)
    history = sparse.fine_tune_history_
    assert history.init == init
    assert max(history.validation_score_curve) < history.initial_validation_score - 0.2
    assert history.best_epoch == 0
    assert history.best_validation_score == history.initial_validation_score
    for W, W0 in zip(sparse.coefs_, refitted.coefs_, strict=True):
        np.testing.assert_array_equal(W.data, W0.data)
    for b, b0 in zip(sparse.intercepts_, refitted.intercepts_, strict=True):
        np.testing.assert_array_equal(b, b0)
    np.testing.assert_array_equal(sparse.predict_proba(X_train), refitted.predict_proba(X_train))
    assert validation_accuracy(sparse, X_train, y_train, history) == history.initial_validation_score
    # nothing changed, so nothing to keep and the start before the re-fit is still there
    assert "one_shot_estimator_" not in sparse.__dict__
    assert sparse.selected_values_ is not None


def test_non_finite_weights_stop_training_with_a_warning(digits, refitted):
    X_train, _, y_train, _ = digits
    sparse = copy.deepcopy(refitted)
    with pytest.warns(ConvergenceWarning, match="diverged at epoch 1"):
        sparse.fine_tune(X_train, y_train, init="current", learning_rate=1e300, random_state=0)
    history = sparse.fine_tune_history_
    assert history.diverged_epoch == 1 and history.n_epochs == 1 and history.best_epoch == 0
    assert all(np.all(np.isfinite(W.data)) for W in sparse.coefs_)
    np.testing.assert_array_equal(sparse.predict_proba(X_train), refitted.predict_proba(X_train))
    # without a validation split as well: the last finite epoch is kept
    sparse = copy.deepcopy(refitted)
    with pytest.warns(ConvergenceWarning, match="diverged"):
        sparse.fine_tune(X_train, y_train, init="current", learning_rate=1e300, early_stopping=False)
    assert sparse.fine_tune_history_.best_epoch == 0
    np.testing.assert_array_equal(sparse.predict_proba(X_train), refitted.predict_proba(X_train))


@pytest.mark.parametrize("init", ["current", "selected"])
def test_never_worse_on_the_validation_split(digits, digits_mlp, init):
    X_train, _, y_train, _ = digits
    for keep_ratio in (0.05, 0.3):
        given = CoreNetCompressor(keep_ratio=keep_ratio, random_state=0).fit_transform(digits_mlp, X_train)
        sparse = copy.deepcopy(given)
        sparse.fine_tune(X_train, y_train, init=init, epochs=15, random_state=0)
        history = sparse.fine_tune_history_
        start = validation_accuracy(given, X_train, y_train, history)
        assert history.initial_validation_score == start
        assert history.best_epoch == best_of(history)
        assert validation_accuracy(sparse, X_train, y_train, history) == history.best_validation_score >= start


def test_one_shot_model_is_kept(digits, refitted):
    X_train, X_test, y_train, y_test = digits
    sparse = copy.deepcopy(refitted)
    one_shot_proba = refitted.predict_proba(X_test)
    # what existing code does: fine-tune in place, then use the model
    returned = sparse.fine_tune(X_train, y_train, init="current", epochs=10, learning_rate=1e-2, random_state=0)
    assert returned is sparse and sparse.fine_tune_history_.best_epoch > 0
    # the model scored is the fine-tuned one
    network_labels = sparse.classes_[np.argmax(sparse.to_network().forward(X_test), axis=1)]
    assert sparse.score(X_test, y_test) == np.mean(network_labels == y_test)
    assert not np.array_equal(sparse.predict_proba(X_test), one_shot_proba)
    # ... and the model as compression made it is still there, whole
    one_shot = sparse.one_shot_estimator_
    assert type(one_shot) is type(sparse) and "fine_tune_history_" not in one_shot.__dict__
    np.testing.assert_array_equal(one_shot.predict_proba(X_test), one_shot_proba)
    assert one_shot.selected_values_ is not None
    assert one_shot.nnz_ == sparse.nnz_

    # a second fine-tuning keeps the first one-shot model, not the fine-tuned one
    sparse.fine_tune(X_train, y_train, init="selected", early_stopping=False, epochs=1, random_state=1)
    assert sparse.one_shot_estimator_ is one_shot
    # training started from the values before the re-fit: "auto" will not restart from them
    assert sparse.selected_values_ is None
    with pytest.raises(ValueError, match="init='selected'"):
        sparse.fine_tune(X_train, y_train, init="selected")
    # saved and loaded with the model
    loaded = pickle.loads(pickle.dumps(sparse))
    np.testing.assert_array_equal(loaded.one_shot_estimator_.predict_proba(X_test), one_shot_proba)
    np.testing.assert_array_equal(loaded.predict_proba(X_test), sparse.predict_proba(X_test))


def test_one_shot_model_dropped_or_left_alone_on_request(digits, refitted):
    X_train, _, y_train, _ = digits
    sparse = copy.deepcopy(refitted)
    sparse.fine_tune(X_train, y_train, keep_one_shot=False, init="current", epochs=5,
                     learning_rate=1e-2, random_state=0)
    assert sparse.fine_tune_history_.best_epoch > 0
    assert sparse.one_shot_estimator_ is None
    # a later call cannot take the fine-tuned model for the one-shot one
    sparse.fine_tune(X_train, y_train, init="current", epochs=2, learning_rate=1e-2, random_state=0)
    assert sparse.one_shot_estimator_ is None

    # a fine-tuned copy, the model itself unchanged
    original = copy.deepcopy(refitted)
    tuned = clone(original).fine_tune(X_train, y_train, keep_one_shot=False, epochs=5, random_state=0)
    assert tuned is not original and "fine_tune_history_" not in original.__dict__
    np.testing.assert_array_equal(original.predict_proba(X_train), refitted.predict_proba(X_train))


def test_training_from_the_selected_values_is_judged_against_the_given_model(digits, refitted):
    X_train, _, y_train, _ = digits
    sparse = copy.deepcopy(refitted)
    sparse.fine_tune(X_train, y_train, init="selected", epochs=3, random_state=0)
    history = sparse.fine_tune_history_
    # epoch 0 is the re-fitted model as given, not the start of training
    rows = history.validation_indices
    assert history.initial_validation_score == refitted.score(X_train[rows], y_train[rows])
    # training restarted from the original network's values, far below it
    assert history.validation_score_curve[0] < history.initial_validation_score


def test_auto_batch_size_is_sized_by_the_training_rows():
    assert resolve_batch_size("auto", 100) == 16
    assert resolve_batch_size("auto", 10) == 10
    assert resolve_batch_size("auto", 2_000) == 40
    assert resolve_batch_size("auto", 60_000) == 200
    assert resolve_batch_size(64, 50) == 50


def test_auto_learning_rate_falls_with_the_steps_per_epoch():
    def auto(n_train, batch_size="auto"):
        return resolve_learning_rate("auto", n_train, resolve_batch_size(batch_size, n_train))

    # up to 50 mini-batches per epoch (10,000 rows at the automatic batch size): 1e-2
    assert auto(100) == auto(2_000) == auto(10_000) == 1e-2
    # beyond, in proportion to the steps: 48,000 rows are 240 batches of 200
    assert auto(48_000) == pytest.approx(1e-2 * 50 / 240)
    # never below 1e-3, from 500 steps on
    assert auto(100_000) == auto(1_000_000) == 1e-3
    # smaller batches of the same rows: more steps, smaller steps
    assert auto(2_000, batch_size=20) == pytest.approx(1e-2 / 2)
    assert resolve_learning_rate(0.05, 48_000, 200) == 0.05


def test_fine_tuning_records_the_learning_rate_it_used(digits, digits_mlp):
    X_train, _, y_train, _ = digits
    sparse = CoreNetCompressor(keep_ratio=0.2, random_state=0).fit_transform(digits_mlp, X_train)
    sparse.fine_tune(X_train, y_train, epochs=1, batch_size=5, random_state=0)
    history = sparse.fine_tune_history_
    n_train = X_train.shape[0] - history.validation_indices.size
    assert history.learning_rate == pytest.approx(1e-2 * 50 / -(-n_train // 5))
    with pytest.raises(ValueError, match="learning_rate"):
        sparse.fine_tune(X_train, y_train, learning_rate="fast")
