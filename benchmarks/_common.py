"""What the benchmarks share: the data sets, the paper's training recipe, timing, reports.

Data: MNIST-style data sets stored as idx files (optionally gzipped). A
benchmark reads ``<data dir>/<data set>/`` with the four files of the
original releases (``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``); the files may
also be stored uncompressed (same names without ``.gz``). Nothing is
downloaded: a folder without the files gives a message that names them.

Training: the paper's recipe (Baykal et al. 2019, Appendix B: Adam, learning
rate 1e-3, batch 300, 30 epochs) in PyTorch, every trained network cached in
``benchmarks/cache/`` under a name that hashes the recipe.
"""

import gc
import gzip
import hashlib
import json
import os
import platform
import sys
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

BENCHMARKS_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCHMARKS_DIR / "results"
#: Trained networks and cached statistics (ignored by git).
CACHE_DIR = BENCHMARKS_DIR / "cache"
#: The project's copy of the data: ``../shared/data`` from the repository root.
DEFAULT_DATA_DIR = BENCHMARKS_DIR.parent.parent / "shared" / "data"

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


#: The ``make_classification`` sets of the tabular benchmarks (20,000 rows,
#: a 3×256 MLP each), by the title their tables show.
TABULAR_SETS = {
    "make_classification 20k, 20 features, 5 classes, 3×256": dict(
        n_samples=20000, n_features=20, n_informative=12, n_classes=5, n_clusters_per_class=2,
        class_sep=0.8, random_state=0,
    ),
    "make_classification 20k, 40 features, 10 classes, 3×256": dict(
        n_samples=20000, n_features=40, n_informative=20, n_redundant=5, n_classes=10,
        n_clusters_per_class=2, random_state=0,
    ),
}


def fit_scaled_mlp(X, y, hidden):
    """A ``StandardScaler`` + ``MLPClassifier(hidden)`` Pipeline trained on 75% of the rows.

    Returns ``(pipeline, X_train, X_test, y_train, y_test)``; the split is
    stratified and seeded, the MLP stops early (``random_state=0``), as in
    every tabular benchmark.
    """
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = make_pipeline(
            StandardScaler(), MLPClassifier(hidden, max_iter=200, early_stopping=True, random_state=0)
        ).fit(X_train, y_train)
    return model, X_train, X_test, y_train, y_test


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


# -- the paper's training recipe -------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """The paper's training recipe (Appendix B) and the data the benchmarks take.

    ``train_network`` and ``prepare_data`` read these attributes from any
    object (the paper benchmark's ``Config`` has them too).
    """

    epochs: int = 30
    batch_size: int = 300
    learning_rate: float = 1e-3
    n_train: int | None = None  # all 60,000 training images
    n_test: int | None = None  # all 10,000 test images
    calibration_size: int = 1000
    seed: int = 0


_DATA = {}


def prepare_data(dataset, recipe, data_dir):
    """Train, test and calibration arrays of ``dataset`` (loaded once per process).

    ``recipe.n_train`` training images drawn at random (all when None), the
    first ``recipe.n_test`` test images, and ``recipe.calibration_size``
    calibration points drawn from the training images.
    """
    key = (dataset, str(data_dir), recipe.n_train, recipe.n_test, recipe.calibration_size, recipe.seed)
    if key not in _DATA:
        X_train, y_train, X_test, y_test = load_dataset(data_dir, dataset)
        rng = np.random.default_rng(recipe.seed)
        if recipe.n_train is not None:
            subset = rng.choice(X_train.shape[0], recipe.n_train, replace=False)
            X_train, y_train = X_train[subset], y_train[subset]
        if recipe.n_test is not None:
            X_test, y_test = X_test[: recipe.n_test], y_test[: recipe.n_test]
        calibration = X_train[rng.choice(X_train.shape[0], recipe.calibration_size, replace=False)]
        _DATA.clear()
        _DATA[key] = (X_train, y_train, X_test, y_test, calibration)
    return _DATA[key]


def mlp_from_weights(coefs, intercepts):
    """A fitted scikit-learn ``MLPClassifier`` holding the given weights.

    ``coefs`` use scikit-learn's orientation (n_in, n_out); the classes are
    0..n_outputs-1 and the output is a softmax.
    """
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import LabelBinarizer

    mlp = MLPClassifier(hidden_layer_sizes=tuple(W.shape[1] for W in coefs[:-1]), activation="relu")
    mlp.coefs_ = [np.ascontiguousarray(W) for W in coefs]
    mlp.intercepts_ = [np.ascontiguousarray(b) for b in intercepts]
    mlp.n_features_in_ = coefs[0].shape[0]
    mlp.classes_ = np.arange(coefs[-1].shape[1])
    mlp._label_binarizer = LabelBinarizer().fit(mlp.classes_)
    mlp.n_outputs_ = coefs[-1].shape[1]
    mlp.n_layers_ = len(coefs) + 1
    mlp.out_activation_ = "softmax"
    mlp.n_iter_ = 0
    mlp.t_ = 0
    return mlp


def random_mlp(sizes, seed=0, dtype=np.float64):
    """An ``MLPClassifier`` of layer widths ``sizes`` with He-initialised weights.

    For timings, which do not depend on training.
    """
    rng = np.random.default_rng(seed)
    coefs = [rng.normal(scale=np.sqrt(2 / a), size=(a, b)) for a, b in zip(sizes[:-1], sizes[1:], strict=True)]
    intercepts = [rng.normal(scale=0.01, size=b) for b in sizes[1:]]
    return mlp_from_weights([W.astype(dtype) for W in coefs], [b.astype(dtype) for b in intercepts])


def n_params(mlp):
    """Number of weights and biases of an ``MLPClassifier``."""
    return sum(W.size + b.size for W, b in zip(mlp.coefs_, mlp.intercepts_, strict=True))


def _cache_key(dataset, hidden, recipe):
    fields = {
        "dataset": dataset,
        "hidden": list(hidden),
        "epochs": recipe.epochs,
        "batch_size": recipe.batch_size,
        "learning_rate": recipe.learning_rate,
        "n_train": recipe.n_train,
        "seed": recipe.seed,
        "scaling": "pixels/255",
        "version": 1,
    }
    digest = hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:10]
    return f"{dataset}-{'x'.join(map(str, hidden))}-e{recipe.epochs}-{digest}.npz"


def train_network(dataset, hidden, X, y, recipe, cache_dir, log=print):
    """Train (or load from the cache) one network as the paper did (Appendix B).

    Adam, learning rate ``recipe.learning_rate``, batch ``recipe.batch_size``,
    ``recipe.epochs`` epochs, cross-entropy, PyTorch's default
    initialisation. Returns an ``MLPClassifier``, the training time in
    seconds and whether it came from the cache (then the time is that of
    the original training).
    """
    path = Path(cache_dir) / _cache_key(dataset, hidden, recipe)
    if path.exists():
        stored = np.load(path)
        n_layers = len(hidden) + 1
        coefs = [stored[f"coef{i}"] for i in range(n_layers)]
        intercepts = [stored[f"intercept{i}"] for i in range(n_layers)]
        return mlp_from_weights(coefs, intercepts), float(stored["train_time"]), True

    import torch

    torch.manual_seed(recipe.seed)
    generator = torch.Generator().manual_seed(recipe.seed)
    widths = [X.shape[1], *hidden, int(y.max()) + 1]
    modules = []
    for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
        modules += [torch.nn.Linear(n_in, n_out), torch.nn.ReLU()]
    net = torch.nn.Sequential(*modules[:-1])
    optimizer = torch.optim.Adam(net.parameters(), lr=recipe.learning_rate)
    inputs, targets = torch.from_numpy(X), torch.from_numpy(y)
    start = time.perf_counter()
    for epoch in range(recipe.epochs):
        order = torch.randperm(len(inputs), generator=generator)
        for begin in range(0, len(inputs), recipe.batch_size):
            batch = order[begin : begin + recipe.batch_size]
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(inputs[batch]), targets[batch])
            loss.backward()
            optimizer.step()
        log(f"  {dataset} {'x'.join(map(str, hidden))}: epoch {epoch + 1}/{recipe.epochs}, loss {loss.item():.4f}")
    elapsed = time.perf_counter() - start
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    coefs = [m.weight.detach().numpy().T.copy() for m in linears]
    intercepts = [m.bias.detach().numpy().copy() for m in linears]
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"coef{i}": W for i, W in enumerate(coefs)}
    arrays.update({f"intercept{i}": b for i, b in enumerate(intercepts)})
    temporary = path.with_suffix(".tmp.npz")
    np.savez(temporary, train_time=elapsed, **arrays)
    os.replace(temporary, path)
    return mlp_from_weights(coefs, intercepts), elapsed, False


# -- timing and reports ------------------------------------------------------------


def best_time(function, repeat):
    """Shortest wall time of ``repeat`` calls of ``function``, in seconds."""
    times = []
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def emit(lines, *new):
    """Append lines to a report and print them as they come."""
    lines.extend(new)
    print("\n".join(new), flush=True)


def command_line(benchmark, argv=None):
    """How the benchmark was run: ``python -m benchmarks.<benchmark> <arguments>``."""
    argv = sys.argv[1:] if argv is None else argv
    return " ".join(["python -m", f"benchmarks.{benchmark}", *argv])


def machine():
    """The processor architecture and the number of cores, for a report."""
    return f"{platform.machine()}, {os.cpu_count()} cores"


def alternating_best_times(functions, repeat, inner=1):
    """Shortest time per call of each function, the functions timed in turn.

    Every round times ``inner`` calls of each function, one function after
    the other, so that a change of machine load between rounds affects all
    of them alike; a function's time is its best round divided by ``inner``.
    """
    best = [float("inf")] * len(functions)
    for _ in range(repeat):
        for index, function in enumerate(functions):
            gc.collect()
            start = time.perf_counter()
            for _ in range(inner):
                function()
            best[index] = min(best[index], (time.perf_counter() - start) / inner)
    return best


def software_versions():
    """numpy, scipy and scikit-learn versions, for a report."""
    import scipy
    import sklearn

    return f"numpy {np.__version__}, scipy {scipy.__version__}, scikit-learn {sklearn.__version__}"


def blas_summary():
    """The thread pools numpy and scipy run on (``threadpoolctl.threadpool_info()``), one line."""
    from threadpoolctl import threadpool_info

    pools = []
    for pool in threadpool_info():
        library = Path(pool["filepath"]).name
        details = [pool.get("internal_api"), pool.get("version"), pool.get("architecture"), pool.get("threading_layer")]
        described = ", ".join(str(detail) for detail in details if detail)
        pools.append(f"{pool['user_api']} {library} ({described}): {pool['num_threads']} threads")
    return "; ".join(pools) or "no thread pool found"


def markdown_table(header, rows, align=None):
    """Lines of a markdown table.

    ``align``: one letter per column, "l" (left) or "r" (right); by default
    the first column left and the others right.
    """
    align = align or "l" + "r" * (len(header) - 1)
    align = ["---:" if letter == "r" else "---" for letter in align]
    return [f"| {' | '.join(header)} |", f"| {' | '.join(align)} |"] + [
        f"| {' | '.join(str(cell) for cell in row)} |" for row in rows
    ]


def write_table_report(name, title, argv, description, header, rows):
    """Write ``results/<name>.md``: a title, the command and machine, a description and one table.

    Prints the report too.
    """
    lines = [
        f"# {title}",
        "",
        f"Command: `{command_line(name, argv)}`. Machine: {machine()}.",
        "",
        description,
        "",
        *markdown_table(header, rows),
        "",
    ]
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / f"{name}.md").write_text("\n".join(lines))
    print("\n".join(lines))


@contextmanager
def timed(phases, name):
    """Add the wall time of the ``with`` block to ``phases[name]`` (seconds)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        phases[name] = phases.get(name, 0.0) + time.perf_counter() - start
