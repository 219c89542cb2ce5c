"""The ONNX graph of a compressed network: skl2onnx shape calculators and converters.

The graph computes what ``predict`` and ``predict_proba`` compute: MatMul,
Add and the activation per layer, then the outputs scikit-learn's own MLP
converter gives (a label and the probabilities for classifiers, the values
for regressors). Weight matrices are stored as ONNX sparse constants when
that is smaller than the dense matrix (option ``sparse_weights``)."""

import numpy as np

_HIDDEN_OPS = {"relu": "Relu", "tanh": "Tanh", "logistic": "Sigmoid", "identity": None}


_OUTPUT_OPS = {
    "identity": None,
    "softmax": "Softmax",
    "log_softmax": "LogSoftmax",
    "logistic": "Sigmoid",
    "exp": "Exp",
}


def _compressed(model):
    """The compressed network of a compressed estimator or a meta-estimator."""
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model)
    return getattr(model, "compressed_", model)


def n_probability_columns(model):
    """The columns of ``model.predict_proba``: two for a single output unit.

    A binary head has one output unit, and so has a model fitted on one
    class: ``predict_proba`` returns ``1 - p`` and ``p`` for both, as
    scikit-learn's MLP does.
    """
    return 2 if model.n_outputs_ == 1 else int(model.n_outputs_)


def _output_tensor_type(operator):
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    return DoubleTensorType if isinstance(operator.inputs[0].type, DoubleTensorType) else FloatTensorType


def _label_kind(model, nocl):
    """"int" or "str": the element type of the label output."""
    classes = np.asarray(model.classes_)
    if nocl or model.head_.kind == "multilabel" or classes.dtype.kind in "iub":
        return "int"
    if classes.dtype.kind == "f":
        if not np.all(classes == np.round(classes)):
            raise ValueError(
                f"ONNX labels are integers or strings; the classes {classes} are not "
                "whole numbers"
            )
        return "int"
    return "str"


def calculate_classifier_shapes(operator):
    """Shape calculator: labels (N,) or (N, n_labels), probabilities as ``predict_proba``.

    The probabilities have :func:`n_probability_columns` columns: the
    number of classes, and two for a model fitted on one class (whose
    second column ZipMap cannot label: such a model converts with
    ``zipmap=False`` only).
    """
    from skl2onnx.common.data_types import Int64TensorType, StringTensorType
    from skl2onnx.common.utils import check_input_and_output_numbers

    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=2)
    model = _compressed(operator.raw_operator)
    n_rows = operator.inputs[0].get_first_dimension()
    options = operator.scope_inst.get_options(operator.raw_operator, {"nocl": False, "zipmap": True})
    n_columns = n_probability_columns(model)
    if options["zipmap"] and len(model.classes_) != n_columns:
        raise ValueError(
            f"this classifier has {len(model.classes_)} class(es), {model.classes_}, but "
            f"its predict_proba returns {n_columns} columns (1 - p and p for its single "
            "output), which ZipMap cannot label. Convert it with options={'zipmap': False} "
            "to get the probabilities as a tensor"
        )
    if model.head_.kind == "multilabel":
        operator.outputs[0].type = Int64TensorType([n_rows, int(model.n_outputs_)])
    elif _label_kind(model, options["nocl"]) == "int":
        operator.outputs[0].type = Int64TensorType([n_rows])
    else:
        operator.outputs[0].type = StringTensorType([n_rows])
    operator.outputs[1].type = _output_tensor_type(operator)([n_rows, n_columns])


def calculate_regressor_shapes(operator):
    """Shape calculator: values (N, n_outputs)."""
    from skl2onnx.common.utils import check_input_and_output_numbers

    check_input_and_output_numbers(operator, input_count_range=1, output_count_range=1)
    model = _compressed(operator.raw_operator)
    n_rows = operator.inputs[0].get_first_dimension()
    operator.outputs[0].type = _output_tensor_type(operator)([n_rows, int(model.n_outputs_)])


def _weight_constant(scope, container, W, proto_dtype, numpy_dtype, sparse_weights):
    """The name of a constant holding ``W``: sparse when asked or smaller."""
    from onnx import helper, numpy_helper

    name = scope.get_unique_variable_name("coefficient")
    W = W.tocoo()
    n_entries = W.shape[0] * W.shape[1]
    itemsize = np.dtype(numpy_dtype).itemsize
    if sparse_weights == "auto":
        sparse_weights = W.nnz * (itemsize + 8) < n_entries * itemsize
    if not sparse_weights:
        container.add_initializer(name, proto_dtype, list(W.shape), W.toarray().astype(numpy_dtype).ravel())
        return name
    # ONNX sparse tensors index the flattened dense tensor (int64, row-major)
    order = np.lexsort((W.col, W.row))
    flat = (W.row.astype(np.int64) * W.shape[1] + W.col)[order]
    values = numpy_helper.from_array(W.data[order].astype(numpy_dtype), name=f"{name}_values")
    indices = numpy_helper.from_array(flat, name=f"{name}_indices")
    tensor = helper.make_sparse_tensor(values, indices, list(W.shape))
    container.add_node(
        "Constant", [], [name], sparse_value=tensor, name=scope.get_unique_operator_name("Constant")
    )
    return name


def _forward(scope, operator, container, model, proto_dtype, numpy_dtype):
    """The network's output after the output activation; returns its name."""
    from skl2onnx.common._apply_operation import apply_add, apply_cast

    sparse_weights = container.get_options(operator.raw_operator, {"sparse_weights": "auto"})[
        "sparse_weights"
    ]
    values = scope.get_unique_variable_name("input")
    apply_cast(scope, operator.inputs[0].full_name, values, container, to=proto_dtype)
    last = len(model.coefs_) - 1
    for layer, (W, b) in enumerate(zip(model.coefs_, model.intercepts_, strict=True)):
        weights = _weight_constant(scope, container, W, proto_dtype, numpy_dtype, sparse_weights)
        bias = scope.get_unique_variable_name("intercept")
        container.add_initializer(bias, proto_dtype, [1, len(b)], np.asarray(b, dtype=numpy_dtype))
        product = scope.get_unique_variable_name("product")
        container.add_node(
            "MatMul", [values, weights], product, name=scope.get_unique_operator_name("MatMul")
        )
        values = scope.get_unique_variable_name("layer")
        apply_add(scope, [product, bias], values, container, broadcast=1)
        op_type = _OUTPUT_OPS[model.out_activation_] if layer == last else _HIDDEN_OPS[model.activation]
        if op_type is not None:
            activated = scope.get_unique_variable_name("activation")
            attributes = {"axis": 1} if op_type in ("Softmax", "LogSoftmax") else {}
            container.add_node(
                op_type, values, activated, name=scope.get_unique_operator_name(op_type), **attributes
            )
            values = activated
    return values


def _proto_dtypes(operator):
    from skl2onnx.common.data_types import DoubleTensorType
    from skl2onnx.proto import onnx_proto

    if isinstance(operator.inputs[0].type, DoubleTensorType):
        return onnx_proto.TensorProto.DOUBLE, np.float64
    return onnx_proto.TensorProto.FLOAT, np.float32


def convert_classifier(scope, operator, container):
    """Converter: labels as ``predict``, probabilities as ``predict_proba``."""
    from skl2onnx.common._apply_operation import (
        apply_cast,
        apply_concat,
        apply_identity,
        apply_reshape,
        apply_sub,
    )
    from skl2onnx.proto import onnx_proto

    model = _compressed(operator.raw_operator)
    head = model.head_
    proto_dtype, numpy_dtype = _proto_dtypes(operator)
    output = _forward(scope, operator, container, model, proto_dtype, numpy_dtype)
    labels_name, proba_name = operator.outputs[0].full_name, operator.outputs[1].full_name

    if model.n_outputs_ == 1:
        one = scope.get_unique_variable_name("one")
        container.add_initializer(one, proto_dtype, [], [1])
        negative = scope.get_unique_variable_name("negative_proba")
        apply_sub(scope, [one, output], negative, container, broadcast=1)
        apply_concat(scope, [negative, output], proba_name, container, axis=1)
    else:
        apply_identity(scope, output, proba_name, container)

    if head.kind in ("binary", "multilabel"):
        threshold = scope.get_unique_variable_name("threshold")
        container.add_initializer(threshold, proto_dtype, [], [head.threshold])
        above = scope.get_unique_variable_name("above")
        container.add_node("Greater", [output, threshold], above, name=scope.get_unique_operator_name("Greater"))
        if head.kind == "multilabel":
            apply_cast(scope, above, labels_name, container, to=onnx_proto.TensorProto.INT64)
            return
        index = scope.get_unique_variable_name("class_index")
        apply_cast(scope, above, index, container, to=onnx_proto.TensorProto.INT64)
    else:
        index = scope.get_unique_variable_name("class_index")
        container.add_node(
            "ArgMax", proba_name, index, axis=1, name=scope.get_unique_operator_name("ArgMax")
        )

    nocl = container.get_options(operator.raw_operator, {"nocl": False})["nocl"]
    if nocl:
        apply_reshape(scope, index, labels_name, container, desired_shape=(-1,))
        return
    classes = np.asarray(model.classes_)
    if len(classes) == 1:  # a model fitted on one class predicts it
        index_zero = scope.get_unique_variable_name("class_index")
        container.add_node("Mul", [index, _int64_zero(scope, container)], index_zero, name=scope.get_unique_operator_name("Mul"))
        index = index_zero
    if _label_kind(model, nocl) == "int":
        class_type, classes = onnx_proto.TensorProto.INT64, classes.astype(np.int64)
    else:
        class_type = onnx_proto.TensorProto.STRING
        classes = np.array([str(c).encode("utf-8") for c in classes])
    classes_name = scope.get_unique_variable_name("classes")
    container.add_initializer(classes_name, class_type, classes.shape, classes)
    picked = scope.get_unique_variable_name("picked")
    container.add_node(
        "ArrayFeatureExtractor",
        [classes_name, index],
        picked,
        op_domain="ai.onnx.ml",
        name=scope.get_unique_operator_name("ArrayFeatureExtractor"),
    )
    apply_reshape(scope, picked, labels_name, container, desired_shape=(-1,))


def _int64_zero(scope, container):
    from skl2onnx.proto import onnx_proto

    zero = scope.get_unique_variable_name("zero")
    container.add_initializer(zero, onnx_proto.TensorProto.INT64, [], [0])
    return zero


def convert_regressor(scope, operator, container):
    """Converter: the values ``predict`` returns, shape (N, n_outputs)."""
    from skl2onnx.common._apply_operation import apply_identity

    model = _compressed(operator.raw_operator)
    proto_dtype, numpy_dtype = _proto_dtypes(operator)
    output = _forward(scope, operator, container, model, proto_dtype, numpy_dtype)
    apply_identity(scope, output, operator.outputs[0].full_name, container)
