import inspect
import pickle

import numpy as np
import pytest
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_corenet import Certificate, CoreNetCompressor
from sklearn_corenet.certification._search import (
    budget_grid,
    positions_of,
    smallest_passing,
)
from sklearn_corenet.core import row_keys

# -- the grid and the search ---------------------------------------------------


def test_budget_grid_is_geometric_below_the_whole_network():
    grid = budget_grid(100_000, 0.1)
    assert np.all(np.diff(grid) > 0)
    assert grid[-1] == round(100_000 / 1.1) and grid[0] >= 100
    np.testing.assert_allclose(grid[1:] / grid[:-1], 1.1, rtol=1e-2)  # rounded to whole parameters
    small = budget_grid(50, 0.1)  # repeated budgets of a small network appear once
    assert np.all(np.diff(small) > 0) and small[0] == 1 and small[-1] < 50


@pytest.mark.parametrize("steepness", [0.3, 1.0, 3.0])
def test_search_finds_the_smallest_passing_index_of_a_monotone_margin(steepness):
    grid = budget_grid(300_000, 0.1)
    positions = positions_of(grid / 300_000)
    counts = []
    for answer in range(grid.size):
        margin = steepness * (positions[answer] - positions) + 1e-9
        margin[answer:] = np.minimum(margin[answer:], 0)  # passes from `answer` on
        evaluated = []

        def evaluate(index, margin=margin, evaluated=evaluated):
            evaluated.append(index)
            return margin[index] <= 0, margin[index]

        found, order = smallest_passing(evaluate, positions, start=grid.size // 2, slope=-1.0)
        assert found == answer
        assert order == evaluated and len(set(order)) == len(order)  # never twice
        counts.append(len(order))
    # a bracket narrowed by interpolation, bisection as a safeguard
    assert max(counts) <= 2 * np.log2(grid.size) + 2
    assert np.mean(counts) <= 6


def test_search_without_interpolation_bisects_its_bracket():
    # a margin flat and quantised near its crossing (a lower bound on a share
    # of a few hundred rows): once both ends are evaluated, every step bisects
    grid = budget_grid(300_000, 0.1)
    positions = positions_of(grid / 300_000)
    for answer in range(1, grid.size):
        margin = np.where(np.arange(grid.size) < answer, 0.003, -0.003)

        def evaluate(index, margin=margin):
            return margin[index] <= 0, margin[index]

        found, order = smallest_passing(evaluate, positions, start=20, interpolate=False)
        assert found == answer and len(set(order)) == len(order)
        failing, passing = -1, grid.size
        for index in order:
            if failing >= 0 and passing < grid.size:  # a bracket: its midpoint
                assert index == (failing + passing) // 2
            failing, passing = (failing, index) if index >= answer else (index, passing)


def test_galloping_steps_away_from_the_start_by_doubling_distances():
    # fine-tuning lowers a budget by a few grid steps: the search tries 1, 2,
    # 4, ... steps below its start until one fails, then bisects the bracket
    grid = budget_grid(300_000, 0.1)
    positions = positions_of(grid / 300_000)
    start = 40
    for answer in range(start + 1):
        margin = np.where(np.arange(grid.size) < answer, 0.003, -0.003)

        def evaluate(index, margin=margin):
            return margin[index] <= 0, margin[index]

        found, order = smallest_passing(evaluate, positions, start=start, interpolate=False, gallop=True)
        assert found == answer and len(set(order)) == len(order)
        # up to the first failure: the start, then 1, 2, 4, ... steps below it (never below 0)
        expected, index = [start], start
        while index > 0 and index >= answer:
            index = max(0, index - max(1, start - index))
            expected.append(index)
        assert order[: len(expected)] == expected
        # a few grid steps below the start costs a few evaluations, however long the grid
        assert len(order) <= 2 * np.ceil(np.log2(start - answer + 1)) + 2
    # the same when the start fails: 1, 2, 4, ... steps above it
    margin = np.where(np.arange(grid.size) < 50, 0.003, -0.003)
    found, order = smallest_passing(lambda i: (margin[i] <= 0, margin[i]), positions, 45, interpolate=False, gallop=True)
    assert found == 50 and order[:4] == [45, 46, 47, 49]


def test_search_without_margins_bisects_and_reports_none():
    positions = np.arange(40.0)

    def never(index):
        return False, np.nan

    found, order = smallest_passing(never, positions, start=5)
    assert found is None and order[-1] == 39 and len(order) <= 10

    def from_17(index):
        return index >= 17, np.nan

    assert smallest_passing(from_17, positions, start=0)[0] == 17


# -- compression to a target: the search against an exhaustive scan -----------


@pytest.mark.parametrize(
    "params",
    [
        {"method": "auto", "epsilon": 0.2, "delta": 0.1},
        {"method": "magnitude", "epsilon": 0.3, "delta": 0.1, "error": "entrywise", "output_floor": 0.5},
        {"method": "corenet++", "epsilon": 0.3, "delta": 0.1},
        {"method": "auto", "score_tolerance": 0.01},
    ],
)
def test_budget_found_is_within_one_step_of_an_exhaustive_scan(digits, small_mlp, params):
    X, y = digits
    compressor = CoreNetCompressor(keep_ratio="certified", random_state=0, **params)
    compressor.fit(small_mlp, X[:1000], y[:1000])
    evaluate = compressor._search  # the same held-out rows and seeds as the search
    grid = budget_grid(compressor.n_params_, compressor.search_step)
    passes = np.array([evaluate(int(budget)).passes for budget in grid])
    found = int(np.searchsorted(grid, compressor.budget_))
    assert grid[found] == compressor.budget_
    # always: the budget found meets the target and the grid budget below misses it
    assert passes[found] and not passes[found - 1]
    if "score_tolerance" not in params:
        # the certified ε falls with the budget, so the boundary is the smallest passing budget
        smallest = int(np.flatnonzero(passes)[0])
        assert smallest <= found <= smallest + 1
    else:
        # a score drop measured on a few hundred points is not monotone near
        # the tolerance (here it passes two steps lower, at one budget): the
        # search finds a boundary, within two steps of the smallest
        smallest = int(np.flatnonzero(passes)[0])
        assert smallest <= found <= smallest + 2
    # a handful of budgets tried, not the grid
    assert compressor.search_results_["budget"].size <= 8 < grid.size
    assert compressor.search_results_["meets_target"][list(compressor.search_results_["budget"]).index(compressor.budget_)]


# -- CoreNetCompressor(keep_ratio="certified") ---------------------------------


@pytest.fixture(scope="module")
def certified(digits, digits_mlp):
    X, y = digits
    compressor = CoreNetCompressor(keep_ratio="certified", epsilon=0.2, delta=0.05, random_state=0)
    return compressor.fit(digits_mlp, X[:1200], y[:1200])


def test_certified_compression_meets_its_target(digits, digits_mlp, certified):
    X, _ = digits
    certificate = certified.certificate_
    assert isinstance(certificate, Certificate) and certificate.holds
    assert certificate.epsilon_certified <= 0.2 and certificate.delta == 0.05
    assert certificate.n_points == certified.validation_size_ == round(0.3 * np.unique(row_keys(X[:1200])).size)
    sparse = certified.transform()
    assert sparse.nnz_ == certified.budget_ < certified.n_params_
    # the budget one step below misses the target
    results = certified.search_results_
    assert set(results) == {
        "keep_ratio", "budget", "nnz", "meets_target", "epsilon_certified",
        "coverage", "coverage_lower", "label_agreement_lower", "score_drop", "seconds",
        "output_epsilon_certified", "probability_epsilon_certified", "fine_tuned", "fine_tune_epochs",
        "fine_tune_seconds",
    }
    below = results["budget"] < certified.budget_
    assert not results["meets_target"][below].any()
    assert np.max(results["budget"][below]) == budget_grid(certified.n_params_, 0.1)[
        np.searchsorted(budget_grid(certified.n_params_, 0.1), certified.budget_) - 1
    ]
    # the score drop is reported (y given), not targeted
    assert certificate.score_drop is not None


def test_certified_network_is_what_transform_returns(digits, digits_mlp):
    X, _ = digits
    compressor = CoreNetCompressor(keep_ratio="certified", method="corenet", epsilon=0.3, delta=0.1)
    compressor.fit(digits_mlp, X[:1200])  # no random_state: transform must not redraw
    a, b = compressor.transform(), compressor.transform()
    for Wa, Wb in zip(a.coefs_, b.coefs_, strict=True):
        assert (Wa != Wb).nnz == 0
    # its certificate is the compressor's, and the summary shows it
    summary = str(compressor.summary())
    assert "Certificate on" in summary and summary.endswith(str(compressor.certificate_))
    other = CoreNetCompressor(keep_ratio=0.5, random_state=0).fit_transform(digits_mlp, X[:1200])
    assert "Certificate" not in str(compressor.summary(other))


def test_held_out_rows_never_compress(digits, digits_mlp, certified):
    X, _ = digits
    evaluate = certified._search
    used = certified._plan.problem.X  # every row the compression read
    assert evaluate.fit_rows.size + evaluate.held_out_rows.size == 1200
    assert used.shape[0] == evaluate.fit_rows.size
    held_out_keys = row_keys(X[:1200][evaluate.held_out_rows])
    assert not np.isin(row_keys(used), held_out_keys).any()
    # and certify refuses them, like every calibration row
    with pytest.raises(ValueError, match="calibration rows given to CoreNetCompressor.fit"):
        certified.certify(X[:1200][evaluate.held_out_rows])


def test_certify_method_uses_the_compressor_settings(digits, digits_mlp, certified):
    X, y = digits
    certificate = certified.certify(X[1200:], y[1200:])
    assert certificate.epsilon == 0.2 and certificate.delta == 0.05 and certificate.confidence == 0.95
    assert certificate.n_points == X.shape[0] - 1200
    assert certificate.score_drop == pytest.approx(
        digits_mlp.score(X[1200:], y[1200:]) - certified.transform().score(X[1200:], y[1200:])
    )
    # the other modes know their calibration rows too
    budget = CoreNetCompressor(keep_ratio=0.3, random_state=0).fit(digits_mlp, X[:500])
    with pytest.raises(ValueError, match="3 of the 303 rows of X"):
        budget.certify(np.vstack([X[1200:1500], X[:3]]))
    assert budget.certify(X[1200:]).n_points == X.shape[0] - 1200


def test_score_target(digits, digits_mlp):
    X, y = digits
    compressor = CoreNetCompressor(keep_ratio="certified", score_tolerance=0.005, random_state=0)
    compressor.fit(digits_mlp, X[:1200], y[:1200])
    assert compressor.certificate_.score_drop <= 0.005
    assert compressor.certificate_.score_name == "accuracy"
    assert np.all(np.isfinite(compressor.search_results_["score_drop"]))
    with pytest.raises(ValueError, match=r"pass the targets, fit\(model, X, y\)"):
        CoreNetCompressor(keep_ratio="certified", score_tolerance=0.005).fit(digits_mlp, X[:1200])


def test_regressor_and_torch_module(regression_data, regression_mlp, digits):
    X, y = regression_data
    compressor = CoreNetCompressor(keep_ratio="certified", score_tolerance=0.02, random_state=0)
    compressor.fit(regression_mlp, X, y)
    assert compressor.certificate_.score_name == "r2" and compressor.certificate_.score_drop <= 0.02
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)).double()
    X_digits, _ = digits
    compressor = CoreNetCompressor(keep_ratio="certified", epsilon=0.2, random_state=0).fit(module, X_digits[:1000])
    assert compressor.certificate_.holds and compressor.transform().nnz_ == compressor.budget_


def test_search_shares_the_budget_independent_work(digits, digits_mlp):
    X, _ = digits
    compressor = CoreNetCompressor(keep_ratio="certified", method="corenet++", epsilon=0.3, delta=0.1, random_state=0)
    compressor.fit(digits_mlp, X[:1200])
    assert compressor.search_results_["budget"].size > 1
    assert compressor._search.cache.calls == {"statistics": 1, "sampling_plans": 1}


def test_unreachable_target_names_the_best_found(digits, digits_mlp):
    X, _ = digits
    compressor = CoreNetCompressor(
        keep_ratio="certified", epsilon=1e-6, delta=0.05, error="entrywise", output_floor=0, random_state=0
    )
    with pytest.raises(ValueError, match=r"no budget up to keep_ratio=0.909 meets the target.*The best found, keep_ratio="):
        compressor.fit(digits_mlp, X[:1200])


def test_too_few_held_out_rows_says_how_many_are_needed(digits, digits_mlp):
    X, _ = digits
    compressor = CoreNetCompressor(keep_ratio="certified", delta=0.05, random_state=0)
    with pytest.raises(ValueError, match=r"holds out 45 held-out points.*at least 59 points"):
        compressor.fit(digits_mlp, X[:150])
    CoreNetCompressor(keep_ratio="certified", delta=0.05, epsilon=0.5, validation_fraction=0.5,
                      random_state=0).fit(digits_mlp, X[:150])


def test_theory_is_the_paper_mode_by_name_and_the_default_certifies(digits, digits_mlp):
    X, _ = digits
    theory = CoreNetCompressor(keep_ratio="theory", epsilon=0.5, random_state=0).fit(digits_mlp, X[:500])
    assert theory.method_.name == "corenet++"
    assert theory.certificate_ is None and theory.search_results_ is None and theory.validation_size_ == 0
    default = CoreNetCompressor(epsilon=0.5, random_state=0).fit(digits_mlp, X[:500])
    certified = CoreNetCompressor(keep_ratio="certified", epsilon=0.5, random_state=0).fit(digits_mlp, X[:500])
    assert default.method_.name == certified.method_.name == "measured"
    assert default.certificate_.holds
    assert default.certificate_.epsilon_certified == certified.certificate_.epsilon_certified
    for a, b in zip(default.transform().coefs_, certified.transform().coefs_, strict=True):
        assert (a != b).nnz == 0
    # the default compresses: well below what the paper's sample sizes keep
    assert default.transform().nnz_ < 0.5 * theory.theoretical_nnz_


def test_certified_compressor_pickles(certified, digits):
    X, _ = digits
    again = pickle.loads(pickle.dumps(certified))
    assert again.certificate_.epsilon_certified == certified.certificate_.epsilon_certified
    np.testing.assert_array_equal(again.transform().predict(X), certified.transform().predict(X))


@pytest.mark.parametrize(
    "params",
    [
        {"keep_ratio": "sure"},
        {"confidence": 1.0},
        {"error": "l2"},
        {"output_floor": -0.1},
        {"score_tolerance": -0.01},
        {"validation_fraction": 1.0},
        {"validation_fraction": 0},
        {"search_step": 0},
    ],
)
def test_invalid_target_parameters(digits, digits_mlp, params):
    X, _ = digits
    with pytest.raises(InvalidParameterError):
        CoreNetCompressor(**{"keep_ratio": "certified", **params}).fit(digits_mlp, X[:300])


@pytest.mark.parametrize(
    "params, interpolate",
    [({"epsilon": 0.2, "delta": 0.1}, True), ({"agreement": 0.95}, False), ({"score_tolerance": 0.01}, False)],
)
def test_only_an_epsilon_target_interpolates_its_bracket(digits, small_mlp, monkeypatch, params, interpolate):
    # the log of a certified epsilon is close to linear in the budget's log-odds;
    # a lower bound on the agreement or a score drop moves in steps of one row
    from sklearn_corenet.certification import _search

    seen, search = [], _search.smallest_passing

    def recording(*args, **kwargs):
        call = inspect.signature(search).bind(*args, **kwargs)
        call.apply_defaults()
        seen.append(call.arguments["interpolate"])
        return search(*args, **kwargs)

    monkeypatch.setattr(_search, "smallest_passing", recording)
    X, y = digits
    CoreNetCompressor(keep_ratio="certified", random_state=0, **params).fit(small_mlp, X[:1000], y[:1000])
    assert seen and all(value is interpolate for value in seen)
