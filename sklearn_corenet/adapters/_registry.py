"""Dispatch a user's model to the adapter that can read it.

Adapters are the only code that knows about scikit-learn's MLP internals,
skorch or torch. :data:`ADAPTERS` lists them: each says which models it
reads (decided without importing torch), how it reads them (its backend
imported only then) and how an error message names them. The compressor,
the meta-estimators and the evaluation helpers all dispatch through it, so a
new kind of model is one more entry.
"""

from collections.abc import Callable
from typing import NamedTuple

from ..core._network import NetworkModel
from ._class_scores import ClassScores
from ._sklearn import is_sklearn_mlp, network_from_sklearn


class Adapter(NamedTuple):
    """One kind of model that can be compressed.

    Parameters
    ----------
    name : str
        Short name of the kind ("sklearn", "skorch", "torch").
    accepts : callable
        ``accepts(model) -> bool``; must not import the backend, so that
        asking about a scikit-learn model never imports torch.
    read : callable
        ``read(model, X) -> Network``, with ``X`` the calibration data (or
        None); imports the backend it needs.
    description : str
        The supported models, as an error message lists them.
    """

    name: str
    accepts: Callable
    read: Callable
    description: str


def _comes_from(package):
    """A predicate: does the model's class, or a base class, live in ``package``?

    It reads the classes' module names, so the package is never imported.
    """

    def accepts(model):
        return any(
            (cls.__module__ or "").split(".")[0] == package for cls in type(model).__mro__
        )

    return accepts


def _read_sklearn(model, X):
    return network_from_sklearn(model)


def _read_torch_world(model, X):
    from ._torch import network_from_torch_world

    return network_from_torch_world(model, X)


def _is_class_scores(model):
    return isinstance(model, ClassScores)


def _read_class_scores(model, X):
    from ._torch import network_from_torch_world

    if not _comes_from("torch")(model.module) or _comes_from("skorch")(model.module):
        raise TypeError(
            "ClassScores wraps a torch.nn.Module; got "
            f"{type(model.module).__module__}.{type(model.module).__qualname__}"
        )
    return network_from_torch_world(model.module, X, class_scores=model)


#: The adapters, asked in order; the first that accepts a model reads it.
ADAPTERS = (
    Adapter(
        "sklearn",
        is_sklearn_mlp,
        _read_sklearn,
        "sklearn.neural_network.MLPClassifier, sklearn.neural_network.MLPRegressor",
    ),
    Adapter(
        "skorch",
        _comes_from("skorch"),
        _read_torch_world,
        "skorch NeuralNetClassifier / NeuralNetBinaryClassifier / NeuralNetRegressor",
    ),
    Adapter("torch", _comes_from("torch"), _read_torch_world, "a torch.nn.Module"),
    Adapter(
        "class-scores",
        _is_class_scores,
        _read_class_scores,
        "a torch.nn.Module in sklearn_corenet.ClassScores",
    ),
)

SUPPORTED_MODELS = (
    ", ".join(adapter.description for adapter in ADAPTERS[:-1])
    + f", or {ADAPTERS[-1].description}"
)


def find_adapter(model):
    """The first adapter of :data:`ADAPTERS` that accepts ``model``, or None."""
    return next((adapter for adapter in ADAPTERS if adapter.accepts(model)), None)


def is_supported(model):
    """Whether some adapter reads ``model`` (torch is not imported to decide)."""
    return find_adapter(model) is not None


def unsupported_model_error(model, subject="cannot compress an object"):
    """The TypeError for a model no adapter reads, naming its type.

    ``subject`` begins the message, e.g. "CoreNetClassifier cannot compress
    an estimator".
    """
    cls = type(model)
    return TypeError(
        f"{subject} of type {cls.__module__}.{cls.__qualname__}; "
        f"supported models: {SUPPORTED_MODELS}"
    )


def network_from_model(model, X=None):
    """Translate ``model`` into a :class:`~sklearn_corenet.core._network.Network`.

    Parameters
    ----------
    model : object
        A fitted scikit-learn MLP, a fitted skorch net, or a torch module.
    X : ndarray of shape (n_samples, n_features), default=None
        Calibration data; used by the torch adapter to determine the input
        width when the module does not state it.

    Raises
    ------
    TypeError
        If ``model`` is of an unsupported type.
    sklearn.exceptions.NotFittedError
        If ``model`` has not been fitted.
    """
    adapter = find_adapter(model)
    if adapter is None:
        raise unsupported_model_error(model)
    return adapter.read(model, X)


def network_of(model, X=None):
    """The :class:`~sklearn_corenet.core._network.Network` of any model the library reads.

    A compressed model (a :class:`~sklearn_corenet.core._network.NetworkModel`)
    gives its own; any other goes through the adapter that reads it (see
    :func:`network_from_model`).
    """
    if isinstance(model, NetworkModel):
        return model.to_network()
    return network_from_model(model, X)
