"""Saved models across versions: the version is recorded, older files still load.

``tests/data/saved_0_1/`` holds a compressed classifier (skops and pickle), a
certified ``CoreNetClassifier`` (skops), and a pickle of a fitted
``CoreNetCompressor`` with a ``CoreNetClassifier`` in 0.1's default (theory)
mode, saved by version 0.1, before the modules moved into subpackages, with
their probabilities on digits rows 1000-1039.
"""

import gzip
import io
import json
import pickle
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_digits

from sklearn_corenet import CoreNetCompressor, __version__, dump, load
from sklearn_corenet._persistence import VERSION_ENTRY, saved_version
from sklearn_corenet.core._version import InconsistentVersionWarning

pytest.importorskip("skops.io")

SAVED = Path(__file__).parent / "data" / "saved_0_1"


@pytest.fixture(scope="module")
def rows():
    X, _ = load_digits(return_X_y=True)
    return X[1000:1040] / 16


@pytest.fixture(scope="module")
def expected():
    with np.load(SAVED / "expected.npz") as data:
        return dict(data)


@pytest.mark.parametrize("name", ["compressed", "meta"])
def test_skops_files_of_version_0_1_load_and_predict_as_before(name, rows, expected):
    assert saved_version(SAVED / f"{name}.skops") is None
    with pytest.warns(FutureWarning, match="saved by sklearn-corenet 0.1.*save it again") as caught:
        model = load(SAVED / f"{name}.skops")
    # one warning for the file, not one per class it holds
    assert sum("0.1" in str(w.message) for w in caught) == 1
    np.testing.assert_allclose(model.predict_proba(rows), expected[name], rtol=1e-12, atol=1e-12)
    # hyperparameters added since 0.1 take their defaults: the model clones
    clone(model).get_params()
    # saved again, it loads without a word
    buffer = io.BytesIO()
    dump(model, buffer)
    buffer.seek(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = load(buffer)
    np.testing.assert_array_equal(again.predict_proba(rows), model.predict_proba(rows))


def test_pickles_of_version_0_1_load_and_warn(rows, expected):
    with pytest.warns(FutureWarning, match="sklearn_corenet._sparse_mlp.SparseMLPClassifier"):
        with pytest.warns(InconsistentVersionWarning, match="saved by sklearn-corenet 0.1"):
            model = pickle.loads((SAVED / "compressed.pkl").read_bytes())
    np.testing.assert_allclose(model.predict_proba(rows), expected["compressed"], rtol=1e-12, atol=1e-12)


@pytest.fixture(scope="module")
def compressed(digits, digits_mlp):
    X, _ = digits
    return CoreNetCompressor(keep_ratio=0.2, random_state=0).fit_transform(digits_mlp, X)


def test_dump_records_the_version(compressed):
    buffer = io.BytesIO()
    dump(compressed, buffer)
    buffer.seek(0)
    assert saved_version(buffer) == __version__
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        assert json.loads(archive.read(VERSION_ENTRY))["library"] == "sklearn-corenet"


def _with_version(data, version):
    """The archive ``data`` with its recorded version replaced."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            content = source.read(item)
            if item.filename == VERSION_ENTRY:
                content = json.dumps({"library": "sklearn-corenet", "version": version})
            target.writestr(item, content)
    return out.getvalue()


def test_a_file_of_another_version_warns_once(compressed, digits):
    buffer = io.BytesIO()
    dump(compressed, buffer)
    other = _with_version(buffer.getvalue(), "9.9.9")
    with pytest.warns(InconsistentVersionWarning, match="saved by sklearn-corenet 9.9.9") as caught:
        model = load(io.BytesIO(other))
    assert len([w for w in caught if w.category is InconsistentVersionWarning]) == 1
    np.testing.assert_array_equal(model.predict(digits[0]), compressed.predict(digits[0]))


def test_pickles_record_the_version(compressed):
    restored = pickle.loads(pickle.dumps(compressed))
    assert "_sklearn_corenet_version" not in restored.__dict__
    state = compressed.__getstate__()
    assert state["_sklearn_corenet_version"] == __version__
    state["_sklearn_corenet_version"] = "0.0.1"
    clone = type(compressed).__new__(type(compressed))
    with pytest.warns(InconsistentVersionWarning, match="0.0.1"):
        clone.__setstate__(state)


def test_compressed_files_are_smaller_and_load_alike(compressed, digits):
    small, plain = io.BytesIO(), io.BytesIO()
    dump(compressed, small)
    dump(compressed, plain, compress=False)
    # skops' schema is text: deflated, the file is about the pickle's size
    assert len(small.getvalue()) < 0.75 * len(plain.getvalue())
    assert len(small.getvalue()) < 1.5 * len(pickle.dumps(compressed))
    for buffer in (small, plain):
        buffer.seek(0)
        np.testing.assert_array_equal(load(buffer).predict(digits[0]), compressed.predict(digits[0]))


def test_a_file_that_is_not_an_archive_is_refused():
    with pytest.raises(ValueError, match="not a file written by"):
        load(io.BytesIO(b"not a zip"))


def test_a_fitted_compressor_and_the_old_default_of_version_0_1(rows, expected):
    """A pickled fitted compressor (its plan names many 0.1 modules) still draws;
    keep_ratio=None, 0.1's theory mode, stays theory mode."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with gzip.open(SAVED / "fitted.pkl.gz") as file:
            saved = pickle.load(file)
    compressed = saved["compressor"].transform()
    np.testing.assert_allclose(compressed.predict_proba(rows), expected["fitted_compressor"], rtol=1e-12, atol=1e-12)
    meta = saved["theory_meta"]
    assert meta.keep_ratio == "theory" and meta.compressor_.keep_ratio == "theory"
    X, y = load_digits(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        refit = clone(meta).fit(X[:200] / 16, y[:200])
    assert refit.compressor_.certificate_ is None  # theory mode, as when it was saved
