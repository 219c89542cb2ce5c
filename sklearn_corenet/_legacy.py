"""Models saved by version 0.1 load: its module paths resolve to the new layout.

Version 0.2 moved the modules into subpackages. A pickle, joblib or skops
file of version 0.1 names classes by their old modules
(``sklearn_corenet._sparse_mlp.SparseMLPClassifier``); :class:`MovedModules`,
on ``sys.meta_path``, answers an import of such a module with one that hands
out the same classes from where they live now, and warns that the model
should be saved again. Nothing of the old layout is imported otherwise.
"""

import importlib
import importlib.abc
import importlib.util
import warnings

#: Version 0.1's modules that held saved classes -> the subpackage holding them now.
OLD_MODULES = {
    "sklearn_corenet._certificate": "sklearn_corenet.certification",
    "sklearn_corenet._compressor": "sklearn_corenet.compressor",
    "sklearn_corenet._fine_tune": "sklearn_corenet.fine_tuning",
    "sklearn_corenet._meta": "sklearn_corenet.compressor",
    "sklearn_corenet._methods": "sklearn_corenet.methods",
    "sklearn_corenet._network": "sklearn_corenet.core",
    "sklearn_corenet._sparse_mlp": "sklearn_corenet.models",
    "sklearn_corenet._structured": "sklearn_corenet.methods",
}

#: The types version 0.1 trusted in a skops file (its ``trusted_types``).
OLD_TRUSTED_TYPES = (
    "sklearn_corenet._certificate.Certificate",
    "sklearn_corenet._compressor.CoreNetCompressor",
    "sklearn_corenet._fine_tune.FineTuneHistory",
    "sklearn_corenet._meta.CoreNetClassifier",
    "sklearn_corenet._meta.CoreNetRegressor",
    "sklearn_corenet._methods.ActivationMagnitude",
    "sklearn_corenet._methods.CoreNet",
    "sklearn_corenet._methods.Magnitude",
    "sklearn_corenet._methods.MatrixSampling",
    "sklearn_corenet._methods.Uniform",
    "sklearn_corenet._network.OutputHead",
    "sklearn_corenet._sparse_mlp.CompressionInfo",
    "sklearn_corenet._sparse_mlp.SparseMLPClassifier",
    "sklearn_corenet._sparse_mlp.SparseMLPRegressor",
    "sklearn_corenet._structured.NeuronPruning",
)


class MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Import hook: a module of version 0.1's layout, as a view of the new one."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname in OLD_MODULES:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module):
        target = importlib.import_module(OLD_MODULES[module.__name__])

        def __getattr__(name):  # noqa: N807 (a module's attribute hook, PEP 562)
            value = getattr(target, name)
            warnings.warn(
                f"{module.__name__}.{name} is where sklearn-corenet 0.1 kept {name}; "
                f"it is {value.__module__}.{name} now. The saved model loads: save it "
                "again with this version (sklearn_corenet.dump, pickle or joblib) so that "
                "later versions read it without this step",
                FutureWarning,
                stacklevel=2,
            )
            return value

        module.__getattr__ = __getattr__


def install():
    """Put :class:`MovedModules` on ``sys.meta_path`` (once)."""
    import sys

    if not any(isinstance(finder, MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(MovedModules())
