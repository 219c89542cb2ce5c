"""The library's version, and the record of it that saved models keep."""

import inspect
import warnings

__version__ = "0.2.0.dev0"


class InconsistentVersionWarning(UserWarning):
    """A saved model is loaded by another version of sklearn-corenet than wrote it.

    Attributes
    ----------
    saved_version : str
        The version that saved the model ("0.1" for files from before the
        version was recorded).
    current_version : str
        The version loading it.
    """

    def __init__(self, *, saved_version, current_version):
        self.saved_version = saved_version
        self.current_version = current_version

    def __str__(self):
        return (
            f"this model was saved by sklearn-corenet {self.saved_version} and is loaded "
            f"by {self.current_version}; it may predict differently or fail. Save it "
            "again with this version (sklearn_corenet.dump, pickle or joblib) to "
            "silence this warning"
        )


class RecordsVersion:
    """Mixin: pickle, joblib and skops save the library version with the model.

    Loading a model saved by another version warns with
    :class:`InconsistentVersionWarning`, as scikit-learn does for its own.
    """

    def __getstate__(self):
        # a copy: object.__getstate__ returns the instance's own __dict__
        state = dict(super().__getstate__())
        state["_sklearn_corenet_version"] = __version__
        return state

    def __setstate__(self, state):
        state = dict(state)
        saved = state.pop("_sklearn_corenet_version", "0.1")
        if saved != __version__:
            warnings.warn(
                InconsistentVersionWarning(saved_version=saved, current_version=__version__),
                stacklevel=2,
            )
            # hyperparameters added since: their defaults, which is what the
            # model was made with (get_params, clone and repr read them all)
            for name, parameter in inspect.signature(type(self).__init__).parameters.items():
                if name != "self" and name not in state and parameter.default is not inspect.Parameter.empty:
                    state[name] = parameter.default
            if saved == "0.1" and "keep_ratio" in state and state["keep_ratio"] is None:
                # version 0.1's default was the paper's theory mode; None means
                # "certified" now: a refit must do what the saved model did
                state["keep_ratio"] = "theory"
        super().__setstate__(state)
