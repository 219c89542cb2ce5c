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
import pkgutil
import warnings

#: Every module of version 0.1 -> the module its code moved to; names split
#: out of it since are looked up in the rest of that subpackage.
OLD_MODULES = {
    "sklearn_corenet._adapters": "sklearn_corenet.adapters._registry",
    "sklearn_corenet._certificate": "sklearn_corenet.certification._certificate",
    "sklearn_corenet._class_scores": "sklearn_corenet.adapters._class_scores",
    "sklearn_corenet._compression": "sklearn_corenet.algorithm._plan",
    "sklearn_corenet._compressor": "sklearn_corenet.compressor._compressor",
    "sklearn_corenet._compressor_params": "sklearn_corenet.compressor._params",
    "sklearn_corenet._evaluation": "sklearn_corenet.evaluation._curve",
    "sklearn_corenet._export": "sklearn_corenet.export._sklearn",
    "sklearn_corenet._fine_tune": "sklearn_corenet.fine_tuning._fine_tune",
    "sklearn_corenet._fine_tune_backends": "sklearn_corenet.fine_tuning._backends",
    "sklearn_corenet._held_out": "sklearn_corenet.core._held_out",
    "sklearn_corenet._kernels": "sklearn_corenet.models._kernels",
    "sklearn_corenet._losses": "sklearn_corenet.fine_tuning._losses",
    "sklearn_corenet._meta": "sklearn_corenet.compressor._meta",
    "sklearn_corenet._method_base": "sklearn_corenet.methods._base",
    "sklearn_corenet._methods": "sklearn_corenet.methods._registry",
    "sklearn_corenet._metrics": "sklearn_corenet.evaluation._metrics",
    "sklearn_corenet._model_selection": "sklearn_corenet.model_selection._scoring",
    "sklearn_corenet._network": "sklearn_corenet.core._network",
    "sklearn_corenet._optimizers": "sklearn_corenet.fine_tuning._optimizers",
    "sklearn_corenet._predict": "sklearn_corenet.models._predict",
    "sklearn_corenet._reweight": "sklearn_corenet.algorithm._reweight",
    "sklearn_corenet._sample_size": "sklearn_corenet.algorithm._sample_size",
    "sklearn_corenet._sampling": "sklearn_corenet.algorithm._sampling",
    "sklearn_corenet._sensitivity": "sklearn_corenet.algorithm._sensitivity",
    "sklearn_corenet._sklearn_adapter": "sklearn_corenet.adapters._sklearn",
    "sklearn_corenet._sparse_mlp": "sklearn_corenet.models._sparse_mlp",
    "sklearn_corenet._sparsify": "sklearn_corenet.algorithm._sparsify",
    "sklearn_corenet._storage": "sklearn_corenet.models._storage",
    "sklearn_corenet._structured": "sklearn_corenet.methods._neurons",
    "sklearn_corenet._summary": "sklearn_corenet.models._summary",
    "sklearn_corenet._target": "sklearn_corenet.certification._search",
    "sklearn_corenet._targets": "sklearn_corenet.fine_tuning._targets",
    "sklearn_corenet._torch_adapter": "sklearn_corenet.adapters._torch",
    "sklearn_corenet._torch_chain": "sklearn_corenet.adapters._torch_chain",
    "sklearn_corenet._torch_common": "sklearn_corenet.core._torch_common",
    "sklearn_corenet._torch_compute": "sklearn_corenet.algorithm._torch_compute",
    "sklearn_corenet._torch_export": "sklearn_corenet.export._torch",
    "sklearn_corenet._torch_graph": "sklearn_corenet.adapters._torch_graph",
    "sklearn_corenet._torch_nodes": "sklearn_corenet.adapters._torch_nodes",
    "sklearn_corenet._validation": "sklearn_corenet.core._validation",
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
        primary = importlib.import_module(OLD_MODULES[module.__name__])
        package = importlib.import_module(primary.__name__.rsplit(".", 1)[0])

        def find(name):
            if hasattr(primary, name):
                return getattr(primary, name)
            for info in pkgutil.iter_modules(package.__path__):
                if info.name.startswith("_torch"):
                    continue  # torch modules: never reached by a saved name
                sibling = importlib.import_module(f"{package.__name__}.{info.name}")
                if hasattr(sibling, name):
                    return getattr(sibling, name)
            raise AttributeError(f"module {module.__name__!r} (version 0.1) has no attribute {name!r}")

        def __getattr__(name):  # noqa: N807 (a module's attribute hook, PEP 562)
            value = find(name)
            warnings.warn(
                f"{module.__name__}.{name} is where sklearn-corenet 0.1 kept {name}; "
                f"it is {getattr(value, '__module__', primary.__name__)}.{name} now. The saved "
                "model loads: save it again with this version (sklearn_corenet.dump, pickle or "
                "joblib) so that later versions read it without this step",
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
