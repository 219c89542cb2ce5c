"""Fidelity fine-tuning: train a compressed network toward the original network's outputs.

A certificate measures how far the compressed network's outputs are from the
original's; the least-squares re-fit matches one layer at a time and label
fine-tuning matches the labels, so neither aims at that distance. Fidelity
fine-tuning does: the kept weights are trained (sparsity pattern fixed, as
:func:`~._fine_tune.fine_tune_network` does) to reproduce the original's outputs on unlabelled
rows: its last layer's values under the squared error (logit matching, Ba
and Caruana 2014), or its class probabilities under cross-entropy (knowledge
distillation, Hinton et al. 2015); the compressor chooses which by the target
it certifies.

The original can label any input, so the rows need not be data the user
holds: besides the calibration rows, :func:`synthetic_rows` mixes pairs of
them (convex combinations, as mixup, Zhang et al. 2018), held whole or, past
``working_memory`` or for sparse data, mixed as training reads them
(:class:`MixedRows`). Only rows that may be used to compress are ever given
here: certified compression keeps its held-out rows out.

References
----------
J. Ba, R. Caruana. "Do deep nets really need to be deep?", NeurIPS 2014.
G. Hinton, O. Vinyals, J. Dean. "Distilling the knowledge in a neural
network", 2015.
H. Zhang, M. Cisse, Y. N. Dauphin, D. Lopez-Paz. "mixup: beyond empirical
risk minimization", ICLR 2018.
"""

from dataclasses import dataclass, fields, replace
from numbers import Integral

import numpy as np
import scipy.sparse as sp
from sklearn.utils import gen_batches

from ..core._activations import apply_activation
from ..core._errors import DEFAULT_OUTPUT_FLOOR, pointwise_errors
from ..core._network import chunk_rows
from ..core._rows import stack_rows
from ._fine_tune import fine_tune_network
from ._losses import loss_for, output_loss
from ._settings import FineTuneSettings
from ._training import (
    _rows,
    _Validation,
)

#: Epochs of a fidelity run unless set: the searches run one per budget tried.
FIDELITY_EPOCHS = 30
#: Epochs without progress before a fidelity run stops, unless set.
FIDELITY_PATIENCE = 5
#: Adam's step size of a fidelity run unless set. The run starts from a
#: network already close to the original (the re-fit one): on MNIST
#: 784-300-300-10 the step size of label fine-tuning on small data (1e-2)
#: left every budget from 30% up where it was (epoch 0 kept), 1e-3 took the
#: certified budget at epsilon = 0.1 from 38.6% to 35.0% of the parameters.
FIDELITY_LEARNING_RATE = 1e-3
#: ``n_synthetic="auto"``: mixed rows added until the rows number this many.
AUTO_ROWS = 5000

#: What fidelity fine-tuning can match.
FIDELITY_TARGETS = ("outputs", "probabilities")


@dataclass(frozen=True)
class FidelitySettings:
    """How fidelity fine-tuning trains: the run's settings and the rows it adds.

    Attributes
    ----------
    settings : FineTuneSettings
    n_synthetic : int or "auto"
        Mixed rows (see :func:`synthetic_rows`) added to the rows given;
        "auto" adds rows up to ``AUTO_ROWS`` rows in all.
    """

    settings: FineTuneSettings
    n_synthetic: object = "auto"

    def synthetic_count(self, n_rows):
        if self.n_synthetic == "auto":
            return max(AUTO_ROWS - n_rows, 0) if n_rows > 1 else 0
        return int(self.n_synthetic)


def fidelity_settings(fine_tune, random_state=None, *, verbose=0, name="fine_tune"):
    """:class:`FidelitySettings` from a ``fine_tune`` hyperparameter, None when off.

    Parameters
    ----------
    fine_tune : None, bool, int or dict
        None or False: no fine-tuning. True: the defaults. An int: the
        number of epochs. A dict: fields of :class:`FineTuneSettings`
        (``epochs``, ``learning_rate``, ...) and ``n_synthetic`` (an int
        ≥ 0 or "auto").
    random_state : int, default=None
        Seeds the run unless the dict sets ``random_state``.
    verbose : int, default=0
        Progress output of the run unless the dict sets ``verbose``.
    name : str, default="fine_tune"
        The hyperparameter's name, for messages.

    Raises
    ------
    ValueError
        For a key that is not a setting, or a value out of its range.
    """
    if fine_tune is None or fine_tune is False:
        return None
    options = {
        "epochs": FIDELITY_EPOCHS,
        "learning_rate": FIDELITY_LEARNING_RATE,
        "n_iter_no_change": FIDELITY_PATIENCE,
        "random_state": random_state,
        "verbose": verbose,
    }
    if isinstance(fine_tune, dict):
        known = {field.name for field in fields(FineTuneSettings)} | {"n_synthetic"}
        unknown = sorted(set(fine_tune) - known, key=str)
        if unknown:
            raise ValueError(
                f"{name} got unknown settings {unknown}; it takes {sorted(known)}"
            )
        options.update(fine_tune)
    elif fine_tune is not True:
        options["epochs"] = fine_tune  # an int (validated by the caller's constraints)
    n_synthetic = options.pop("n_synthetic", "auto")
    if not (
        (isinstance(n_synthetic, str) and n_synthetic == "auto")
        or (isinstance(n_synthetic, Integral) and not isinstance(n_synthetic, bool) and n_synthetic >= 0)
    ):
        raise ValueError(f"{name}['n_synthetic'] must be an int >= 0 or 'auto'; got {n_synthetic!r}")
    try:
        settings = FineTuneSettings(**options)
    except ValueError as error:
        raise ValueError(f"{name}: {error}") from None
    return FidelitySettings(settings, n_synthetic)


def mixing_pairs(X, n_rows, rng):
    """The draws of ``n_rows`` mixed rows of ``X``: two row indices i, j and a weight λ each.

    λ is uniform in [0, 1] (mixup's Beta(1, 1), Zhang et al. 2018).

    Returns
    -------
    first, second : ndarray of int of shape (n_rows,)
    weight : ndarray of shape (n_rows,), of ``X``'s dtype
    """
    first = rng.integers(0, X.shape[0], n_rows)
    second = rng.integers(0, X.shape[0], n_rows)
    return first, second, rng.uniform(size=n_rows).astype(X.dtype)


def _mix(X, first, second, weight):
    """The rows λ·x_i + (1 − λ)·x_j of ``X`` for the pairs and weights given, dense or CSR as ``X``."""
    if sp.issparse(X):
        X = sp.csr_array(X)
        return sp.csr_array(sp.diags_array(weight) @ X[first] + sp.diags_array(1 - weight) @ X[second])
    return weight[:, None] * X[first] + (1 - weight)[:, None] * X[second]


def synthetic_rows(X, n_rows, rng):
    """``n_rows`` convex combinations λ·x_i + (1 − λ)·x_j of random pairs of rows of ``X``.

    λ is uniform in [0, 1] (mixup's Beta(1, 1), Zhang et al. 2018); the
    rows stay inside the convex hull of the data.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
    n_rows : int
    rng : numpy.random.Generator

    Returns
    -------
    ndarray or csr_array of shape (n_rows, n_features), of ``X``'s dtype
    """
    return _mix(X, *mixing_pairs(X, n_rows, rng))


class MixedRows:
    """The rows of ``X``, then mixed pairs of them, each mixed row made when it is read.

    Training reads its rows a mini-batch at a time (``rows[indices]``), so
    the mixed rows need not be held whole: they cost three numbers each
    (:func:`mixing_pairs`), not a row of features, and reading them costs
    a little time (about 10% of a fine-tuning run on 20,000 rows of MNIST).
    A row read is the one :func:`synthetic_rows` gives for the same draws.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
    first, second, weight : ndarray of shape (n_mixed,)
        The draws of :func:`mixing_pairs`.
    """

    ndim = 2

    def __init__(self, X, first, second, weight):
        self.X = sp.csr_array(X) if sp.issparse(X) else X
        self.first, self.second, self.weight = first, second, weight
        self.n_real = X.shape[0]
        self.shape = (X.shape[0] + first.size, X.shape[1])
        self.dtype = X.dtype

    def __getitem__(self, indices):
        """Rows ``indices`` (a slice, an index array or a boolean mask), dense, in ``X``'s dtype."""
        indices = np.arange(self.shape[0])[indices]
        real = indices < self.n_real
        rows = np.empty((indices.size, self.shape[1]), dtype=self.dtype)
        parts = [(real, self.X[indices[real]])]
        mixed = indices[~real] - self.n_real
        if mixed.size:
            parts.append((~real, _mix(self.X, self.first[mixed], self.second[mixed], self.weight[mixed])))
        for where, part in parts:
            rows[where] = part.toarray() if sp.issparse(part) else part
        return rows

    def decision(self, network):
        """``network.decision`` of every row, read a chunk of rows at a time within ``working_memory``."""
        # a mixed row is built from two rows and two weighted copies: five rows of features
        chunk = chunk_rows(8 * (5 * self.shape[1] + 3 * network.widest), self.shape[0])
        return np.concatenate([network.decision(self[rows]) for rows in gen_batches(self.shape[0], chunk)])


class _ErrorQuantile(_Validation):
    """Validation by the statistic a certificate reads: a high quantile of the points' errors.

    The score of a state is minus the ``quantile`` of the validation rows'
    errors as the certificate measures them (:func:`~sklearn_corenet.core._errors.pointwise_errors`,
    of the outputs or, for ``"probabilities"``, of the probability vectors),
    so that the epoch kept is the one whose certificate would be best; the
    training loss breaks ties.
    """

    def __init__(self, rows, loss, out_activation, threshold, *, target, quantile, error, output_floor):
        super().__init__(rows, loss, out_activation, threshold)
        self.target, self.quantile = target, quantile
        self.error, self.output_floor = error, output_floor

    def measure(self, trainer, X, Y):
        widest = max(max(layer.shape) for layer in trainer.layers)
        chunk = chunk_rows(3 * widest * Y.itemsize, self.rows.size)
        raw = np.concatenate(
            [trainer.decision(_rows(X, self.rows[rows])) for rows in gen_batches(self.rows.size, chunk)]
        )
        reference = np.asarray(Y[self.rows], dtype=np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            loss = float(output_loss(self.loss, raw, Y[self.rows])[0])
            estimate = np.array(raw, dtype=np.float64)
            if self.target == "probabilities":
                estimate = apply_activation(_LINKS[self.loss], estimate)
            errors = pointwise_errors(reference, estimate, self.error, self.output_floor)
        if not (np.isfinite(loss) and np.all(np.isfinite(errors))):
            return -np.inf, np.inf
        return -float(np.quantile(errors, self.quantile)), loss


#: The link from raw values to what a classification loss compares.
_LINKS = {"cross_entropy": "softmax", "binary_cross_entropy": "logistic"}


#: Fewest validation rows beyond the quantile that chooses the epoch (10 rows
#: beyond the 0.9 quantile: 100 rows) for unseen rows to validate.
MIN_TAIL_ROWS = 10


def set_aside(rows, fidelity, rng):
    """``rows`` (indices) split into those to compress with and those no compression reads.

    With early stopping, ``validation_fraction`` of them are set aside: fine-tuning
    chooses its epoch on them (:class:`FidelityRows`, ``n_unseen``).

    Returns
    -------
    compress, unseen : ndarray of int
    """
    settings = fidelity.settings
    n_unseen = int(round(settings.validation_fraction * rows.size)) if settings.early_stopping else 0
    aside = np.zeros(rows.size, dtype=bool)
    aside[rng.choice(rows.size, n_unseen, replace=False)] = True
    return rows[~aside], rows[aside]


def with_unlabeled(X, sample_weight, X_unlabeled, rows, fidelity, rng):
    """The rows to compress with: ``X`` and the unlabelled rows ``rows`` (indices
    into ``X_unlabeled``), these of weight 1, but for those set aside for
    fine-tuning (:func:`set_aside`, with ``fidelity`` only).

    Returns
    -------
    X : {ndarray, sparse matrix, LazyRows}
    sample_weight : ndarray or None
    unseen : ndarray of int
        The unlabelled rows set aside, which no compression reads.
    """
    compress, unseen = rows, rows[:0]
    if fidelity is not None and rows.size:
        compress, unseen = set_aside(rows, fidelity, rng)
    if compress.size:
        X = stack_rows(X, X_unlabeled[compress])
        if sample_weight is not None:
            sample_weight = np.concatenate([sample_weight, np.ones(compress.size)])
    return X, sample_weight, unseen


class FidelityRows:
    """The rows fidelity fine-tuning trains on and the original network's targets on them.

    Built once (the original's outputs do not depend on the compressed
    network); :meth:`tune` then fine-tunes any compressed network toward them.

    With early stopping, ``validation_fraction`` of the synthetic rows (of
    the rows given when there are none) are held out of training, and the
    epoch kept is the one whose ``quantile`` of the errors on them is the
    lowest (epoch 0, the network as given, included): a certificate reads
    that quantile. Synthetic rows, because the least-squares re-fit of the
    compressed network was fitted on every real row: on those it looks
    better than it is, and training would stop at once. Real rows that no
    compression read (``n_unseen``, set aside by :func:`set_aside`) are as
    good a test and drawn from the data: they validate instead, all of them,
    when there are enough for the quantile (:data:`MIN_TAIL_ROWS` beyond it);
    otherwise they train.

    Parameters
    ----------
    original : Network
        The original network.
    X : {ndarray, sparse matrix, LazyRows} of shape (n_samples, n_features)
        Rows that may be used to compress (never rows held out to certify),
        in the network's dtype.
    target : {"outputs", "probabilities"}
        Match the last layer's values (squared error) or, for classifiers,
        the predicted probabilities (cross-entropy).
    fidelity : FidelitySettings
    rng : numpy.random.Generator
        Draws the synthetic rows and the validation rows.
    quantile : float, default=0.95
        The quantile of the validation errors that chooses the epoch kept:
        1 − δ of the certificate.
    error : {"l1", "entrywise"}, default="l1"
    output_floor : float, default=0.01
        The certificate's error (see :func:`~sklearn_corenet.core._errors.pointwise_errors`).
    n_unseen : int, default=0
        The last ``n_unseen`` rows of ``X`` were read by no compression.
    """

    def __init__(
        self, original, X, target, fidelity, rng, quantile=0.95, error="l1", output_floor=DEFAULT_OUTPUT_FLOOR,
        n_unseen=0,
    ):
        if target == "probabilities" and original.head.kind == "regression":
            raise ValueError("a regressor is fine-tuned toward its outputs, not probabilities")
        if not isinstance(X, np.ndarray) and not sp.issparse(X):
            X = X[np.arange(X.shape[0])]  # rows read lazily: training reads them many times
        settings = fidelity.settings
        n_synthetic = fidelity.synthetic_count(X.shape[0])
        if n_synthetic:
            X = MixedRows(X, *mixing_pairs(X, n_synthetic, rng))
            # dense rows are held whole when they fit in half of working_memory
            # (reading them is then faster); otherwise mixed as training reads them
            if not sp.issparse(X.X) and chunk_rows(2 * X.shape[1] * X.dtype.itemsize, X.shape[0]) >= X.shape[0]:
                X = X[:]
        # validation rows: real rows no compression read, or synthetic ones
        # (the re-fit has seen every other real row, which makes it look
        # better on them than it is), or else any
        n_real = X.shape[0] - n_synthetic
        # enough of them when the quantile read rests on MIN_TAIL_ROWS rows or more
        unseen_validate = (
            settings.early_stopping and 0 < n_unseen < X.shape[0] and n_unseen * (1 - quantile) >= MIN_TAIL_ROWS
        )
        if unseen_validate:
            self.validation_rows = np.arange(n_real - n_unseen, n_real)
        else:
            pool = np.arange(n_real, X.shape[0]) if n_synthetic else np.arange(X.shape[0])
            n_validation = int(round(settings.validation_fraction * pool.size)) if settings.early_stopping else 0
            n_validation = min(n_validation, pool.size - 1)
            self.validation_rows = np.sort(rng.choice(pool, n_validation, replace=False))
        self.train_rows = np.setdiff1d(np.arange(X.shape[0]), self.validation_rows)
        raw = X.decision(original) if isinstance(X, MixedRows) else original.decision(X)
        raw = np.asarray(raw.toarray() if sp.issparse(raw) else raw, dtype=np.float64)
        self.X, self.settings, self.head, self.target, self.quantile = X, settings, original.head, target, quantile
        self.error, self.output_floor = error, output_floor
        if target == "outputs":
            self.loss, self.out_activation, self.Y = "squared_error", "identity", raw
        else:
            self.loss = loss_for(original.head, original.out_activation, original.n_outputs)
            self.out_activation = original.out_activation
            self.Y = apply_activation(_LINKS[self.loss], raw)
        self.Y = self.Y.astype(original.dtype, copy=False)

    def tune(self, network):
        """A copy of ``network`` fine-tuned toward the original's targets, and the run's history.

        Parameters
        ----------
        network : Network
            A compressed network with the original's input and output widths.

        Returns
        -------
        network : Network
            Its kept weights trained (early stopping keeps the best epoch,
            0 included), no new non-zero.
        history : FineTuneHistory
        """
        settings = self.settings
        coefs = [sp.csr_array(W, dtype=network.dtype, copy=True) for W in network.coefs]
        intercepts = [np.array(b, dtype=network.dtype, copy=True) for b in network.intercepts]
        validation = None
        if self.validation_rows.size:
            validation = _ErrorQuantile(
                self.validation_rows, self.loss, self.out_activation, self.head.threshold,
                target=self.target, quantile=self.quantile, error=self.error, output_floor=self.output_floor,
            )
        elif settings.early_stopping:  # too few rows to hold any out: train on all
            settings = replace(settings, early_stopping=False)
        history = fine_tune_network(
            coefs, intercepts, self.X, self.Y, activation=network.activation, loss=self.loss,
            out_activation=self.out_activation, threshold=self.head.threshold, settings=settings,
            validation=validation,
        )
        # the weights in the form they came in (dense arrays of a drawn network stay dense)
        coefs = [C if sp.issparse(W) else C.toarray() for C, W in zip(coefs, network.coefs, strict=True)]
        return replace(network, coefs=coefs, intercepts=intercepts, extra=dict(network.extra)), history
