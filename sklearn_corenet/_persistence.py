"""Save and load the library's estimators without executing code (skops).

pickle and joblib run whatever code a file names when it is loaded. skops
(``pip install 'sklearn-corenet[persist]'``) stores an estimator as data
and, when loading, builds only the types the caller trusts. A saved model
of this library holds its own classes, a few small objects (how it was
compressed, its output head, the compression method) and what a fitted
scikit-learn MLP holds; :func:`trusted_types` lists exactly those, and
:func:`load` trusts them and nothing else unless told.

Saved models are lean: a compressed estimator stores its weights packed
(see :mod:`sklearn_corenet.models._storage`), a meta-estimator's compressor keeps no calibration
data, and :func:`dump` saves a :class:`CoreNetCompressor` the same way.
"""

import io
import json
import os
import warnings
import zipfile

from ._legacy import OLD_TRUSTED_TYPES
from .certification._certificate import Certificate
from .compressor._compressor import CoreNetCompressor
from .compressor._meta import CoreNetClassifier, CoreNetRegressor
from .core._head import OutputHead
from .core._version import InconsistentVersionWarning, __version__
from .fine_tuning._training import FineTuneHistory
from .methods._held_out import CERTIFIED_DISTANCES
from .methods._registry import METHODS
from .models._info import CompressionInfo
from .models._sparse_mlp import SparseMLPClassifier, SparseMLPRegressor

#: The archive entry in which :func:`dump` records the library version.
VERSION_ENTRY = "sklearn_corenet.json"

# what a fitted scikit-learn MLP holds that skops does not trust by default
_SKLEARN_TYPES = (
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
)


def _type_name(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


def trusted_types():
    """The types a saved estimator of this library may hold, as skops names them.

    The library's estimators (``SparseMLPClassifier``,
    ``SparseMLPRegressor``, ``CoreNetClassifier``, ``CoreNetRegressor``,
    ``CoreNetCompressor``), the small objects they hold
    (``CompressionInfo``, a ``Certificate``, a fine-tuning history, the output head, the built-in
    compression methods and the distances their measured choice compares) and the optimizer objects of a fitted
    scikit-learn MLP. Every
    one is rebuilt from its stored attributes, without running code from
    the file.

    Returns
    -------
    list of str
        Type names for ``skops.io.load(file, trusted=...)``.

    See Also
    --------
    load : Loads with these types trusted.

    Notes
    -----
    A model compressed from a skorch net keeps the net's settings (its
    criterion and optimizer classes, ...) for ``to_skorch``: those torch and
    skorch types are not in the list; check and pass them to :func:`load`
    yourself. Methods registered with :func:`register_method` are not in
    the list either.

    Examples
    --------
    >>> from sklearn_corenet import trusted_types
    >>> "sklearn_corenet.models._sparse_mlp.SparseMLPClassifier" in trusted_types()
    True
    """
    classes = [
        SparseMLPClassifier,
        SparseMLPRegressor,
        CoreNetClassifier,
        CoreNetRegressor,
        CoreNetCompressor,
        CompressionInfo,
        Certificate,
        OutputHead,
        FineTuneHistory,
        *(type(method) for method in METHODS.values()),
        *CERTIFIED_DISTANCES,  # what the certified search's measured choice compares
    ]
    names = {_type_name(cls) for cls in classes if cls.__module__.startswith("sklearn_corenet.")}
    return sorted(names | set(_SKLEARN_TYPES))


def _import_skops():
    try:
        import skops.io
    except ImportError as error:
        raise ImportError(
            "saving and loading without pickle needs skops: "
            "pip install 'sklearn-corenet[persist]'"
        ) from error
    return skops.io


def dump(estimator, file, *, compress=True):
    """Save an estimator with skops: loading it runs no code from the file.

    The file records the library version that wrote it (``load`` reads
    files of earlier versions too, see :func:`load`).

    Parameters
    ----------
    estimator : object
        Any estimator of the library, or a scikit-learn object holding them
        (a ``Pipeline``, a search, ...). A ``CoreNetCompressor`` is saved
        without its calibration data (its ``transform`` then needs a new
        ``fit``).
    file : str, path or binary file object
        Where to write (the ``.skops`` format).
    compress : bool, default=True
        Deflate the archive (skops' ``compression=zipfile.ZIP_DEFLATED``):
        the schema skops writes beside the arrays is text, several times the
        size of a small model's weights, and shrinks several-fold. ``False``
        stores it as it is (faster to write and read).

    See Also
    --------
    load : The counterpart.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.neural_network import MLPClassifier
    >>> from sklearn_corenet import CoreNetCompressor, dump, load
    >>> X, y = load_digits(return_X_y=True)
    >>> mlp = MLPClassifier((32,), max_iter=50, random_state=0).fit(X / 16, y)
    >>> sparse = CoreNetCompressor(keep_ratio=0.2, random_state=0).fit_transform(mlp, X / 16)
    >>> import io
    >>> buffer = io.BytesIO(); dump(sparse, buffer); _ = buffer.seek(0)
    >>> bool((load(buffer).predict(X / 16) == sparse.predict(X / 16)).all())
    True
    """
    skops = _import_skops()
    if isinstance(estimator, CoreNetCompressor):
        estimator = estimator._without_calibration()
    buffer = io.BytesIO()
    if compress:
        skops.dump(estimator, buffer, compression=zipfile.ZIP_DEFLATED)
    else:
        skops.dump(estimator, buffer)
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as archive:
        archive.writestr(VERSION_ENTRY, json.dumps({"library": "sklearn-corenet", "version": __version__}))
    if isinstance(file, (str, os.PathLike)):
        with open(file, "wb") as handle:
            handle.write(buffer.getvalue())
    else:
        file.write(buffer.getvalue())


def saved_version(file):
    """The sklearn-corenet version that wrote a ``.skops`` file.

    Parameters
    ----------
    file : str, path or binary file object
        A file written by :func:`dump`.

    Returns
    -------
    str or None
        The version; None for a file without the record (written by version
        0.1, or by ``skops.io.dump`` directly).
    """
    return _saved_version(_archive_bytes(file))


def _archive_bytes(file):
    if isinstance(file, (str, os.PathLike)):
        with open(file, "rb") as handle:
            return handle.read()
    return file.read()


def _saved_version(data):
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if VERSION_ENTRY not in archive.namelist():
                return None
            return str(json.loads(archive.read(VERSION_ENTRY))["version"])
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError) as error:
        raise ValueError(f"not a file written by sklearn_corenet.dump or skops.io.dump: {error}") from None


def load(file, *, trusted=None):
    """Load what :func:`dump` (or ``skops.io.dump``) saved, trusting the library's types.

    A file of version 0.1 (written before the package's modules moved into
    subpackages) loads too: its type names are those of the old layout, which
    are trusted for it and resolve to the same classes, with a
    ``FutureWarning`` asking to save the model again. A file written by
    another version warns with ``InconsistentVersionWarning``.

    Parameters
    ----------
    file : str, path or binary file object
        A ``.skops`` file.
    trusted : list of str, default=None
        More type names to trust besides :func:`trusted_types` (check them
        first with ``skops.io.get_untrusted_types(file=...)``).

    Returns
    -------
    object
        The saved estimator.

    Raises
    ------
    skops.io.exceptions.UntrustedTypesFoundException
        If the file holds a type that is neither the library's nor in
        ``trusted``; nothing is built then.
    """
    skops = _import_skops()
    data = _archive_bytes(file)
    version = _saved_version(data)
    allowed = [*trusted_types(), *(trusted or [])]
    if version is None:  # written by 0.1 (or skops directly): old names may appear
        allowed += OLD_TRUSTED_TYPES
    elif version != __version__:
        warnings.warn(
            InconsistentVersionWarning(saved_version=version, current_version=__version__),
            stacklevel=2,
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        estimator = skops.loads(data, trusted=allowed)
    moved = False
    for warning in caught:
        if issubclass(warning.category, InconsistentVersionWarning):
            continue  # the estimators' own record: the file's was said above
        if issubclass(warning.category, FutureWarning) and "sklearn-corenet 0.1 kept" in str(warning.message):
            moved = True  # one warning for the file, not one per class
            continue
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    if moved:
        warnings.warn(
            "this file was saved by sklearn-corenet 0.1, whose modules have moved; it "
            "loads, but save it again with sklearn_corenet.dump so that later versions "
            "read it without this step",
            FutureWarning,
            stacklevel=2,
        )
    return estimator
