"""One trial of the certified search: compress at a budget, certify on held-out rows, and remember what was computed."""

import hashlib
import time
import warnings
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils import _safe_indexing, check_consistent_length

from ..algorithm._draw import draw_compression
from ..algorithm._plan import plan_compression
from ..core._head import predictions, probabilities, score_name
from ..core._held_out import row_keys, split_held_out
from ..core._rows import stack_rows, take_rows
from ..fine_tuning._fidelity import FidelityRows, with_unlabeled
from ._bounds import check_enough_points, required_successes
from ._certificate import make_certificate


class SearchCache:
    """In-process caches of the budget-independent work of one search.

    Within one search the network, the compression points and the planning
    seed are fixed, so the statistics depend only on the points S and the
    sampling plans only on the method, the layer scale and the seed.
    """

    def __init__(self, statistics, sampling_plans):
        self._statistics, self._sampling_plans = statistics, sampling_plans
        self._stored = {}
        self.calls = {"statistics": 0, "sampling_plans": 0}

    def statistics(self, network, points):
        key = ("statistics", id(network), points.shape, hashlib.sha1(np.ascontiguousarray(points)).hexdigest())
        if key not in self._stored:
            self.calls["statistics"] += 1
            self._stored[key] = self._statistics(network, points)
        return self._stored[key]

    def sampling_plans(self, method, problem, layer_scale, seed=None):
        key = ("sampling_plans", method.name, np.asarray(layer_scale).tobytes(), seed)
        if key not in self._stored:
            self.calls["sampling_plans"] += 1
            self._stored[key] = self._sampling_plans(method, problem, layer_scale, seed)
        return self._stored[key]


@dataclass(frozen=True)
class BudgetTrial:
    """One budget tried: its certificate and what it took.

    Attributes
    ----------
    budget : int
        Parameters to keep.
    keep_ratio : float
        ``budget`` over the original parameter count.
    passes : bool
        Whether the certificate meets the target.
    margin : float
        :meth:`Target.margin` of the certificate.
    certificate : Certificate
    nnz : int
        Non-zero parameters of the compressed network.
    seconds : float
        Time to plan, draw, fine-tune and certify.
    plan : CompressionPlan
    drawn : DrawnNetwork
    warnings : list of warnings.WarningMessage
        What planning, drawing and fine-tuning warned about.
    fine_tune_history : FineTuneHistory or None
        The fidelity fine-tuning run (None without one).
    fine_tune_seconds : float
        The part of ``seconds`` it took.
    """

    budget: int
    keep_ratio: float
    passes: bool
    margin: float
    certificate: object
    nnz: int
    seconds: float
    plan: object
    drawn: object
    warnings: list
    fine_tune_history: object = None
    fine_tune_seconds: float = 0.0


class BudgetEvaluator:
    """Compress at any budget and certify on held-out rows; shared work done once.

    Construction splits the calibration rows (copies of a row on one side),
    computes the original network's outputs and predictions on the held-out
    rows, and sets up the caches; each call plans and draws at one budget
    (same planning seed and draw seed for every budget: the budgets are
    compared on common random numbers) and certifies the result.

    Parameters
    ----------
    network : Network
        The original network.
    X : {ndarray, sparse matrix, LazyRows} of shape (n_samples, n_features)
        Validated calibration data, in the network's dtype.
    y : array-like or None
        Targets of ``X`` (score targets; reported otherwise).
    keys : ndarray of uint64
        :func:`~._held_out.row_keys` of ``X``.
    method : Method
    settings : CompressionSettings
        Planning settings; ``keep_ratio`` is set per budget.
    target : Target
    reweight, ridge
        As for :func:`~._compression.draw_compression`.
    validation_fraction : float
        Share of the distinct rows held out.
    random : numpy.random.RandomState
        Chooses the held-out rows and the planning seed.
    draw_seed : int
        Seeds every draw.
    statistics, sampling_plans : callable
        As for :func:`~._compression.plan_compression`; cached here.
    sample_weight : ndarray of shape (n_samples,), default=None
        Weights of the calibration rows (compression only).
    fidelity : FidelitySettings, default=None
        Fine-tune every compressed network toward the original's outputs
        (``fidelity_target``) on the compression rows, before certifying.
    fidelity_target : {"outputs", "probabilities"}, default="outputs"
    extra_rows : {ndarray, sparse matrix}, default=None
        Unlabelled rows (``X_unlabeled``). Unless the target is a score
        (which needs labels), they are split as the calibration rows are,
        ``validation_fraction`` of them held out to certify too; otherwise
        none certifies, and copies of a held-out calibration row are left
        out. The others compress (as rows of weight 1) and train fidelity
        fine-tuning, but for a share that no compression reads, on which
        fine-tuning chooses its epoch.

    Attributes
    ----------
    fit_rows, held_out_rows : ndarray of int
        The split of the calibration rows.
    extra_fit_rows, extra_held_out_rows : ndarray of int
        The split of the unlabelled rows (empty without them). The
        certificates are on the held-out calibration rows, then the
        held-out unlabelled rows; a score, on the former only.
    extra_keys : ndarray of uint64 or None
        :func:`~._held_out.row_keys` of the unlabelled rows.
    extra_unseen_rows : ndarray of int
        The fitting unlabelled rows that only fine-tuning reads (to choose
        its epoch); the compression reads the fitting calibration rows,
        then the other fitting unlabelled rows.
    cache : SearchCache
    """

    def __init__(
        self,
        network,
        X,
        y,
        keys,
        method,
        settings,
        target,
        *,
        reweight,
        ridge,
        validation_fraction,
        random,
        draw_seed,
        statistics,
        sampling_plans,
        sample_weight=None,
        fidelity=None,
        fidelity_target="outputs",
        extra_rows=None,
    ):
        self.extra_keys = None if extra_rows is None else row_keys(extra_rows)
        self.fit_rows, self.held_out_rows, self.extra_fit_rows, self.extra_held_out_rows = _split(
            keys, self.extra_keys, validation_fraction, random, certify_extra=target.score_tolerance is None
        )
        n_held_out = self.held_out_rows.size + self.extra_held_out_rows.size
        # the compression weighs its rows; the certificate counts each held-out row once
        self.fit_weight = None if sample_weight is None else sample_weight[self.fit_rows]
        # an agreement target certifies a share of agreeing points: the points it
        # needs are those of a coverage of 1 - delta with delta = 1 - agreement
        check_enough_points(
            n_held_out,
            target.delta if target.agreement is None else 1 - target.agreement,
            target.confidence,
            what=f"validation_fraction={validation_fraction:g} of the {X.shape[0]} calibration rows"
            + ("" if extra_rows is None or target.score_tolerance is not None else " and X_unlabeled")
            + " holds out",
        )
        if self.fit_rows.size == 0:
            raise ValueError(
                f"validation_fraction={validation_fraction:g} leaves no calibration rows to compress with"
            )
        self.y_held_out = None
        if y is not None:
            check_consistent_length(X, y)
            # the score compares labels: those of the held-out calibration rows
            if self.held_out_rows.size:
                self.y_held_out = _safe_indexing(y, self.held_out_rows)
        elif target.score_tolerance is not None:
            raise ValueError(
                f"score_tolerance={target.score_tolerance!r} compares scores on held-out rows: "
                "pass the targets, fit(model, X, y)"
            )
        if target.agreement is not None and network.head.kind == "regression":
            raise ValueError(
                f"agreement={target.agreement!r} is a target for classifiers (the share of "
                "points given the original's label); a regressor takes epsilon or score_tolerance"
            )
        self.network, self.method, self.settings, self.target = network, method, settings, target
        self.reweight, self.ridge, self.draw_seed = reweight, ridge, draw_seed
        self.X_held_out = X[self.held_out_rows]
        if self.extra_held_out_rows.size:
            self.X_held_out = stack_rows(self.X_held_out, extra_rows[self.extra_held_out_rows])
        self.plan_seed = random.randint(np.iinfo(np.int32).max)
        self.cache = SearchCache(statistics, sampling_plans)
        self.reference = _dense(network.decision(self.X_held_out))
        self.reference_predictions = predictions(network, self.reference)
        self.score_name = score_name(network)
        self.reference_score = None
        if self.y_held_out is not None:
            score = accuracy_score if self.score_name == "accuracy" else r2_score
            self.reference_score = score(self.y_held_out, self.reference_predictions[: self.held_out_rows.size])
        self.reference_probabilities = probabilities(network, self.reference)
        self.required = required_successes(n_held_out, target.delta, target.confidence)
        self.fidelity = None
        rng = None if fidelity is None else np.random.default_rng(random.randint(np.iinfo(np.int32).max))
        # rows read lazily stay so: compression reads them a chunk at a time; the
        # unlabelled rows compress too, but for those fine-tuning chooses its epoch on
        self.X_fit, self.fit_weight, self.extra_unseen_rows = with_unlabeled(
            take_rows(X, self.fit_rows), self.fit_weight, extra_rows, self.extra_fit_rows, fidelity, rng
        )
        if fidelity is not None:
            unseen = self.extra_unseen_rows
            self.fidelity = FidelityRows(
                network, self.X_fit if not unseen.size else stack_rows(self.X_fit, extra_rows[unseen]),
                fidelity_target, fidelity, rng, quantile=1 - target.delta,
                error=target.error, output_floor=target.output_floor, n_unseen=unseen.size,
            )

    def __call__(self, budget, fine_tune=True):
        """The :class:`BudgetTrial` of ``budget`` parameters (fine-tuned with ``fidelity`` when ``fine_tune``)."""
        network, target = self.network, self.target
        began = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            plan = plan_compression(
                network,
                self.X_fit,
                self.method,
                replace(self.settings, keep_ratio=budget / network.n_params),
                np.random.RandomState(self.plan_seed),
                statistics=self.cache.statistics,
                sampling_plans=self.cache.sampling_plans,
                sample_weight=self.fit_weight,
            )
            drawn = draw_compression(
                plan, np.random.default_rng(self.draw_seed), reweight=self.reweight, ridge=self.ridge
            )
            history, tuning = None, 0.0
            if self.fidelity is not None and fine_tune:
                tuning = time.perf_counter()
                tuned, history = self.fidelity.tune(drawn.network)
                tuning = time.perf_counter() - tuning
                # no values before a re-fit: fine-tuning from them would undo this run
                drawn = replace(drawn, network=tuned, start=None)
        estimate = _dense(drawn.network.decision(self.X_held_out))
        certificate = make_certificate(
            self.reference,
            estimate,
            epsilon=target.epsilon,
            delta=target.delta,
            confidence=target.confidence,
            error=target.error,
            output_floor=target.output_floor,
            predicted=(self.reference_predictions, predictions(network, estimate)),
            y=self.y_held_out,
            score_name=self.score_name,
            reference_score=self.reference_score,
            required=self.required,
            error_on=target.error_on,
            probabilities=(
                None
                if self.reference_probabilities is None
                else (self.reference_probabilities, probabilities(network, estimate))
            ),
        )
        return BudgetTrial(
            budget=int(budget),
            keep_ratio=budget / network.n_params,
            passes=target.met(certificate),
            margin=target.margin(certificate),
            certificate=certificate,
            nnz=_nnz(drawn.network),
            seconds=time.perf_counter() - began,
            plan=plan,
            drawn=drawn,
            warnings=list(caught),
            fine_tune_history=history,
            fine_tune_seconds=tuning,
        )


def _split(keys, extra_keys, fraction, random, certify_extra):
    """Fitting and held-out rows of the calibration rows and of the unlabelled rows.

    With ``certify_extra``, the distinct rows of both are split together, so
    that a row and its copies are on one side whichever of the two holds
    them; otherwise every unlabelled row fits, except copies of a held-out
    calibration row.

    Returns
    -------
    fit_rows, held_out_rows : ndarray of int
        Of the calibration rows.
    extra_fit_rows, extra_held_out_rows : ndarray of int
        Of the unlabelled rows (empty without them).
    """
    none = np.arange(0)
    if extra_keys is None or not certify_extra:
        fit, held = split_held_out(keys, fraction, random)
        extra_fit = none if extra_keys is None else np.flatnonzero(~np.isin(extra_keys, keys[held]))
        return fit, held, extra_fit, none
    n = keys.size
    fit, held = split_held_out(np.concatenate([keys, extra_keys]), fraction, random)
    return fit[fit < n], held[held < n], fit[fit >= n] - n, held[held >= n] - n


def _dense(values):
    return values.toarray() if sp.issparse(values) else np.asarray(values)


def _nnz(network):
    return int(
        sum(np.count_nonzero(W) for W in network.coefs)
        + sum(np.count_nonzero(b) for b in network.intercepts)
    )
