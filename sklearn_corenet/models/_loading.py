"""What a loaded compressed estimator is checked for before it is built.

pickle, joblib and skops all hand a saved estimator's state to
``__setstate__``. A file that was damaged, or written by something else
than this library, must not build an estimator that crashes the
interpreter at ``predict`` (scipy's compiled products do not check their
indices), allocates what the file merely declares, or fails only later:
:func:`loaded_state` checks the packed weights (see
:func:`~._storage.check_packed`) and every attribute ``predict`` relies on
against them, and raises a ValueError naming what is wrong.
"""

import reprlib
from numbers import Real

import numpy as np
from sklearn.base import is_classifier

from ..core._activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS
from ..core._head import HEAD_KINDS, OutputHead
from ._storage import _is_integer, corrupt_file_error, packed_shapes, unpack_layers


def loaded_state(state, estimator):
    """The state of a saved compressed estimator, checked, its layers unpacked.

    Parameters
    ----------
    state : dict
        What ``__getstate__`` saved (``_packed_layers`` for the weights).
    estimator : SparseMLPClassifier or SparseMLPRegressor
        The (empty) instance being loaded: its class says which head the
        state must have. Not modified.

    Returns
    -------
    dict
        A new dict: ``coefs_`` and ``intercepts_`` in place of
        ``_packed_layers``.

    Raises
    ------
    ValueError
        If any structure is corrupt or inconsistent with the others.
    """
    if not isinstance(state, dict):
        raise corrupt_file_error(f"the state is a {type(state).__name__}, not a dict")
    state = dict(state)
    state.pop("_kernel_cache", None)  # derived, never saved
    name = type(estimator).__name__
    # a key naming a method (or no name at all) would shadow the class's code
    shadowing = sorted(
        str(key) for key in state if not isinstance(key, str) or hasattr(type(estimator), key)
    )
    if shadowing:
        raise corrupt_file_error(
            f"the state sets {shadowing}, which are not attributes of a fitted {name}"
        )
    if "coefs_" in state or "intercepts_" in state:
        raise corrupt_file_error("the weights are stored unpacked (coefs_, intercepts_)")
    packed = state.pop("_packed_layers", None)
    if packed is None:
        return state  # an estimator that holds no network (not fitted)
    shapes = packed_shapes(packed)
    # the attributes first: the output width is checked against the head
    # before anything of that size is allocated
    _check_attributes(state, shapes, estimator)
    state["coefs_"], state["intercepts_"] = unpack_layers(packed)
    _check_selected_values(
        state.get("selected_values_"), state["coefs_"], state["intercepts_"]
    )
    # loaded (and checked) by its own __setstate__ already
    one_shot = state.get("one_shot_estimator_")
    if one_shot is not None and not isinstance(one_shot, type(estimator)):
        raise corrupt_file_error(
            f"one_shot_estimator_ is a {type(one_shot).__name__}, not a {name}"
        )
    return state


def _require(state, key, check, expected):
    if key not in state:
        raise corrupt_file_error(f"{key} is missing")
    if not check(state[key]):
        raise corrupt_file_error(f"{key} is {reprlib.repr(state[key])}, not {expected}")
    return state[key]


def _check_attributes(state, shapes, estimator):
    """The attributes ``predict`` reads, against the layer shapes."""
    widths = tuple(n_out for _, n_out in shapes)
    n_features = shapes[0][0]
    required = {
        # attribute: (its check, what it must be)
        "activation": (
            lambda name: isinstance(name, str) and name in HIDDEN_ACTIVATIONS,
            f"one of {HIDDEN_ACTIVATIONS}",
        ),
        "out_activation_": (
            lambda name: isinstance(name, str) and name in OUTPUT_ACTIVATIONS,
            f"one of {OUTPUT_ACTIVATIONS}",
        ),
        "n_features_in_": (
            lambda n: _is_integer(n) and n == n_features,
            f"the first layer's {n_features} inputs",
        ),
        "n_outputs_": (
            lambda n: _is_integer(n) and n == widths[-1],
            f"the last layer's {widths[-1]} outputs",
        ),
        "n_layers_": (
            lambda n: _is_integer(n) and n == len(shapes) + 1,
            f"{len(shapes) + 1} for {len(shapes)} weight layers",
        ),
        "hidden_layer_sizes_": (
            lambda sizes: isinstance(sizes, (tuple, list))
            and all(_is_integer(n) for n in sizes)
            and tuple(sizes) == widths[:-1],
            f"the hidden widths {widths[:-1]}",
        ),
        "n_params_original_": (lambda n: _is_integer(n) and n > 0, "a positive count"),
        "source_info_": (lambda info: isinstance(info, dict), "a dict"),
    }
    for key, (check, expected) in required.items():
        _require(state, key, check, expected)
    names = state.get("feature_names_in_")
    if "feature_names_in_" in state and not (
        isinstance(names, np.ndarray) and names.shape == (n_features,)
    ):
        raise corrupt_file_error(
            f"feature_names_in_ is {reprlib.repr(names)}, not an array of {n_features} "
            "feature names"
        )
    head = _require(
        state, "head_", lambda head: isinstance(head, OutputHead), "an OutputHead"
    )
    _check_head(head, widths[-1], estimator)


def _check_head(head, n_outputs, estimator):
    """The head against the estimator's class and its number of outputs."""
    name = type(estimator).__name__
    # skops rebuilds the head from its stored fields, without __post_init__
    kind = getattr(head, "kind", None)
    if not isinstance(kind, str) or kind not in HEAD_KINDS:
        raise corrupt_file_error(f"head_ has kind {reprlib.repr(kind)}, not one of {HEAD_KINDS}")
    regressor = not is_classifier(estimator)
    if regressor != (kind == "regression"):
        raise corrupt_file_error(f"a {name} cannot have a {kind} head")
    threshold = getattr(head, "threshold", None)
    if not isinstance(threshold, Real) or not np.isfinite(threshold):
        raise corrupt_file_error(
            f"head_ has threshold {reprlib.repr(threshold)}, not a finite number"
        )
    if regressor:
        return
    classes = getattr(head, "classes", None)
    if not isinstance(classes, np.ndarray) or classes.ndim != 1 or classes.size == 0:
        raise corrupt_file_error(
            f"head_ has classes {reprlib.repr(classes)}, not a non-empty 1-d array"
        )
    # the number of classes each kind predicts from n_outputs outputs
    expected = {"binary": (1, 2), "multiclass": (n_outputs,), "multilabel": (n_outputs,)}[kind]
    if kind == "binary" and n_outputs != 1:
        raise corrupt_file_error(f"a binary head has {n_outputs} outputs, not one")
    if classes.size not in expected:
        raise corrupt_file_error(
            f"a {kind} head of {n_outputs} output(s) has {classes.size} classes "
            f"(expected {' or '.join(map(str, expected))})"
        )


def _check_selected_values(selected, coefs, intercepts):
    """``selected_values_`` (saved as None): values for the kept edges of each layer."""
    if selected is None:
        return
    if not isinstance(selected, (list, tuple)) or len(selected) != len(coefs):
        raise corrupt_file_error(f"selected_values_ is not a list of {len(coefs)} layers")
    for layer, (pair, W, b) in enumerate(zip(selected, coefs, intercepts, strict=True)):
        if not (
            isinstance(pair, (list, tuple))
            and len(pair) == 2
            and all(isinstance(a, np.ndarray) and a.dtype.kind == "f" for a in pair)
            and pair[0].shape == (W.nnz,)
            and pair[1].shape == b.shape
        ):
            raise corrupt_file_error(
                f"selected_values_ of layer {layer} are not {W.nnz} weights and "
                f"{b.size} biases"
            )
