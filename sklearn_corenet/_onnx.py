"""ONNX export of the compressed estimators through skl2onnx.

skl2onnx converts a scikit-learn model (and a ``Pipeline`` of them) when it
knows a shape calculator and a converter for every step.
:func:`register_onnx_converters` registers both for
:class:`SparseMLPClassifier`, :class:`SparseMLPRegressor`,
:class:`CoreNetClassifier` and :class:`CoreNetRegressor` (the meta-estimators
convert their ``compressed_``); :func:`to_onnx` registers them and converts.
Requires the ``onnx`` extra (skl2onnx; onnxruntime to run the result).

The graph itself is built in :mod:`sklearn_corenet.export._onnx`.
"""

from sklearn.utils.validation import check_is_fitted

from .compressor._meta import CoreNetClassifier, CoreNetRegressor
from .export._onnx import (
    calculate_classifier_shapes,
    calculate_regressor_shapes,
    convert_classifier,
    convert_regressor,
)
from .models._sparse_mlp import SparseMLPClassifier, SparseMLPRegressor

#: Options of the classifier converters (skl2onnx's ``options=``).
CLASSIFIER_OPTIONS = {
    "zipmap": [True, False, "columns"],
    "nocl": [True, False],
    "sparse_weights": ["auto", True, False],
}
#: Options of the regressor converters.
REGRESSOR_OPTIONS = {"sparse_weights": ["auto", True, False]}


def _import_skl2onnx():
    try:
        import skl2onnx
    except ImportError as error:
        raise ImportError(
            "ONNX export needs skl2onnx: pip install 'sklearn-corenet[onnx]'"
        ) from error
    return skl2onnx


def register_onnx_converters():
    """Teach skl2onnx the library's estimators (``onnx`` extra).

    After this call, ``skl2onnx.to_onnx`` and ``convert_sklearn`` convert
    :class:`SparseMLPClassifier`, :class:`SparseMLPRegressor`,
    :class:`CoreNetClassifier`, :class:`CoreNetRegressor` and any
    ``Pipeline`` (or other supported composition) holding them. Calling it
    again is harmless.

    Classifiers take skl2onnx's options ``zipmap`` (probabilities as a list
    of dicts, the default, or a tensor with ``False``) and ``nocl`` (class
    indices as labels); every estimator takes ``sparse_weights`` ("auto":
    a weight matrix is stored as an ONNX sparse constant when that is
    smaller; True, False).

    See Also
    --------
    to_onnx : Registers and converts in one call.
    """
    skl2onnx = _import_skl2onnx()
    for cls, alias in [
        (SparseMLPClassifier, "SklearnCoreNetSparseMLPClassifier"),
        (CoreNetClassifier, "SklearnCoreNetClassifier"),
    ]:
        skl2onnx.update_registered_converter(
            cls, alias, calculate_classifier_shapes, convert_classifier, options=CLASSIFIER_OPTIONS
        )
    for cls, alias in [
        (SparseMLPRegressor, "SklearnCoreNetSparseMLPRegressor"),
        (CoreNetRegressor, "SklearnCoreNetRegressor"),
    ]:
        skl2onnx.update_registered_converter(
            cls, alias, calculate_regressor_shapes, convert_regressor, options=REGRESSOR_OPTIONS
        )


def to_onnx(model, X=None, **kwargs):
    """Convert a compressed model, a meta-estimator or a Pipeline to ONNX.

    :func:`register_onnx_converters`, then ``skl2onnx.to_onnx``.

    Parameters
    ----------
    model : estimator
        A compressed estimator, a ``CoreNetClassifier`` /
        ``CoreNetRegressor``, or a scikit-learn composition holding them.
    X : array-like, default=None
        A few rows of input: their dtype gives the graph's input type
        (float32 or float64). Without it, pass ``initial_types``.
    **kwargs : dict
        Passed to ``skl2onnx.to_onnx`` (``options={id(model): {"zipmap":
        False}}``, ``target_opset``, ...).

    Returns
    -------
    onnx.ModelProto
        Run it with ``onnxruntime.InferenceSession(model.SerializeToString())``.
        A classifier's probabilities have the columns of its
        ``predict_proba`` (two for a model fitted on one class, which then
        converts with ``zipmap=False`` only).

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If ``model`` is not fitted (checked before anything is converted).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.neural_network import MLPClassifier
    >>> from sklearn_corenet import CoreNetCompressor, to_onnx
    >>> X, y = load_digits(return_X_y=True)
    >>> X = (X / 16).astype("float32")
    >>> mlp = MLPClassifier((32,), max_iter=50, random_state=0).fit(X, y)
    >>> sparse = CoreNetCompressor(keep_ratio=0.2, random_state=0).fit_transform(mlp, X)
    >>> onx = to_onnx(sparse, X[:1], options={"zipmap": False})
    >>> [output.name for output in onx.graph.output]
    ['label', 'probabilities']
    """
    skl2onnx = _import_skl2onnx()
    # skl2onnx reads classes_ before any converter runs, and reports an
    # unfitted model as a RuntimeError about the number of classes
    check_is_fitted(
        model,
        msg=(
            "this %(name)s is not fitted; ONNX converts fitted models: a compressed "
            "estimator made by CoreNetCompressor.transform, a fitted CoreNetClassifier or "
            "CoreNetRegressor, or a fitted Pipeline holding them"
        ),
    )
    register_onnx_converters()
    return skl2onnx.to_onnx(model, X, **kwargs)
