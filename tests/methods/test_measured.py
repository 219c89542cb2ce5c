"""``method="auto"``: the selection rule chosen by measured error on held-out calibration rows."""

import warnings

import numpy as np
import pytest

from sklearn_corenet import METHODS, CoreNetCompressor
from sklearn_corenet.methods import ActivationMagnitude, SelectionMethod
from sklearn_corenet.methods._held_out import (
    held_out_rows,
    label_differences,
    output_loss,
    probability_distance,
)
from sklearn_corenet.methods._measured import MeasuredChoice, clearly_better


class Smallest(SelectionMethod):
    """Keeps the edges of smallest magnitude: a rule no measurement should choose."""

    name = "smallest"
    default_reweight = "lstsq"

    def select(self, problem, budget):
        layers = []
        share = budget / sum(W.size for W in problem.weights)
        for W in problem.weights:
            count = int(share * W.size)
            order = np.argsort(np.abs(W), axis=None)[:count]
            keep = np.zeros(W.size, dtype=bool)
            keep[order] = True
            layers.append(np.where(keep.reshape(W.shape), W, 0))
        return layers


class Recording(ActivationMagnitude):
    """Wanda that records the calibration rows every selection saw."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def select(self, problem, budget):
        self.seen.append(np.asarray(problem.X).copy())
        return super().select(problem, budget)


def _compress(mlp, X, method, keep_ratio=0.1, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return CoreNetCompressor(keep_ratio=keep_ratio, method=method, **params).fit_transform(mlp, X)


def test_auto_is_the_measured_choice_and_says_what_it_chose(digits, digits_mlp):
    X, y = digits
    compressor = CoreNetCompressor(keep_ratio=0.05).fit(digits_mlp, X[:1000])
    assert compressor.method_ is METHODS["measured"]
    compressed = compressor.transform()
    chosen = compressed.compression_info_.selection
    assert chosen in [repr(c) for c in METHODS["measured"].candidates]
    # the model is what the chosen rule gives when named
    candidate = next(c for c in METHODS["measured"].candidates if repr(c) == chosen)
    by_name = _compress(digits_mlp, X[:1000], candidate, keep_ratio=0.05)
    for ours, theirs in zip(compressed.coefs_, by_name.coefs_, strict=True):
        np.testing.assert_array_equal(ours.toarray(), theirs.toarray())
    # a method chosen by name records no selection
    assert _compress(digits_mlp, X[:1000], "wanda").compression_info_.selection is None


def test_a_clearly_worse_rule_is_never_chosen_even_first(digits, digits_mlp):
    X, y = digits
    method = MeasuredChoice("test", candidates=(Smallest(), ActivationMagnitude()))
    compressed = _compress(digits_mlp, X[:1000], method)
    assert compressed.compression_info_.selection == repr(ActivationMagnitude())
    worst = _compress(digits_mlp, X[:1000], Smallest())
    assert compressed.score(X[1000:], y[1000:]) > worst.score(X[1000:], y[1000:]) + 0.2


def test_the_first_candidate_stays_when_the_rows_cannot_tell_them_apart(digits, digits_mlp):
    X, _ = digits
    first, second = ActivationMagnitude(), ActivationMagnitude(output_layer="dense-if-cheap")
    method = MeasuredChoice("test", candidates=(first, second))
    # too few rows to hold any out: the first, unmeasured
    assert _compress(digits_mlp, X[:20], method).compression_info_.selection == repr(first)
    # identical rules: the first
    twins = MeasuredChoice("test", candidates=(first, ActivationMagnitude()))
    assert _compress(digits_mlp, X[:600], twins).compression_info_.selection == repr(first)


def test_held_out_rows_never_fit_a_candidate_and_the_choice_then_uses_every_row(digits, digits_mlp):
    X, _ = digits
    recording = Recording()
    # the recording rule is the better one, so it is chosen and compresses last
    method = MeasuredChoice("test", candidates=(Smallest(), recording))
    _compress(digits_mlp, X[:800], method)
    held = held_out_rows(X[:800], method.held_out_every)
    assert 0.15 < held.mean() < 0.35
    scored, final = recording.seen[0], recording.seen[-1]
    np.testing.assert_array_equal(scored, X[:800][~held])
    np.testing.assert_array_equal(final, X[:800])


def test_held_out_rows_follow_the_values_so_repeated_rows_stay_together(digits):
    X, _ = digits
    doubled = np.vstack([X[:300], X[:300]])
    held = held_out_rows(doubled, 4)
    np.testing.assert_array_equal(held[:300], held[300:])
    np.testing.assert_array_equal(held_out_rows(X[:300], 4, working_memory=0.01), held[:300])
    # the same values in another dtype, order, layout or sign of zero: the same side
    negative_zeros = np.where(X[:300] == 0, -0.0, X[:300])
    for same in (X[:300].astype(np.float32), np.asfortranarray(X[:300]), negative_zeros):
        np.testing.assert_array_equal(held_out_rows(same, 4), held[:300])
    np.testing.assert_array_equal(held_out_rows(X[:300][::-1], 4), held[:300][::-1])
    import scipy.sparse as sp

    np.testing.assert_array_equal(held_out_rows(sp.csr_array(X[:300]), 4), held[:300])


def test_integer_weights_choose_as_repeated_rows(digits, digits_mlp):
    X, _ = digits
    weights = np.random.default_rng(0).integers(1, 3, size=500)
    repeated = np.repeat(X[:500], weights, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        weighted = CoreNetCompressor(keep_ratio=0.05).fit(digits_mlp, X[:500], sample_weight=weights).transform()
        copies = CoreNetCompressor(keep_ratio=0.05).fit(digits_mlp, repeated).transform()
    assert weighted.compression_info_.selection == copies.compression_info_.selection
    for ours, theirs in zip(weighted.coefs_, copies.coefs_, strict=True):
        np.testing.assert_allclose(ours.toarray(), theirs.toarray(), rtol=1e-6, atol=1e-9)


def test_clearly_better_needs_more_than_noise():
    rng = np.random.default_rng(0)
    incumbent = (rng.random(400) < 0.10).astype(float)
    # one row fewer wrong out of 400: noise
    challenger = incumbent.copy()
    challenger[np.flatnonzero(incumbent)[0]] = 0
    assert not clearly_better(challenger, incumbent)
    # half the wrong rows fixed: clearly better, and never the other way
    fixed = incumbent.copy()
    fixed[np.flatnonzero(incumbent)[::2]] = 0
    assert clearly_better(fixed, incumbent) and not clearly_better(incumbent, fixed)
    # weights count as repetitions: a weight of 2 everywhere is every row twice
    doubled = np.concatenate([incumbent, incumbent])
    barely = incumbent.copy()
    barely[np.flatnonzero(incumbent)[:3]] = 0  # 3 of 400 rows: below the margin once, above it twice
    assert not clearly_better(barely, incumbent)
    assert clearly_better(np.concatenate([barely, barely]), doubled)
    assert clearly_better(barely, incumbent, np.full(400, 2.0))


def test_label_differences_follow_predict_for_every_head(digits_mlp, regression_mlp, digits):
    from sklearn_corenet.adapters import network_of
    from sklearn_corenet.core._head import OutputHead

    X, _ = digits
    network = network_of(digits_mlp)
    original = network.decision(X[:50])
    swapped = original[:, ::-1]
    differences = label_differences(network, original, swapped)
    np.testing.assert_array_equal(differences, np.argmax(original, 1) != np.argmax(swapped, 1))
    assert label_differences(network, original, original).sum() == 0
    # a binary head with another threshold: labels as predict gives them
    binary = network.copy(
        coefs=[*network.coefs[:-1], network.coefs[-1][:, :1]],
        intercepts=[*network.intercepts[:-1], network.intercepts[-1][:1]],
        out_activation="logistic",
        head=OutputHead("binary", classes=np.array([0, 1]), threshold=0.3),
    )
    logits = np.array([[-1.0], [-0.5], [0.5]])  # p = 0.27, 0.38, 0.62: labels 0, 1, 1
    moved = np.array([[-0.7], [-1.0], [1.0]])  # p = 0.33, 0.27, 0.73: labels 1, 0, 1
    np.testing.assert_array_equal(label_differences(binary, logits, moved), [1, 1, 0])
    regression = network_of(regression_mlp)
    values = np.arange(6.0).reshape(3, 2)[:, :1]
    np.testing.assert_allclose(label_differences(regression, values, values + 0.5), 0.25)



def test_probability_distance_is_the_total_variation_of_the_probabilities(digits_mlp, regression_mlp, digits):
    from scipy.special import expit, softmax

    from sklearn_corenet.adapters import network_of
    from sklearn_corenet.core._head import OutputHead

    X, _ = digits
    network = network_of(digits_mlp)
    original = network.decision(X[:50])
    moved = original + np.random.default_rng(0).normal(scale=original.std(), size=original.shape)
    distance = probability_distance(network, original, moved)
    expected = 0.5 * np.abs(softmax(moved, axis=1) - softmax(original, axis=1)).sum(axis=1)
    np.testing.assert_allclose(distance, expected, rtol=1e-12)
    assert np.all(distance <= 1) and np.all(probability_distance(network, original, original) == 0)
    # a row whose label changes is at least half the gap between the original's two likeliest classes away
    p = np.sort(softmax(original, axis=1), axis=1)
    changed = np.argmax(original, 1) != np.argmax(moved, 1)
    assert changed.any()
    assert np.all(distance[changed] >= 0.5 * (p[changed, -1] - p[changed, -2]) - 1e-12)
    # one logistic output: |p̂ − p|; several (multilabel): the mean over labels
    binary = network.copy(
        coefs=[*network.coefs[:-1], network.coefs[-1][:, :1]],
        intercepts=[*network.intercepts[:-1], network.intercepts[-1][:1]],
        out_activation="logistic",
        head=OutputHead("binary", classes=np.array([0, 1]), threshold=0.3),
    )
    logits, shifted = np.array([[-1.0], [0.5]]), np.array([[0.0], [0.5]])
    np.testing.assert_allclose(probability_distance(binary, logits, shifted), [0.5 - expit(-1.0), 0.0])
    multilabel = binary.copy(
        coefs=[*network.coefs[:-1], network.coefs[-1][:, :2]],
        intercepts=[*network.intercepts[:-1], network.intercepts[-1][:2]],
        head=OutputHead("multilabel", classes=np.array([0, 1]), threshold=0.5),
    )
    both = np.array([[-1.0, 0.0]])
    np.testing.assert_allclose(probability_distance(multilabel, both, both + [1.0, 0.0]), [(0.5 - expit(-1.0)) / 2])
    regression = network_of(regression_mlp)
    values = np.arange(3.0)[:, None]
    np.testing.assert_allclose(probability_distance(regression, values, values + 0.5), 0.25)


def test_the_default_finds_the_rule_that_loses_least_where_labels_cannot_tell():
    # a 3×96 network on 5 overlapping classes at 10% kept: ranking by |w| with
    # a dense output layer loses about 10 points of accuracy, "wanda" about
    # 16; on 500 held-out rows their label disagreements differ by less than
    # two standard errors, their probabilities clearly
    from sklearn.datasets import make_classification
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    X, y = make_classification(
        n_samples=6000, n_features=20, n_informative=12, n_classes=5, n_clusters_per_class=2,
        class_sep=0.8, random_state=0,
    )
    X = StandardScaler().fit_transform(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlp = MLPClassifier((96, 96, 96), max_iter=200, early_stopping=True, random_state=0).fit(X[:3000], y[:3000])
    accuracy = mlp.score(X[3000:], y[3000:])
    drops = {
        method: accuracy - _compress(mlp, X[:2000], method).score(X[3000:], y[3000:])
        for method in ("wanda", "auto")
    }
    assert drops["auto"] < 0.8 * drops["wanda"]


@pytest.mark.parametrize("n_rows, min_measured_rows, n_folds", [(800, 500, 3), (800, 0, 1), (800, 150, 1), (3000, 500, 1)])
def test_small_calibration_sets_are_cross_fitted(digits, digits_mlp, n_rows, min_measured_rows, n_folds):
    # with fewer than min_measured_rows held out, further shares are held out
    # in turn: each candidate compresses once per share, never on the rows it
    # is measured on, and no row is measured twice
    X, _ = digits
    rows = np.vstack([X, X / 2])[:n_rows]
    recording = Recording()
    method = MeasuredChoice("test", candidates=(recording, Smallest()), min_measured_rows=min_measured_rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        CoreNetCompressor(keep_ratio=0.2, method=method).fit_transform(digits_mlp, rows)
    fits = recording.seen[:-1]  # the last one is the compression with every row
    assert len(fits) == n_folds
    measured = []
    for fold, seen in enumerate(fits):
        held = held_out_rows(rows, 4, fold=fold)
        np.testing.assert_array_equal(seen, rows[~held])
        measured.append(np.flatnonzero(held))
    measured = np.concatenate(measured)
    assert np.unique(measured).size == measured.size
    assert measured.size >= min(min_measured_rows, n_rows) or n_folds == 1


def test_the_certified_search_compares_the_certified_candidates():
    default = METHODS["measured"]
    measuring = default.measuring(output_loss)
    assert measuring.candidates == default.certified_candidates
    assert measuring.min_measured_rows == 0 and measuring.distance is output_loss
    # without certified candidates, all of them
    method = MeasuredChoice("test", candidates=default.candidates)
    assert method.measuring(output_loss).candidates == default.candidates
    with pytest.raises(ValueError, match="certified_candidates"):
        MeasuredChoice("test", candidates=default.candidates[:2], certified_candidates=(ActivationMagnitude(),))


@pytest.mark.parametrize("method", ["auto", "wanda-search"])
def test_sharing_the_original_values_changes_no_weight(digits, digits_mlp, monkeypatch, method):
    # the measuring rules compute the original's values once per choice; with
    # every value computed again for each candidate the model is the same
    import contextlib

    from sklearn_corenet.methods import _measured, _split_search

    X, _ = digits
    weight = np.random.default_rng(0).uniform(0.5, 2.0, 600)
    shared = CoreNetCompressor(keep_ratio=0.05, method=method).fit_transform(digits_mlp, X[:600], sample_weight=weight)
    monkeypatch.setattr(_measured, "memoizing", contextlib.nullcontext)
    monkeypatch.setattr(_split_search, "memoizing", contextlib.nullcontext)
    alone = CoreNetCompressor(keep_ratio=0.05, method=method).fit_transform(digits_mlp, X[:600], sample_weight=weight)
    for a, b in zip(shared.coefs_, alone.coefs_, strict=True):
        np.testing.assert_array_equal(a.toarray(), b.toarray())


def test_a_score_target_searches_with_the_certified_candidates(digits, digits_mlp):
    from sklearn_corenet.compressor._fitting import resolve_method

    for options in ({"score_tolerance": 0.02}, {"agreement": 0.95}, {"epsilon": 0.2}):
        method, _ = resolve_method(CoreNetCompressor(keep_ratio="certified", **options))
        assert method.candidates == METHODS["measured"].certified_candidates
        assert method.min_measured_rows == 0
    method, _ = resolve_method(CoreNetCompressor(keep_ratio=0.1))
    assert method is METHODS["measured"]


def test_a_distance_may_not_write_into_the_shared_outputs(digits, digits_mlp):
    def writing(network, original, compressed):
        original[:] = 0
        return np.zeros(len(original))

    X, _ = digits
    method = MeasuredChoice("test", candidates=(ActivationMagnitude(), Smallest()), distance=writing)
    with pytest.raises(ValueError, match="read-only"):
        _compress(digits_mlp, X[:800], method)


@pytest.mark.parametrize("value", [-1, 2.5, "500"])
def test_min_measured_rows_must_be_a_count(value):
    with pytest.raises(ValueError, match="min_measured_rows"):
        MeasuredChoice("test", candidates=(METHODS["wanda"],), min_measured_rows=value)


def test_regressors_are_not_cut_short():
    # squared errors: a challenger can be clearly better than the best so far
    # even where one equal to the original would not be, so every one is scored
    best = np.array([1.0] * 99 + [200.0])
    assert not clearly_better(np.zeros(100), best)
    assert clearly_better(np.array([0.0] * 99 + [199.0]), best)


def test_regressors_are_measured_by_squared_error(regression_data, regression_mlp):
    X, y = regression_data
    method = MeasuredChoice("test", candidates=(Smallest(), ActivationMagnitude()))
    compressed = _compress(regression_mlp, X[:400], method, keep_ratio=0.2)
    assert compressed.compression_info_.selection == repr(ActivationMagnitude())


def test_held_out_weight_decides_whether_to_measure(digits, digits_mlp):
    X, _ = digits
    rows = X[20:44]
    held = held_out_rows(rows, 4)
    assert 0 < held.sum() < 8
    # too few held-out rows, but their weight is enough: the candidates are measured
    weights = np.where(held, 8.0 / held.sum() + 1, 1.0)
    scaled = weights / weights.mean()  # as the compressor hands them on
    assert scaled[held].sum() >= 8 and scaled[~held].sum() >= 8
    spy = Recording()
    method = MeasuredChoice("test", candidates=(Smallest(), spy))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        CoreNetCompressor(keep_ratio=0.1, method=method).fit(digits_mlp, rows, sample_weight=weights).transform()
        assert len(spy.seen) >= 1 and spy.seen[0].shape[0] == np.count_nonzero(~held)
        spy.seen.clear()
        unweighted = CoreNetCompressor(keep_ratio=0.1, method=method).fit(digits_mlp, rows).transform()
    assert unweighted.compression_info_.selection == repr(Smallest()) and spy.seen == []


def test_the_choice_is_made_once_per_fit(digits, digits_mlp):
    X, _ = digits
    spy = Recording()
    method = MeasuredChoice("test", candidates=(spy, ActivationMagnitude(score="magnitude")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        compressor = CoreNetCompressor(keep_ratio=0.03, method=method).fit(digits_mlp, X[:800])
        compressor.transform()
        measured = len(spy.seen)
        compressor.transform()
        compressor.summary()
    # later draws select with the rule chosen (one selection each), measuring nothing again
    assert len(spy.seen) <= measured + 2


def test_structured_methods_refuse_an_edge_rule_that_measures():
    from sklearn_corenet.methods import NeuronPruning

    with pytest.raises(ValueError, match="chooses among rules by measuring"):
        NeuronPruning("test", edges=METHODS["measured"])


@pytest.mark.parametrize(
    "candidates, held_out_every, match",
    [
        ((), 4, "one or more SelectionMethod"),
        ((METHODS["magnitude"], METHODS["corenet"]), 4, "one or more SelectionMethod"),
        ((METHODS["neurons"],), 4, "keep every neuron"),
        ((METHODS["wanda"],), 1, "held_out_every"),
    ],
)
def test_bad_candidates_are_refused(candidates, held_out_every, match):
    with pytest.raises(ValueError, match=match):
        MeasuredChoice("test", candidates=candidates, held_out_every=held_out_every)


def test_no_candidate_is_scored_once_none_could_be_clearly_better(digits, digits_mlp):
    X, _ = digits
    # nearly every parameter kept: the first rule agrees with the original on
    # every held-out row, so no other could be better by two standard errors
    spy = Recording()
    method = MeasuredChoice("test", candidates=(ActivationMagnitude(), spy))
    compressed = _compress(digits_mlp, X[:800], method, keep_ratio=0.9)
    assert spy.seen == []
    assert compressed.compression_info_.selection == repr(ActivationMagnitude())
    # at a small budget the first disagrees often enough: the second is scored
    _compress(digits_mlp, X[:800], method, keep_ratio=0.03)
    assert len(spy.seen) >= 1


def test_a_measurement_uses_at_most_its_limit_of_rows(digits):
    from sklearn_corenet.methods._held_out import split_rows

    X, _ = digits
    held = held_out_rows(X, 4)
    fitting, held_out = split_rows(X, 4, limit=100, working_memory=0.01)
    assert fitting.size == 75 and held_out.size == 25
    # the first rows of each side, in order
    np.testing.assert_array_equal(fitting, np.flatnonzero(~held)[:75])
    np.testing.assert_array_equal(held_out, np.flatnonzero(held)[:25])
    everything = split_rows(X, 4)
    np.testing.assert_array_equal(everything[1], np.flatnonzero(held))


def test_the_certified_search_chooses_by_what_its_target_reads(digits, digits_mlp):
    from sklearn_corenet.methods._held_out import CertificateError, output_loss

    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        epsilon = CoreNetCompressor(epsilon=0.2, delta=0.1, error_on="probabilities", random_state=0)
        epsilon.fit(digits_mlp, X[:1000])
        agreement = CoreNetCompressor(agreement=0.9, random_state=0).fit(digits_mlp, X[:1000])
        score = CoreNetCompressor(score_tolerance=0.05, random_state=0).fit(digits_mlp, X[:1000], y[:1000])
    assert epsilon.method_.distance == CertificateError(0.2, "l1", 0.01, "probabilities")
    assert agreement.method_.distance is output_loss
    assert "distance=output_loss" in repr(agreement.method_)
    # a score target compares the probabilities, as a budget does, among the certified candidates
    assert score.method_.distance is None
    assert score.method_.candidates == METHODS["measured"].certified_candidates
    assert CoreNetCompressor(keep_ratio=0.1).fit(digits_mlp, X[:500]).method_ is METHODS["measured"]
    # the compressor, its method included, pickles and clones
    import pickle

    from sklearn.base import clone

    again = pickle.loads(pickle.dumps(epsilon))
    assert again.method_.distance == epsilon.method_.distance
    assert clone(epsilon).get_params() == epsilon.get_params()


def test_a_distance_decides_the_choice(digits, digits_mlp):
    X, _ = digits

    def prefers_dense_output(network, original, compressed):
        # a distance under which only the dense output layer's networks are close
        return np.zeros(original.shape[0]) if dense[0] else np.ones(original.shape[0])

    class Flagging(ActivationMagnitude):
        def select(self, problem, budget):
            dense[0] = self.output_layer == "dense-if-cheap"
            return super().select(problem, budget)

    dense = [False]
    first, second = Flagging(), Flagging(output_layer="dense-if-cheap")
    by_labels = MeasuredChoice("test", candidates=(first, second))
    by_distance = by_labels.measuring(prefers_dense_output)
    assert by_distance.candidates == by_labels.candidates and by_distance.distance is prefers_dense_output
    assert _compress(digits_mlp, X[:800], by_distance, keep_ratio=0.2).compression_info_.selection == repr(second)
    # the same rows, judged by the labels: rules this close keep the first
    assert _compress(digits_mlp, X[:800], by_labels, keep_ratio=0.2).compression_info_.selection == repr(first)


def test_the_certificate_error_is_capped_at_twice_epsilon(digits_mlp, digits):
    from sklearn_corenet.adapters import network_of
    from sklearn_corenet.core._errors import pointwise_errors
    from sklearn_corenet.methods._held_out import CertificateError

    X, _ = digits
    network = network_of(digits_mlp)
    original = network.decision(X[:50])
    compressed = original * np.linspace(0.5, 1.5, 50)[:, None]
    original[0] = 0.0  # an original output of 0: an infinite error, capped
    distance = CertificateError(0.1)
    values = distance(network, original, compressed)
    expected = np.minimum(pointwise_errors(original, compressed), 0.2)
    np.testing.assert_allclose(values, expected)
    assert values[0] == 0.2 and values.max() <= 0.2 and np.isfinite(values).all()
    probabilities = CertificateError(0.1, error_on="probabilities")(network, original[1:], compressed[1:])
    assert (probabilities < values[1:] + 1e-12).any() and probabilities.max() <= 0.2


class CountingSmallest(Smallest):
    """The smallest edges, counting the re-fits of its networks."""

    def __init__(self):
        self.refits = 0

    def neurons_kept(self, layers, problem):
        self.refits += 1
        return super().neurons_kept(layers, problem)


def test_cross_fitting_stops_measuring_a_clearly_worse_candidate(digits, digits_mlp):
    # three quarters are measured in turn; the challenger is clearly worse on
    # the first, so it is not re-fitted on the other two
    X, _ = digits
    rows = X[:800]
    worse = CountingSmallest()
    method = MeasuredChoice("test", candidates=(ActivationMagnitude(), worse), min_measured_rows=500)
    compressed = _compress(digits_mlp, rows, method, keep_ratio=0.2)
    assert compressed.compression_info_.selection == repr(ActivationMagnitude())
    assert worse.refits == 1
    # as the first candidate, it is measured on all three (and not chosen)
    first = CountingSmallest()
    method = MeasuredChoice("test", candidates=(first, ActivationMagnitude()), min_measured_rows=500)
    assert _compress(digits_mlp, rows, method, keep_ratio=0.2).compression_info_.selection == repr(ActivationMagnitude())
    assert first.refits == 3


def test_stopping_early_chooses_as_measuring_every_quarter(digits, digits_mlp, monkeypatch):
    # the default's candidates on 500 rows: four quarters measured in turn
    from sklearn_corenet.methods import _measured

    X, _ = digits
    rows, budgets = X[:500], (0.02, 0.03, 0.05, 0.1, 0.3)
    ruled_out, rule = [], _measured._ruled_out
    monkeypatch.setattr(_measured, "_ruled_out", lambda *args: ruled_out.append(rule(*args)) or ruled_out[-1])
    chosen = [_compress(digits_mlp, rows, "auto", keep_ratio=r).compression_info_.selection for r in budgets]
    assert any(ruled_out)  # some candidate was stopped early
    monkeypatch.setattr(_measured, "_ruled_out", lambda *args: False)
    assert [_compress(digits_mlp, rows, "auto", keep_ratio=r).compression_info_.selection for r in budgets] == chosen


def test_ruling_out_reads_the_rows_and_weights_of_the_folds_measured():
    from sklearn_corenet.methods._measured import _ruled_out

    # the challenger is worse on the first half of its fold's rows, better on the other
    best = np.concatenate([np.full(100, 1.0), np.full(100, -50.0)])  # two folds of 100 rows
    challenger = [(np.where(np.arange(100) < 50, 2.0, 0.1),)]
    equal = np.ones(200)  # the weights of both folds, pooled
    heavy = np.tile(np.where(np.arange(100) < 50, 10.0, 1.0), 2)
    assert not _ruled_out(challenger, best, equal)  # the second fold's rows are not read
    assert _ruled_out(challenger, best, heavy)  # the rows it is worse on weigh ten times more
    unweighted = None
    assert not _ruled_out(challenger, best, unweighted)
