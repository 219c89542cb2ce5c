"""Compression methods: what ``CoreNetCompressor(method=...)`` can do.

The paper's sampling methods and baselines, the edge-selection methods
beyond it, and the registry of names. A method (see :mod:`sklearn_corenet.methods._base`) is
passed to the compressor by name (a registered method) or as an object.
"""

from sklearn.utils._param_validation import StrOptions

from ._base import Method, SamplingMethod, SelectionMethod
from ._corenet import CoreNet, Uniform
from ._magnitude import Magnitude
from ._matrix import MatrixSampling
from ._measured import MeasuredChoice
from ._neurons import NeuronPruning
from ._split_search import LayerSplitSearch
from ._wanda import ActivationMagnitude

__all__ = ["METHODS", "Method", "SamplingMethod", "SelectionMethod", "get_method", "register_method"]


METHODS = {}


def register_method(method):
    """Make ``method`` available as ``CoreNetCompressor(method=method.name)``.

    Parameters
    ----------
    method : SamplingMethod or SelectionMethod
        The method object; its ``name`` must be a new, non-empty string.

    Returns
    -------
    method
        The same object, so that the call can decorate an instance.
    """
    if not isinstance(method, (SamplingMethod, SelectionMethod)):
        raise TypeError(
            f"register_method takes a SamplingMethod or SelectionMethod instance; got {method!r}"
        )
    if not isinstance(method.name, str) or not method.name or method.name == "auto":
        raise ValueError(f"a method needs a name other than 'auto'; got {method.name!r}")
    METHODS[method.name] = method
    return method


#: The default's rules ("measured"), the preferred first.
_MEASURED_RULES = (
    ActivationMagnitude(),
    ActivationMagnitude(output_layer="dense-if-cheap"),
    ActivationMagnitude(score="magnitude"),
    ActivationMagnitude(score="magnitude", output_layer="dense-if-cheap"),
)

for _method in (
    CoreNet("corenet"),
    CoreNet("corenet+", prunes_dead_neurons=True),
    CoreNet("corenet++", prunes_dead_neurons=True, amplifies=True),
    Uniform(),
    MatrixSampling("l1"),
    MatrixSampling("l2"),
    MatrixSampling("l1+l2"),
    Magnitude(),
    ActivationMagnitude(),
    NeuronPruning("neurons"),
    NeuronPruning("neurons-activation", score="activation"),
    NeuronPruning("neuron-norm", score="norm"),
    NeuronPruning("neurons-thinet", score="reconstruction", widths="error"),
    NeuronPruning("neurons+wanda", edges=ActivationMagnitude(), edge_density=0.5),
    MeasuredChoice(
        "measured",
        candidates=_MEASURED_RULES,
        # the fourth rule, compared at every budget of the certified search,
        # kept more where it was chosen than it saved elsewhere
        # (python -m benchmarks.certified: Fashion-MNIST, agreement 0.99 on
        # 3,000 rows, 75.1% of the parameters instead of 56.4%)
        certified_candidates=_MEASURED_RULES[:3],
    ),
    LayerSplitSearch("wanda-search"),
):
    register_method(_method)


def get_method(method):
    """The method object for ``method``: a registered name or a method object."""
    if isinstance(method, (SamplingMethod, SelectionMethod)):
        return method
    name = method
    try:
        return METHODS[name]
    except KeyError:
        raise ValueError(
            f"unknown method {name!r}; valid methods: {', '.join(sorted(METHODS))}"
        ) from None


class MethodOption(StrOptions):
    """Parameter constraint of ``method``: "auto", a registered name or a method object.

    The registry is read when a value is checked, so methods registered after
    import are accepted. (A :class:`StrOptions` so that scikit-learn's
    parameter validation takes it.)
    """

    def __init__(self):
        super().__init__({"auto"})

    def is_satisfied_by(self, val):
        if isinstance(val, (SamplingMethod, SelectionMethod)):
            return True
        return isinstance(val, str) and (val == "auto" or val in METHODS)

    def __str__(self):
        names = ", ".join(repr(name) for name in ["auto", *sorted(METHODS)])
        return f"a str among {{{names}}} or a SamplingMethod or SelectionMethod instance"
