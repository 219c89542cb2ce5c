"""Calibration rows held out to measure compressed networks, and the distances measured on them.

The methods that measure before they choose (:mod:`._measured`,
:mod:`._split_search`) fit on part of the calibration rows and compare with
the original network on the rest. The rows are split by a hash of their
values, read a chunk at a time.
"""

import re
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
from sklearn.utils import gen_batches

from ..algorithm._draw import remove_neurons
from ..algorithm._reweight import _dense_rows
from ..core._errors import DEFAULT_OUTPUT_FLOOR, pointwise_errors
from ..core._head import predictions, probabilities
from ..core._held_out import row_keys
from ..core._memo import memoized
from ..core._network import chunk_rows
from ..core._rows import LazyRows, take_rows

#: Fewest held-out rows (total weight) worth measuring.
MIN_HELD_OUT = 8

#: Most calibration rows a measurement uses (fitting and held out): the
#: first ones of each side, so that its cost and its row indices stay
#: bounded however many rows calibrate.
MAX_MEASURED_ROWS = 20_000

def _lazy_rows(X, index):
    """Rows ``index`` of calibration data ``X`` (:func:`~sklearn_corenet.core._rows.take_rows`),
    an array's rows read lazily too, so that no copy of them is made (sparse rows are copied)."""
    if not sp.issparse(X) and not isinstance(X, LazyRows):
        X = LazyRows(X, X.dtype)
    return take_rows(X, index)


def check_held_out_every(held_out_every):
    """ValueError unless ``held_out_every`` is an int of at least 2."""
    if not (isinstance(held_out_every, int) and held_out_every >= 2):
        raise ValueError(f"held_out_every must be an int of at least 2; got {held_out_every!r}")


def row_batches(X, n_outputs=0, working_memory=None):
    """Chunks of the rows of ``X`` that fit ``working_memory`` with ``n_outputs`` outputs each.

    A row costs its features (read and densified) and, per output, the two
    networks' values, their probabilities and a temporary.
    """
    row_bytes = 8 * (2 * X.shape[1] + 6 * n_outputs + 1)
    return gen_batches(X.shape[0], chunk_rows(row_bytes, X.shape[0], working_memory))


def held_out_rows(X, every, working_memory=None, fold=0):
    """Mask of the calibration rows held out to measure: about one in ``every``.

    A row is held out by the key of its values (:func:`~sklearn_corenet.core._held_out.row_keys`,
    the one certificates recognise rows by), not by its position, so that
    copies of a row fall on the same side and the split does not depend on
    the row order. Rows are read a chunk at a time. ``fold`` (0 to
    ``every - 1``) names which of the ``every`` disjoint shares is held out.
    """
    return row_keys(X, working_memory) % np.uint64(every) == np.uint64(fold)


def split_rows(X, every, limit=MAX_MEASURED_ROWS, working_memory=None, fold=0):
    """Indices of the fitting rows and of the held-out rows (:func:`held_out_rows`).

    At most ``limit`` rows in all, ``limit / every`` of them held out: the
    first of each side, read a chunk at a time until both are full.
    """
    held_limit = max(limit // every, 1)
    fit_limit = limit - held_limit
    fitting, held = [], []
    n_fit = n_held = 0
    for batch in row_batches(X, n_outputs=X.shape[1], working_memory=working_memory):
        out = held_out_rows(X[batch], every, fold=fold)
        rows = np.arange(batch.start, batch.stop)
        fitting.append(rows[~out][: fit_limit - n_fit])
        held.append(rows[out][: held_limit - n_held])
        n_fit += fitting[-1].size
        n_held += held[-1].size
        if n_fit >= fit_limit and n_held >= held_limit:
            break
    return np.concatenate(fitting), np.concatenate(held)


@dataclass(frozen=True)
class HeldOut:
    """A compression problem split into fitting rows and held-out rows.

    Attributes
    ----------
    fitting : CompressionProblem
        The problem on the fitting rows only.
    X : {ndarray, sparse matrix, LazyRows}
        The held-out rows.
    sample_weight : ndarray or None
        Their weights.
    fit_rows : ndarray of int
        Where the fitting rows are in the calibration data.
    """

    fitting: object
    X: object
    sample_weight: object
    fit_rows: np.ndarray

    def select(self, method, budget):
        """``method``'s layers on the fitting rows."""
        with rows_named_as_given(self.fit_rows):
            return method.select(self.fitting, budget)

    def refitted(self, method, layers, refit):
        """The network of ``layers`` re-fitted on the fitting rows (``refit``: the reweighting rule)."""
        network, fitting = self.fitting.network, self.fitting
        active = method.neurons_kept(layers, fitting)
        with warnings.catch_warnings(), rows_named_as_given(self.fit_rows):
            # what the re-fit warns of, the compression with every row says
            warnings.simplefilter("ignore", UserWarning)
            fitted = refit(network, layers, fitting.X, overwrite=True, sample_weight=fitting.sample_weight)
        return remove_neurons(network, fitted, active)

    def measure(self, compressed, distance):
        """``distance(network, original, compressed)`` on every held-out row (see :func:`measure`)."""
        return measure(self.fitting.network, compressed, self.X, distance)

    def measure_each(self, compressed, distances):
        """Each of ``distances`` on every held-out row (see :func:`measure_each`)."""
        return measure_each(self.fitting.network, compressed, self.X, distances)


def split_problem(problem, every, fold=0):
    """``problem`` split into fitting and held-out rows (:class:`HeldOut`); None when too few.

    ``fold`` names the share held out (see :func:`held_out_rows`). Returns
    None when either side has fewer than :data:`MIN_HELD_OUT` rows (weights
    counted as repetitions).
    """
    fit_rows, test_rows = split_rows(problem.X, every, fold=fold)
    weight = problem.sample_weight
    sizes = [fit_rows.size, test_rows.size]
    if weight is not None:
        sizes = [weight[fit_rows].sum(), weight[test_rows].sum()]
    if min(sizes) < MIN_HELD_OUT:
        return None
    fitting = replace(
        problem,
        X=_lazy_rows(problem.X, fit_rows),
        sample_weight=None if weight is None else weight[fit_rows],
        weights_owned=False,
    )
    return HeldOut(fitting, _lazy_rows(problem.X, test_rows), None if weight is None else weight[test_rows], fit_rows)


#: Fewest held-out rows (total weight) a measuring rule compares its
#: candidates on: when one share holds fewer, further shares are held out in
#: turn (cross-fitting). On digits (500 calibration rows, 125 per share),
#: rules 0.5-1 point of accuracy apart at 5% kept were within two standard
#: errors on one share and clearly apart on all four. Below the 500 rows a
#: quarter of 2,000 calibration rows holds, so that the hash of the rows
#: does not double the cost of such a set by chance.
MIN_MEASURED_ROWS = 400


def held_out_folds(problem, every, min_rows=MIN_MEASURED_ROWS):
    """The splits a measuring rule compares on: :func:`split_problem`'s first,
    then further shares held out in turn until ``min_rows`` rows (total
    weight) are held out or every share has been; [] when too few rows.

    Every calibration row is held out in at most one of them, so the
    distances of the folds are of distinct rows and pool into one paired
    comparison.
    """
    first = split_problem(problem, every)
    if first is None:
        return []
    held = first.X.shape[0] if first.sample_weight is None else float(first.sample_weight.sum())
    n_folds = min(every, int(np.ceil(min_rows / held)))
    folds = [first, *(split_problem(problem, every, fold) for fold in range(1, n_folds))]
    return [fold for fold in folds if fold is not None]


@contextmanager
def rows_named_as_given(fit_rows):
    """Errors raised while fitting on the rows ``fit_rows`` name the rows as the user gave them.

    The library's errors about a calibration row ("calibration row 3 of X
    ...") count the rows of the data they read, here the fitting rows: the
    number is translated to the row of the calibration data.
    """
    try:
        yield
    except ValueError as error:
        message = str(error)
        found = re.search(r"calibration row (\d+) of X", message)
        if found is None or int(found.group(1)) >= fit_rows.size:
            raise
        row = int(fit_rows[int(found.group(1))])
        raise ValueError(message[: found.start(1)] + str(row) + message[found.end(1) :]) from error


def squared_differences(original, compressed):
    """Per row, the mean squared difference of the outputs: every distance's measure for regressors."""
    return np.mean((compressed - original) ** 2, axis=1)


def label_differences(network, original, compressed):
    """Per row, whether the compressed network predicts another label (or another
    value: the mean squared difference of the outputs, for regressors).

    ``original`` and ``compressed`` are last-layer values (before the output
    activation); labels are what ``predict`` returns, thresholds included.
    """
    if network.head.kind == "regression":
        return squared_differences(original, compressed)
    differs = predictions(network, original) != predictions(network, compressed)
    return (differs.any(axis=1) if differs.ndim == 2 else differs).astype(np.float64)


def probability_distance(network, original, compressed):
    """Per row, the total variation distance of the compressed network's
    predicted probabilities from the original's (the mean squared difference
    of the outputs, for regressors).

    ½ ‖p̂ − p‖₁ for a classifier's probability vectors (a binary head's two
    columns: |p̂ − p|); the mean over labels of |p̂ − p| for multilabel
    heads, whose labels are separate binary outputs. It is 0 for the original
    and at most 1; under an argmax (softmax outputs) a row can change label
    only when it is at least half the gap between the original's two
    likeliest classes. It tells two compressed networks apart on every row,
    where :func:`label_differences` tells them apart only on the rows where
    one of them changes the label.

    Measured on 6 networks at 2-20% kept (two draws each,
    ``benchmarks/results/extreme_budgets.md``), choosing the default's
    selection rule by it instead of by labels lost less accuracy in 6 of 24
    cells (a 5-class tabular set at 5% kept: 8.06 points instead of 9.46;
    MNIST 784-1000-1000-1000-10 at 5%: 0.42 instead of 0.60) and more in none.
    """
    if network.head.kind == "regression":
        return squared_differences(original, compressed)
    p, q = probabilities(network, original), probabilities(network, compressed)
    if network.head.kind == "multilabel":
        return np.mean(np.abs(q - p), axis=1)
    return 0.5 * np.abs(q - p).sum(axis=1)


class CertificateError:
    """Per row, the error a certificate reads (capped): a distance for :class:`~._measured.MeasuredChoice`.

    The pointwise error of the compressed outputs (or predicted
    probabilities) against the original's
    (:func:`~sklearn_corenet.core._errors.pointwise_errors`), capped at
    ``2 ε``: a certificate counts the rows within ε, so a row far beyond it
    weighs no more than one just beyond, and the mean stays finite where an
    original output is 0.

    Parameters
    ----------
    epsilon : float
    error : {"l1", "entrywise"}
    output_floor : float
    error_on : {"outputs", "probabilities"}
    """

    def __init__(self, epsilon, error="l1", output_floor=DEFAULT_OUTPUT_FLOOR, error_on="outputs"):
        self.epsilon, self.error, self.output_floor, self.error_on = epsilon, error, output_floor, error_on

    def __repr__(self):
        return (
            f"{type(self).__name__}(epsilon={self.epsilon!r}, error={self.error!r}, "
            f"output_floor={self.output_floor!r}, error_on={self.error_on!r})"
        )

    def __eq__(self, other):
        return type(other) is type(self) and vars(other) == vars(self)

    def __hash__(self):
        return hash(tuple(vars(self).values()))

    def __call__(self, network, original, compressed):
        if self.error_on == "probabilities":
            original, compressed = probabilities(network, original), probabilities(network, compressed)
        errors = pointwise_errors(original, compressed, self.error, self.output_floor)
        return np.minimum(np.nan_to_num(errors, nan=np.inf), 2 * self.epsilon)


def output_loss(network, original, compressed):
    """Per row, a smooth distance of the compressed outputs from the original's.

    For classifiers the cross-entropy of the compressed probabilities against
    the original's (per label for multilabel heads, which are independent
    binary outputs); for regressors the mean squared difference.
    """
    p = probabilities(network, original)
    if p is None:
        return squared_differences(original, compressed)
    q = np.clip(probabilities(network, compressed), 1e-300, 1.0)
    loss = -np.sum(p * np.log(q), axis=1)
    if network.head.kind == "multilabel":
        loss -= np.sum((1 - p) * np.log(np.clip(1 - q, 1e-300, 1.0)), axis=1)
    return loss


#: The distances the compressor's certified search may give the measured
#: choice (saved with it: :func:`~sklearn_corenet.trusted_types` lists them).
CERTIFIED_DISTANCES = (CertificateError, output_loss)


def measure(network, compressed, X, distance):
    """``distance(network, original, compressed)`` on every row of ``X``, a chunk at a time."""
    return measure_each(network, compressed, X, (distance,))[0]


def measure_each(network, compressed, X, distances):
    """Each of ``distances`` on every row of ``X``, from one pass of both networks a chunk at a time.

    The original's outputs are computed once per scope of
    :func:`~sklearn_corenet.core._memo.memoizing` (read-only there).

    Returns
    -------
    list of ndarray of shape (n_rows,)
        One per distance.
    """
    batches = list(row_batches(X, network.n_outputs))
    references = memoized(
        "original outputs", (network, X), lambda: [network.decision(_dense_rows(X, batch)) for batch in batches]
    )
    values = [np.empty(X.shape[0]) for _ in distances]
    for batch, reference in zip(batches, references, strict=True):
        outputs = compressed.decision(_dense_rows(X, batch))
        for value, distance in zip(values, distances, strict=True):
            value[batch] = distance(network, reference, outputs)
    return values
