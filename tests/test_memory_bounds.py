"""Memory stays within ``working_memory`` plus the rows used: large inputs are never converted whole.

Calibration data and prediction inputs of another dtype than the network's
(float32 rows for a float64 network, a ``numpy.memmap``, a Dask array) are
read and converted a chunk of rows at a time. Peaks are measured with
tracemalloc, which traces numpy's allocations (a memmap's pages are not
allocations: they are the data, not a copy of it).
"""

import tracemalloc
import warnings

import numpy as np
import pytest
from sklearn import config_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

from sklearn_corenet import CoreNetCompressor

MiB = 2**20
N_ROWS, N_FEATURES = 200_000, 32
WORKING_MEMORY = 4  # MiB
#: What a small network's own arrays (weights, statistics, sampling plans,
#: the compressed model) take besides the data, measured at under 1 MiB.
MODEL_BYTES = 2 * MiB


def _peak(function):
    """The result of ``function()`` and the peak of traced memory above the start, in bytes."""
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        result = function()
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    return result, peak


@pytest.fixture(scope="module")
def regressor():
    """A float64 network (trained on float64 rows) with 32 inputs and 3 outputs."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(500, N_FEATURES))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MLPRegressor(hidden_layer_sizes=(32, 16), max_iter=50, random_state=0).fit(X, X[:, :3])


@pytest.fixture(scope="module")
def memmap(tmp_path_factory):
    """200,000 float32 rows on disk (24 MiB; 49 MiB as the network's float64)."""
    path = tmp_path_factory.mktemp("calibration") / "rows.dat"
    data = np.memmap(path, dtype=np.float32, mode="w+", shape=(N_ROWS, N_FEATURES))
    rng = np.random.default_rng(1)
    for start in range(0, N_ROWS, 50_000):
        data[start : start + 50_000] = rng.normal(size=(50_000, N_FEATURES))
    data.flush()
    del data
    return np.memmap(path, dtype=np.float32, mode="r", shape=(N_ROWS, N_FEATURES))


def _bound(compressor):
    """``working_memory``, the rows compression keeps (S and T, as float64) and the model."""
    used = compressor.calibration_size_ + compressor.amplification_size_ + compressor.validation_size_
    bound = WORKING_MEMORY * MiB + used * N_FEATURES * 8 + MODEL_BYTES
    # the sizes are such that a whole float64 copy would be far beyond it
    assert N_ROWS * N_FEATURES * 8 > 5 * bound
    return bound


def _fit(model, X, **params):
    with config_context(working_memory=WORKING_MEMORY), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # what the tiny network's budget warns about
        return _peak(lambda: CoreNetCompressor(random_state=0, **params).fit(model, X))


@pytest.mark.parametrize(
    "params",
    [
        {"keep_ratio": 0.3},  # the default method: candidates measured, least-squares re-fits
        {"keep_ratio": 0.3, "method": "wanda-search"},  # layer budgets searched on held-out rows
        {"keep_ratio": 0.3, "method": "corenet++"},  # held-out rows T
        {"keep_ratio": 0.3, "method": "neurons+wanda"},  # a pass for the inputs' mean squares
        {"keep_ratio": 0.3, "method": "neurons-thinet"},  # a pass for the activations' Gram matrices
    ],
    ids=["auto", "wanda-search", "corenet++", "neurons+wanda", "neurons-thinet"],
)
def test_fit_on_a_float32_memmap_stays_within_working_memory(regressor, memmap, params):
    compressor, peak = _fit(regressor, memmap, **params)
    assert peak <= _bound(compressor), f"peak {peak / MiB:.1f} MiB"
    with config_context(working_memory=WORKING_MEMORY), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        _, peak = _peak(compressor.transform)  # the re-fit reads every row again, by chunks
    assert peak <= _bound(compressor), f"transform peak {peak / MiB:.1f} MiB"


def test_fit_on_a_dask_array_stays_within_working_memory(regressor, memmap):
    da = pytest.importorskip("dask.array")
    X = da.from_array(memmap, chunks=(20_000, N_FEATURES))
    np.asarray(X[:10])  # Dask's own first-use imports are not the data
    compressor, peak = _fit(regressor, X, keep_ratio=0.3)
    assert peak <= _bound(compressor), f"peak {peak / MiB:.1f} MiB"


def test_compression_of_rows_read_lazily_equals_that_of_the_converted_rows(regressor, memmap):
    # the same rows, converted chunk by chunk or whole, compress to the same weights
    X = memmap[:20_000]
    lazily = CoreNetCompressor(keep_ratio=0.3, method="corenet++", random_state=0).fit_transform(regressor, X)
    whole = CoreNetCompressor(keep_ratio=0.3, method="corenet++", random_state=0).fit_transform(
        regressor, np.asarray(X, dtype=np.float64)
    )
    for a, b in zip(lazily.coefs_ + lazily.intercepts_, whole.coefs_ + whole.intercepts_, strict=True):
        np.testing.assert_array_equal(a.toarray() if hasattr(a, "toarray") else a, b.toarray() if hasattr(b, "toarray") else b)


def test_certified_fit_reads_the_calibration_rows_lazily(regressor, memmap):
    # keep_ratio="certified" (the default) holds out rows to certify: those are
    # used (and counted in the bound), the others are read by chunks
    compressor, peak = _fit(regressor, memmap[:60_000], epsilon=0.9, delta=0.2, validation_fraction=0.05)
    assert compressor.certificate_.holds
    assert peak <= _bound(compressor), f"peak {peak / MiB:.1f} MiB"


# -- prediction ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def classifier():
    rng = np.random.default_rng(0)
    X = rng.random((1000, 256))
    y = (X[:, :8].sum(axis=1) * 2).astype(int) % 5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp = MLPClassifier(hidden_layer_sizes=(64,), max_iter=20, random_state=0).fit(X, y)
        return CoreNetCompressor(keep_ratio=0.2, random_state=0).fit_transform(mlp, X)


def test_predict_proba_converts_float32_rows_chunk_by_chunk(classifier):
    X = np.random.default_rng(2).random((40_000, 256), dtype=np.float32)  # 39 MiB, 78 MiB as float64
    with config_context(working_memory=WORKING_MEMORY):
        proba, peak = _peak(lambda: classifier.predict_proba(X))
    # the outputs, and what the chunks of working_memory take
    bound = proba.nbytes + 2 * WORKING_MEMORY * MiB
    assert X.size * 8 > 5 * bound
    assert peak <= bound, f"peak {peak / MiB:.1f} MiB"
    # the values of a whole conversion, to the bit (C or Fortran order)
    with config_context(working_memory=WORKING_MEMORY):
        np.testing.assert_array_equal(proba, classifier.predict_proba(X.astype(np.float64)))
        rows = X[:3000]
        np.testing.assert_array_equal(
            classifier.predict_proba(np.asfortranarray(rows)),
            classifier.predict_proba(np.asfortranarray(rows, dtype=np.float64)),
        )
        np.testing.assert_array_equal(classifier.predict(X[:5000]), classifier.predict(X[:5000].astype(np.float64)))


def test_rows_beyond_a_float32_models_range_are_refused(classifier):
    model = classifier.astype(np.float32)
    X = np.random.default_rng(3).random((2000, 256))
    X[1500, 7] = 1e300  # finite as float64, infinite as float32
    with config_context(working_memory=1):  # the row is in a later chunk
        with pytest.raises(ValueError, match="infinity or a value too large for dtype\\('float32'\\)"):
            model.predict(X)
