"""A corrupt or foreign saved model is refused with a ValueError before anything is built.

Each case takes the state a real compressed model saves, corrupts one field
and checks that ``__setstate__`` (what pickle and joblib call), pickle itself
and :func:`sklearn_corenet.load` of a skops file holding that state all raise
a ValueError naming the problem, instead of crashing at ``predict`` or
allocating what the file declares.
"""

import copy
import io
import pickle
import tracemalloc

import numpy as np
import pytest
from sklearn.neural_network import MLPClassifier, MLPRegressor

from sklearn_corenet import CoreNetCompressor, SparseMLPClassifier, dump, load
from sklearn_corenet.core import OutputHead
from tests._quiet import quiet

CORRUPT = "corrupt or was not written by sklearn-corenet"



@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6))
    return X, np.array(["a", "b", "c"])[np.argmax(X[:, :3], axis=1)], X[:, 0] - X[:, 1]


@pytest.fixture(scope="module")
def models(data):
    """Compressed models whose pattern is stored as column indices, and as a bitmask."""
    X, labels, values = data
    small = {"hidden_layer_sizes": (40, 40), "max_iter": 60, "random_state": 0}
    classifier = quiet(MLPClassifier(**small).fit, X, labels)
    regressor = quiet(MLPRegressor(**small).fit, X, values)
    models = {
        "columns": quiet(CoreNetCompressor(keep_ratio=0.05, random_state=0).fit_transform, classifier, X),
        "mask": quiet(CoreNetCompressor(keep_ratio=1.0, random_state=0).fit_transform, classifier, X),
        "regressor": quiet(CoreNetCompressor(keep_ratio=0.05, random_state=0).fit_transform, regressor, X),
    }
    assert "columns" in models["columns"].__getstate__()["_packed_layers"]
    assert "mask" in models["mask"].__getstate__()["_packed_layers"]
    return models


def _packed(state):
    return state["_packed_layers"]


def _set_packed(key, value):
    def corrupt(state):
        _packed(state)[key] = value(_packed(state)[key]) if callable(value) else value

    return corrupt


def _column_beyond_the_layer(state):
    columns = _packed(state)["columns"].copy()
    columns[0] = 200  # the first layer has 40 outputs (uint8 holds 200)
    _packed(state)["columns"] = columns


def _bias_column_beyond_the_last_layer(state):
    columns = _packed(state)["columns"].copy()
    columns[-1] = 3  # the last row is the output layer's biases: 3 outputs
    _packed(state)["columns"] = columns


def _negative_count(state):
    counts = _packed(state)["row_counts"].astype(np.int64)
    counts[0] = -1
    _packed(state)["row_counts"] = counts


def _count_more_than_stored(state):
    counts = _packed(state)["row_counts"].copy()
    counts[0] += 1
    _packed(state)["row_counts"] = counts


def _shape(layer, shape):
    def corrupt(state):
        _packed(state)["shapes"][layer] = shape

    return corrupt


def _head(**changes):
    def corrupt(state):
        head = state["head_"]
        state["head_"] = OutputHead.__new__(OutputHead)  # as skops builds it: no __post_init__
        state["head_"].__dict__.update({**head.__dict__, **changes})

    return corrupt


def _set(key, value):
    def corrupt(state):
        state[key] = value

    return corrupt


# the model, the corruption, what the message says
CASES = {
    "column index beyond its layer": ("columns", _column_beyond_the_layer, "column index 200, beyond its layer's 40"),
    "bias column beyond the output layer": ("columns", _bias_column_beyond_the_last_layer, "column index 3"),
    "huge declared shape, first layer": ("columns", _shape(0, [6, 2**34]), r"shape \[6, 17179869184\]"),
    "huge declared shape, last layer": ("columns", _shape(2, [40, 2**34]), "not two widths"),
    "wider output than the head": ("columns", _shape(2, [40, 2**30]), "n_outputs_ is 3"),
    "layers that do not chain": ("columns", _shape(1, [41, 40]), "layer 1 takes 41 inputs but layer 0 has 40"),
    "zero width": ("columns", _shape(1, [40, 0]), "not two widths"),
    "not a pair": ("columns", _shape(0, [6]), "not two widths"),
    "a width that is not an integer": ("columns", _shape(0, [6.0, 40]), "not two widths"),
    "no shapes": ("columns", _set_packed("shapes", []), "not a non-empty list"),
    "object values": ("columns", _set_packed("values", lambda v: v.astype(object)), "values is an array of dtype object"),
    "integer values": ("columns", _set_packed("values", lambda v: v.astype(np.int64)), "not a 1-d array of floating"),
    "half-precision values": ("columns", _set_packed("values", lambda v: v.astype(np.float16)), "dtype float16"),
    "half-precision dtype name": ("columns", _set_packed("coef_dtype", "<f2"), "coef_dtype is '<f2'"),
    "2-d values": ("columns", _set_packed("values", lambda v: v.reshape(1, -1)), "not a 1-d array"),
    "fewer values than entries": ("columns", _set_packed("values", lambda v: v[:-1]), "entries but"),
    "object dtype name": ("columns", _set_packed("coef_dtype", "O"), "coef_dtype is 'O', not a floating"),
    "unknown dtype name": ("columns", _set_packed("intercept_dtype", "nonsense"), "intercept_dtype is 'nonsense'"),
    "float column indices": ("columns", _set_packed("columns", lambda c: c.astype(np.float64)), "integer column indices"),
    "object column indices": ("columns", _set_packed("columns", lambda c: c.astype(object)), "integer column indices"),
    "negative count": ("columns", _negative_count, "row_counts holds -1"),
    "counts that add up to more entries": ("columns", _count_more_than_stored, "adds up to"),
    "counts for too few rows": ("columns", _set_packed("row_counts", lambda c: c[:-1]), "row_counts has"),
    "huge unsigned column index": ("columns", _set_packed("columns", lambda c: c.astype(np.uint64) + np.uint64(2**63)), "columns holds"),
    "mask of the wrong size": ("mask", _set_packed("mask", lambda m: m[:-1]), "the mask holds"),
    "mask of another dtype": ("mask", _set_packed("mask", lambda m: m.astype(np.uint16)), "the mask holds"),
    "mask with a shape it does not fit": ("mask", _shape(2, [40, 300]), "n_outputs_ is 3"),
    "packed layers that are not a dict": ("columns", _set("_packed_layers", [1, 2]), "not a dict"),
    "weights stored unpacked": ("columns", _set("coefs_", []), "stored unpacked"),
    "unknown hidden activation": ("columns", _set("activation", "gelu"), "activation is 'gelu'"),
    "unknown output activation": ("columns", _set("out_activation_", "sigmoid"), "out_activation_ is 'sigmoid'"),
    "missing activation": ("columns", lambda state: state.pop("activation"), "activation is missing"),
    "n_features_in_ against the first layer": ("columns", _set("n_features_in_", 7), "n_features_in_ is 7"),
    "n_outputs_ against the last layer": ("columns", _set("n_outputs_", 4), "n_outputs_ is 4"),
    "n_layers_": ("columns", _set("n_layers_", 3), "n_layers_ is 3"),
    "hidden_layer_sizes_": ("columns", _set("hidden_layer_sizes_", (40, 41)), r"hidden_layer_sizes_ is \(40, 41\)"),
    "n_params_original_ of zero": ("columns", _set("n_params_original_", 0), "not a positive count"),
    "feature names of another length": ("columns", _set("feature_names_in_", np.array(["x"], dtype=object)), "feature_names_in_"),
    "classes against the outputs": ("columns", _head(classes=np.array(["a", "b"])), "has 2 classes"),
    "no classes": ("columns", _head(classes=None), "not a non-empty 1-d array"),
    "unknown head kind": ("columns", _head(kind="ordinal"), "kind 'ordinal'"),
    "a regression head on a classifier": ("columns", _head(kind="regression"), "cannot have a regression head"),
    "a classification head on a regressor": ("regressor", _head(kind="binary", classes=np.array([0, 1])), "cannot have a binary head"),
    "a head without its kind": ("columns", lambda state: state["head_"].__dict__.pop("kind"), "head_ has kind None"),
    "a threshold that is not a number": ("columns", _head(threshold="0.5"), "threshold '0.5'"),
    "a head that is not one": ("columns", _set("head_", "multiclass"), "not an OutputHead"),
    "an attribute shadowing a method": ("columns", _set("predict", np.zeros(3)), r"sets \['predict'\]"),
    "selected values of other sizes": ("columns", _set("selected_values_", [(np.zeros(1), np.zeros(1))] * 3), "selected_values_ of layer 0"),
    "a one-shot model of another class": ("columns", _set("one_shot_estimator_", "model"), "one_shot_estimator_ is a str"),
}


def _corrupted(model, corrupt):
    state = copy.deepcopy(model.__getstate__())
    corrupt(state)
    return state


@pytest.mark.parametrize("case", sorted(CASES))
def test_corrupt_state_is_refused_by_setstate_and_pickle(models, case):
    name, corrupt, message = CASES[case]
    model = models[name]
    state = _corrupted(model, corrupt)
    kept = copy.deepcopy(state)
    empty = type(model).__new__(type(model))
    with pytest.raises(ValueError, match=CORRUPT) as caught:
        empty.__setstate__(state)
    assert caught.match(message)
    assert "coefs_" not in empty.__dict__  # nothing was built
    # the state handed in is left as it was
    assert pickle.dumps(state) == pickle.dumps(kept)

    class Corrupted:  # pickles as the model's class, with the corrupt state
        def __reduce__(self):
            return (type(model).__new__, (type(model),), state)

    with pytest.raises(ValueError, match=message):
        pickle.loads(pickle.dumps(Corrupted()))


def _skops_file(model, state, monkeypatch):
    """A file written by ``dump`` for ``model`` with ``state`` as its saved state."""
    buffer = io.BytesIO()
    with monkeypatch.context() as patch:
        patch.setattr(type(model), "__getstate__", lambda self: state)
        dump(model, buffer)
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize("case", sorted(CASES))
def test_corrupt_skops_file_is_refused_by_load(models, case, monkeypatch):
    name, corrupt, message = CASES[case]
    model = models[name]
    buffer = _skops_file(model, _corrupted(model, corrupt), monkeypatch)
    with pytest.raises(ValueError, match=CORRUPT) as caught:
        load(buffer)
    assert caught.match(message)


def test_the_uncorrupted_state_still_loads(models, data, monkeypatch):
    X, _, _ = data
    for model in models.values():
        loaded = load(_skops_file(model, copy.deepcopy(model.__getstate__()), monkeypatch))
        np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


@pytest.mark.parametrize(
    "case", ["huge declared shape, first layer", "huge declared shape, last layer", "wider output than the head"]
)
def test_a_declared_shape_is_not_allocated(models, case):
    # refused before anything of the declared size is made: the whole load
    # takes less memory than 1 MiB (a 2**30 bias alone would take 8 GiB)
    name, corrupt, _ = CASES[case]
    state = _corrupted(models[name], corrupt)
    empty = SparseMLPClassifier.__new__(SparseMLPClassifier)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=CORRUPT):
            empty.__setstate__(state)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2**20
