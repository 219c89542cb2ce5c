"""Read MNIST-style data sets stored as idx files (optionally gzipped).

The benchmark reads ``<data dir>/<data set>/`` with the four files of the
original releases (``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``); the files may
also be stored uncompressed (same names without ``.gz``). Nothing is
downloaded: a folder without the files gives a message that names them.
"""

import gzip
from pathlib import Path

import numpy as np

#: The project's copy of the data: ``../shared/data`` from the repository root.
DEFAULT_DATA_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data"

DATASETS = ("mnist", "fashion-mnist")

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

_MAGIC = {2051: 3, 2049: 1}  # images: (n, rows, cols); labels: (n,)


class MissingDataError(FileNotFoundError):
    """The idx files of a data set are not where the benchmark looks."""


def read_idx(path):
    """Read one idx file (gzip or raw) into a uint8 array.

    Parameters
    ----------
    path : str or Path
        An idx3 (images) or idx1 (labels) file; ``.gz`` is decompressed.

    Returns
    -------
    ndarray of uint8
        Shape (n, rows, cols) for images, (n,) for labels.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    magic = int.from_bytes(data[:4], "big")
    if magic not in _MAGIC:
        raise ValueError(f"{path} is not an idx image or label file (magic number {magic})")
    n_dims = _MAGIC[magic]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(n_dims))
    offset = 4 + 4 * n_dims
    array = np.frombuffer(data, dtype=np.uint8, offset=offset)
    if array.size != int(np.prod(shape)):
        raise ValueError(f"{path} is truncated: expected {int(np.prod(shape))} values, found {array.size}")
    return array.reshape(shape)


def dataset_files(data_dir, name):
    """Paths of the four files of data set ``name``; raises if any is missing.

    Looks in ``data_dir/name/`` first, then in ``data_dir`` itself, for each
    file with or without ``.gz``.
    """
    data_dir = Path(data_dir)
    folders = [data_dir / name, data_dir]
    for folder in folders:
        found = {}
        for key, stem in FILES.items():
            for candidate in (folder / f"{stem}.gz", folder / stem):
                if candidate.is_file():
                    found[key] = candidate
                    break
        if len(found) == len(FILES):
            return found
    folder = folders[0]
    missing = [f"{stem}.gz" for key, stem in FILES.items() if not any(
        (f / f"{stem}.gz").is_file() or (f / stem).is_file() for f in folders
    )]
    raise MissingDataError(
        f"the {name} data set is not in {folder}: missing {', '.join(missing)}. "
        f"Point --data-dir at a folder holding {name}/ with the four idx files "
        f"({', '.join(f'{stem}.gz' for stem in FILES.values())}); the default is "
        f"{DEFAULT_DATA_DIR}."
    )


def load_dataset(data_dir, name):
    """Train and test split of data set ``name``, pixels scaled to [0, 1].

    Returns
    -------
    X_train : ndarray of float32 of shape (n_train, 784)
    y_train : ndarray of int64 of shape (n_train,)
    X_test : ndarray of float32 of shape (n_test, 784)
    y_test : ndarray of int64 of shape (n_test,)
    """
    files = dataset_files(data_dir, name)
    arrays = {key: read_idx(path) for key, path in files.items()}

    def images(key):
        raw = arrays[key]
        return (raw.reshape(raw.shape[0], -1).astype(np.float32)) / np.float32(255)

    X_train, X_test = images("train_images"), images("test_images")
    y_train = arrays["train_labels"].astype(np.int64)
    y_test = arrays["test_labels"].astype(np.int64)
    if X_train.shape[0] != y_train.shape[0] or X_test.shape[0] != y_test.shape[0]:
        raise ValueError(f"{name}: images and labels differ in number")
    return X_train, y_train, X_test, y_test
