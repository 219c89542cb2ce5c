"""Dispatch a user's model to the adapter that can read it.

Adapters are the only code that knows about scikit-learn's MLP internals,
skorch or torch. torch is imported only when a torch or skorch object is
actually passed in.
"""

from ._sklearn_adapter import is_sklearn_mlp, network_from_sklearn

SUPPORTED_MODELS = (
    "sklearn.neural_network.MLPClassifier, sklearn.neural_network.MLPRegressor, "
    "skorch NeuralNetClassifier / NeuralNetBinaryClassifier / NeuralNetRegressor, "
    "or a torch.nn.Module"
)


def _is_torch_world(model):
    """True for torch modules and skorch nets, decided without importing torch."""
    for cls in type(model).__mro__:
        module = cls.__module__ or ""
        if module.split(".")[0] in ("torch", "skorch"):
            return True
    return False


def network_from_model(model, X=None):
    """Translate ``model`` into a :class:`~sklearn_corenet._network.Network`.

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
    if is_sklearn_mlp(model):
        return network_from_sklearn(model)
    if _is_torch_world(model):
        from ._torch_adapter import network_from_torch_world

        return network_from_torch_world(model, X)
    raise TypeError(
        f"cannot compress an object of type {type(model).__module__}."
        f"{type(model).__qualname__}; supported models: {SUPPORTED_MODELS}"
    )
