"""Choosing a compressed model: a kept-fraction scorer and a refit rule.

Accuracy alone always prefers the least compressed candidate of a grid over
``keep_ratio`` or ``epsilon``. The two helpers here let ``GridSearchCV``
record how much of the network each candidate keeps, and refit the sparsest
candidate whose score is within a tolerance of the best one.
"""

from numbers import Real

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.utils._param_validation import Interval, validate_params

from ..core._network import NetworkModel


def _compressed_network(estimator):
    """The compressed network inside ``estimator``."""
    if isinstance(estimator, Pipeline):
        estimator = estimator[-1]
    if isinstance(estimator, NetworkModel):
        return estimator
    compressed = getattr(estimator, "compressed_", None)
    if isinstance(compressed, NetworkModel):
        return compressed
    raise TypeError(
        "the kept fraction is defined for CoreNetClassifier, CoreNetRegressor, "
        "SparseMLPClassifier, SparseMLPRegressor or a Pipeline ending in one; "
        f"got {type(estimator).__name__}"
    )


class _KeptFractionScorer:
    """Scorer returning the kept fraction of parameters (see the factory)."""

    def __init__(self, sign):
        self._sign = sign

    def __call__(self, estimator, X=None, y=None, **kwargs):
        return self._sign * _compressed_network(estimator).keep_ratio_

    def __repr__(self):
        greater_is_better = self._sign > 0
        return f"make_kept_fraction_scorer(greater_is_better={greater_is_better})"


@validate_params({"greater_is_better": ["boolean"]}, prefer_skip_nested_validation=True)
def make_kept_fraction_scorer(*, greater_is_better=True):
    """Make a scorer that returns the fraction of parameters a model keeps.

    The value is ``keep_ratio_`` of the compressed network: non-zero weights
    and biases over the original model's parameter count. It does not look at
    ``X`` or ``y``.

    Parameters
    ----------
    greater_is_better : bool, default=True
        True returns the fraction itself, for reporting next to a score in
        ``GridSearchCV(scoring={...})`` (and for :func:`sparsest_within`).
        False returns its negative, as scikit-learn's ``neg_*`` scorers do, for
        a search whose objective is to keep as little as possible.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)`` for a :class:`CoreNetClassifier`,
        :class:`CoreNetRegressor`, a ``SparseMLP*`` estimator, or a
        ``Pipeline`` ending in one of them.

    See Also
    --------
    kept_fraction_scorer : The scorer with ``greater_is_better=True``.
    sparsest_within : Refit rule that uses the recorded fraction.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.frozen import FrozenEstimator
    >>> from sklearn.neural_network import MLPClassifier
    >>> from sklearn_corenet import CoreNetClassifier, make_kept_fraction_scorer
    >>> X, y = load_digits(return_X_y=True)
    >>> mlp = MLPClassifier((32,), max_iter=50, random_state=0).fit(X / 16, y)
    >>> net = CoreNetClassifier(FrozenEstimator(mlp), keep_ratio=0.25).fit(X / 16, y)
    >>> neg_kept_fraction = make_kept_fraction_scorer(greater_is_better=False)
    >>> round(neg_kept_fraction(net, X / 16, y), 3)
    -0.25
    """
    return _KeptFractionScorer(1.0 if greater_is_better else -1.0)


#: Scorer returning the kept fraction of parameters of a compressed model
#: (``make_kept_fraction_scorer()``); use it as an entry of a ``scoring`` dict.
kept_fraction_scorer = make_kept_fraction_scorer()


class _SparsestWithin:
    """Refit rule of :func:`sparsest_within` (a class, so that it pickles).

    ``GridSearchCV.score`` of a multi-metric search looks its scorer up as
    ``scorer_[refit]``: the rule compares equal to, and hashes as, the name
    of the metric it ranks by (``score_key``, or the one it found in
    ``cv_results_``), so that the search scores with that metric.
    """

    def __init__(self, tolerance, score_key, kept_key):
        self.tolerance = tolerance
        self.score_key = score_key
        self.kept_key = kept_key
        self._score_name = score_key

    def __eq__(self, other):
        if isinstance(other, str):
            return self._score_name is not None and other == self._score_name
        if isinstance(other, _SparsestWithin):
            return (self.tolerance, self.score_key, self.kept_key) == (
                other.tolerance,
                other.score_key,
                other.kept_key,
            )
        return NotImplemented

    def __hash__(self):
        # the hash of the metric's name, for the scorer_[refit] lookup; it
        # is fixed once the rule has seen cv_results_ (or from the start
        # with score_key)
        return hash(self._score_name)

    def __repr__(self):
        return (
            f"sparsest_within({self.tolerance!r}, score_key={self.score_key!r}, "
            f"kept_key={self.kept_key!r})"
        )

    def _score_column(self, cv_results):
        if self.score_key is not None:
            return f"mean_test_{self.score_key}"
        if "mean_test_score" in cv_results:
            return "mean_test_score"
        others = [
            key
            for key in cv_results
            if key.startswith("mean_test_") and key != f"mean_test_{self.kept_key}"
        ]
        if len(others) != 1:
            raise ValueError(
                "cannot tell which metric is the score among "
                f"{sorted(key[len('mean_test_'):] for key in others)}: pass "
                "sparsest_within(..., score_key=<its name in scoring>)"
            )
        return others[0]

    def __call__(self, cv_results):
        score_column = self._score_column(cv_results)
        self._score_name = score_column[len("mean_test_") :]
        kept_column = f"mean_test_{self.kept_key}"
        for column, hint in [
            (score_column, "score_key must name a metric of scoring"),
            (
                kept_column,
                "record it with scoring={..., "
                f"{self.kept_key!r}: kept_fraction_scorer}}",
            ),
        ]:
            if column not in cv_results:
                raise ValueError(f"cv_results_ has no {column!r}: {hint}")
        scores = np.asarray(cv_results[score_column], dtype=float)
        # the absolute value also reads a negated kept-fraction scorer
        kept = np.abs(np.asarray(cv_results[kept_column], dtype=float))
        valid = np.isfinite(scores) & np.isfinite(kept)
        if not valid.any():
            raise ValueError("every candidate failed: no score to choose from")
        best = scores[valid].max()
        eligible = np.flatnonzero(valid & (scores >= best - self.tolerance))
        # sparsest first, then the better score, then the first candidate
        order = np.lexsort((eligible, -scores[eligible], kept[eligible]))
        return int(eligible[order[0]])


@validate_params(
    {
        "tolerance": [Interval(Real, 0, None, closed="left")],
        "score_key": [str, None],
        "kept_key": [str],
    },
    prefer_skip_nested_validation=True,
)
def sparsest_within(tolerance=0.01, *, score_key=None, kept_key="kept_fraction"):
    """Refit rule for ``GridSearchCV``: the sparsest candidate that scores well.

    Among the candidates whose mean test score is at least the best mean test
    score minus ``tolerance``, the one with the smallest mean kept fraction
    (ties: the higher score). Accuracy alone would always pick the least
    compressed candidate.

    Parameters
    ----------
    tolerance : float, default=0.01
        How much mean test score, in the metric's own units (0.01 is one
        point of accuracy), may be given up for a sparser model.
    score_key : str, default=None
        Name of the score in ``scoring``. None: the only metric besides
        ``kept_key`` (or ``"score"`` in a single-metric search).
    kept_key : str, default="kept_fraction"
        Name under which ``scoring`` records :data:`kept_fraction_scorer` (a
        negated one from ``make_kept_fraction_scorer(greater_is_better=False)``
        works as well).

    Returns
    -------
    refit : callable
        ``refit(cv_results) -> index`` of the chosen candidate, for
        ``GridSearchCV(refit=...)``. Failed candidates (NaN scores) are
        never chosen. The search's ``score(X, y)`` then uses the score
        metric (``score_key``, or the one found).

    See Also
    --------
    kept_fraction_scorer : Records the kept fraction in ``cv_results_``.

    Examples
    --------
    >>> from sklearn_corenet import sparsest_within
    >>> cv_results = {
    ...     "mean_test_accuracy": [0.97, 0.965, 0.95, 0.80],
    ...     "mean_test_kept_fraction": [0.9, 0.5, 0.2, 0.05],
    ... }
    >>> sparsest_within(0.01)(cv_results)
    1
    >>> sparsest_within(0.05)(cv_results)
    2

    In a search (with a frozen network, nothing is trained again)::

        search = GridSearchCV(
            CoreNetClassifier(FrozenEstimator(mlp), random_state=0, memory="cache"),
            {"keep_ratio": [0.05, 0.1, 0.2, 0.5]},
            scoring={"accuracy": "accuracy", "kept_fraction": kept_fraction_scorer},
            refit=sparsest_within(0.01),
        )
    """
    return _SparsestWithin(tolerance, score_key, kept_key)
