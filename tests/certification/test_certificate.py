import math
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import brentq
from scipy.stats import binom
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_corenet import Certificate, CoreNetCompressor, certify
from sklearn_corenet.certification import (
    coverage_lower_bound,
    points_needed,
    pointwise_errors,
)
from sklearn_corenet.certification._bounds import certified_epsilon, required_successes
from sklearn_corenet.certification._certificate import make_certificate

# -- the statistics, checked by hand -------------------------------------------


def _tail(p, n, k):
    """P(Bin(n, p) ≥ k), summed term by term."""
    return sum(math.comb(n, j) * p**j * (1 - p) ** (n - j) for j in range(k, n + 1))


@pytest.mark.parametrize(("k", "n"), [(18, 20), (45, 50), (1, 10), (97, 100)])
def test_clopper_pearson_lower_bound_solves_the_binomial_tail(k, n):
    # the one-sided lower bound p at confidence γ is where P(Bin(n, p) ≥ k) = 1 − γ
    expected = brentq(lambda p: _tail(p, n, k) - 0.05, 1e-12, 1 - 1e-12, xtol=1e-14)
    assert coverage_lower_bound(k, n, 0.95) == pytest.approx(expected, abs=1e-10)


def test_clopper_pearson_known_values():
    # every point inside: the bound is (1 − confidence)^(1/n)
    assert coverage_lower_bound(10, 10, 0.95) == pytest.approx(0.05 ** (1 / 10), rel=1e-12)
    assert coverage_lower_bound(59, 59, 0.95) == pytest.approx(0.05 ** (1 / 59), rel=1e-12)
    assert coverage_lower_bound(0, 25, 0.95) == 0.0
    # 18 of 20 at 95%: P(Bin(20, 0.7174) ≥ 18) = 0.05
    assert coverage_lower_bound(18, 20, 0.95) == pytest.approx(0.7174, abs=1e-4)
    bounds = coverage_lower_bound(np.arange(101), 100, 0.9)
    assert np.all(np.diff(bounds) > 0) and bounds[-1] < 1


def test_points_needed_is_the_closed_form():
    # n ≥ log(1 − confidence) / log(1 − δ)
    assert points_needed(0.05, 0.95) == 59  # 58.4
    assert points_needed(0.1, 0.95) == 29  # 28.4
    assert points_needed(0.01, 0.99) == 459  # 458.2
    for delta, confidence in [(0.05, 0.95), (0.2, 0.9), (0.01, 0.5)]:
        n = points_needed(delta, confidence)
        assert coverage_lower_bound(n, n, confidence) >= 1 - delta
        assert coverage_lower_bound(n - 1, n - 1, confidence) < 1 - delta


def test_required_successes_is_the_binomial_quantile():
    for n, delta, confidence in [(100, 0.05, 0.95), (500, 0.1, 0.9), (59, 0.05, 0.95), (30, 0.05, 0.95)]:
        k = required_successes(n, delta, confidence)
        # fewest k with P(Bin(n, 1 − δ) ≤ k − 1) ≥ confidence
        expected = next((j for j in range(1, n + 1) if binom.cdf(j - 1, n, 1 - delta) >= confidence), n + 1)
        assert k == expected
    assert required_successes(59, 0.05, 0.95) == 59
    assert required_successes(30, 0.05, 0.95) == 31  # too few points: nothing certifies


def test_certified_epsilon_is_an_order_statistic_and_the_smallest_certified():
    rng = np.random.default_rng(0)
    errors = rng.permutation(np.arange(1, 201) / 200)
    k = required_successes(200, 0.05, 0.95)
    assert 190 < k < 200
    assert certified_epsilon(errors, 0.05, 0.95) == k / 200
    reference = np.ones((200, 1))
    estimate = reference + errors[:, np.newaxis]
    at = make_certificate(reference, estimate, epsilon=k / 200, delta=0.05, confidence=0.95)
    below = make_certificate(reference, estimate, epsilon=(k - 0.5) / 200, delta=0.05, confidence=0.95)
    assert at.epsilon_certified == pytest.approx(k / 200)
    assert at.holds and not below.holds
    assert certified_epsilon(errors[:50], 0.05, 0.95) == np.inf  # fewer than 59 points


# -- the errors ----------------------------------------------------------------


def test_errors_by_hand():
    reference = np.array([[1.0, -2.0, 0.001], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    estimate = np.array([[1.1, -2.0, 0.002], [0.0, 0.0, 0.0], [0.0, 1e-9, 0.0]])
    l1 = pointwise_errors(reference, estimate, "l1")
    np.testing.assert_allclose(l1[0], (0.1 + 0.001) / 3.001)
    assert l1[1] == 0 and l1[2] == np.inf
    # entry-wise: the third entry is below 1% of the largest (2), so it is
    # held to 0.1 · 0.02 in absolute terms: 0.001 / 0.02 = 0.05 < 0.1
    entrywise = pointwise_errors(reference, estimate, "entrywise", output_floor=0.01)
    np.testing.assert_allclose(entrywise[0], 0.1)
    assert entrywise[1] == 0 and entrywise[2] == np.inf
    # no floor: Theorem 4's event, the tiny entry doubled fails any ε < 1
    np.testing.assert_allclose(pointwise_errors(reference, estimate, "entrywise", output_floor=0)[0], 1.0)
    # floor 1: every entry against the largest, a sup-norm relative error
    np.testing.assert_allclose(pointwise_errors(reference, estimate, "entrywise", output_floor=1)[0], 0.05)


def test_entrywise_event_is_the_paper_event_for_single_outputs():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(50, 1))
    estimate = reference * (1 + rng.normal(scale=0.1, size=(50, 1)))
    np.testing.assert_allclose(
        pointwise_errors(reference, estimate, "entrywise"), pointwise_errors(reference, estimate, "l1")
    )


# -- certify on models ---------------------------------------------------------


@pytest.fixture(scope="module")
def compressed(digits, digits_mlp):
    X, _ = digits
    return CoreNetCompressor(keep_ratio=0.3, random_state=0).fit_transform(digits_mlp, X[:1000])


def test_certify_reports_coverage_agreement_and_score(digits, digits_mlp, compressed):
    X, y = digits
    X_test, y_test = X[1200:], y[1200:]
    certificate = certify(digits_mlp, compressed, X_test, y_test, epsilon=0.2, delta=0.05)
    assert isinstance(certificate, Certificate)
    errors = np.abs(compressed.to_network().decision(X_test) - digits_mlp_logits(digits_mlp, X_test)).sum(axis=1)
    errors /= np.abs(digits_mlp_logits(digits_mlp, X_test)).sum(axis=1)
    np.testing.assert_allclose(certificate.errors, errors, rtol=1e-10)
    assert certificate.n_points == X_test.shape[0]
    assert certificate.coverage == pytest.approx(np.mean(errors <= 0.2))
    assert certificate.coverage_lower == pytest.approx(
        coverage_lower_bound(int(np.sum(errors <= 0.2)), X_test.shape[0], 0.95)
    )
    assert certificate.holds == (certificate.coverage_lower >= 0.95)
    assert certificate.mean_error == pytest.approx(errors.mean())
    assert certificate.max_error == pytest.approx(errors.max())
    # labels: the predictions of the two estimators
    agree = compressed.predict(X_test) == digits_mlp.predict(X_test)
    assert certificate.label_agreement == pytest.approx(agree.mean())
    assert certificate.label_agreement_lower == pytest.approx(
        coverage_lower_bound(int(agree.sum()), agree.size, 0.95)
    )
    assert certificate.score_name == "accuracy"
    assert certificate.score_drop == pytest.approx(
        digits_mlp.score(X_test, y_test) - compressed.score(X_test, y_test)
    )
    # another ε on the same points
    coverage, lower = certificate.coverage_at(0.5)
    assert coverage == pytest.approx(np.mean(errors <= 0.5)) and lower <= coverage


def digits_mlp_logits(mlp, X):
    A = X
    for W, b in zip(mlp.coefs_[:-1], mlp.intercepts_[:-1], strict=True):
        A = np.maximum(A @ W + b, 0)
    return A @ mlp.coefs_[-1] + mlp.intercepts_[-1]


def test_identical_models_are_certified_perfectly(digits, digits_mlp):
    X, y = digits
    certificate = certify(digits_mlp, digits_mlp, X[1200:], y[1200:], error="entrywise", delta=0.05)
    assert certificate.coverage == 1 and certificate.holds
    assert certificate.epsilon_certified == 0 and certificate.max_error == 0
    assert certificate.label_agreement == 1 and certificate.score_drop == 0


def test_certificate_prints(digits, digits_mlp, compressed):
    X, y = digits
    certificate = certify(digits_mlp, compressed, X[1200:], y[1200:], epsilon=0.2, delta=0.05)
    text = str(certificate)
    assert "597 held-out points" in text and "confidence 95%" in text
    assert ("does not hold" in text) != certificate.holds
    assert "smallest ε certified at δ = 0.05" in text and "same labels" in text and "accuracy drop" in text
    assert repr(certificate).startswith("Certificate(error='l1'")


def test_sparse_input_gives_the_same_certificate(digits, digits_mlp, compressed):
    X, _ = digits
    dense = certify(digits_mlp, compressed, X[1200:], epsilon=0.2)
    sparse = certify(digits_mlp, compressed, sp.csr_matrix(X[1200:]), epsilon=0.2)
    np.testing.assert_allclose(sparse.errors, dense.errors, rtol=1e-12)


def test_regressor_certificate_reports_r2_drop(regression_data, regression_mlp):
    X, y = regression_data
    sparse = CoreNetCompressor(keep_ratio=0.5, random_state=0).fit_transform(regression_mlp, X[:300])
    certificate = certify(regression_mlp, sparse, X[300:], y[300:])
    assert certificate.label_agreement is None
    assert certificate.score_name == "r2"
    assert certificate.score_drop == pytest.approx(regression_mlp.score(X[300:], y[300:]) - sparse.score(X[300:], y[300:]))


def test_torch_module_original(digits):
    torch = pytest.importorskip("torch")
    X, _ = digits
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)
    ).double()
    sparse = CoreNetCompressor(keep_ratio=0.5, random_state=0).fit_transform(module, X[:800])
    certificate = certify(module, sparse, X[1000:], epsilon=0.3)
    with torch.no_grad():
        reference = module(torch.from_numpy(X[1000:])).numpy()
    expected = np.abs(sparse.to_network().decision(X[1000:]) - reference).sum(axis=1) / np.abs(reference).sum(axis=1)
    np.testing.assert_allclose(certificate.errors, expected, rtol=1e-8)


# -- validity ------------------------------------------------------------------


def test_bounds_are_valid_over_fresh_held_out_sets():
    # A compressed network and an input distribution we can sample without
    # end: the bounds computed on 300 fresh points must stay below the truth
    # (measured on 200,000 other points) in at least confidence − 0.03 of 200
    # repetitions. Compressed once; each repetition only draws new points.
    rng = np.random.default_rng(0)
    X_train = rng.normal(size=(500, 6))
    y_train = np.sin(X_train[:, 0]) + X_train[:, 1] * X_train[:, 2] + 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPRegressor(hidden_layer_sizes=(32, 32), max_iter=200, random_state=0).fit(X_train, y_train)
    sparse = CoreNetCompressor(keep_ratio=0.2, random_state=0).fit_transform(mlp, X_train)
    X_truth = rng.normal(size=(200_000, 6))
    truth = certify(mlp, sparse, X_truth, delta=0.1)
    epsilon = float(np.quantile(truth.errors, 0.85))  # coverage about 0.85: not trivially 1
    coverage = float(np.mean(truth.errors <= epsilon))
    quantile = float(np.quantile(truth.errors, 0.9))  # the (1 − δ)-quantile, δ = 0.1
    confidence, repetitions = 0.95, 200
    X_pool = rng.normal(size=(100_000, 6))
    lower_ok = epsilon_ok = 0
    for _ in range(repetitions):
        points = X_pool[rng.choice(X_pool.shape[0], 300, replace=False)]
        certificate = certify(mlp, sparse, points, epsilon=epsilon, delta=0.1, confidence=confidence)
        lower_ok += certificate.coverage_lower <= coverage
        epsilon_ok += certificate.epsilon_certified >= quantile
    assert lower_ok >= (confidence - 0.03) * repetitions
    assert epsilon_ok >= (confidence - 0.03) * repetitions


# -- bad input -----------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"epsilon": 0},
        {"epsilon": -0.1},
        {"delta": 0},
        {"delta": 1},
        {"confidence": 1},
        {"confidence": 0},
        {"error": "l2"},
        {"output_floor": 1.5},
    ],
)
def test_parameters_out_of_range(digits, digits_mlp, compressed, options):
    X, _ = digits
    with pytest.raises(InvalidParameterError):
        certify(digits_mlp, compressed, X[1200:], **options)


def test_too_few_points_says_how_many_are_needed(digits, digits_mlp, compressed):
    X, _ = digits
    with pytest.raises(ValueError, match="at least 59 points"):
        certify(digits_mlp, compressed, X[1200:1258], delta=0.05, confidence=0.95)
    certify(digits_mlp, compressed, X[1200:1259], delta=0.05, confidence=0.95)  # enough


def test_calibration_rows_are_refused(digits, digits_mlp, compressed):
    X, _ = digits
    points = np.vstack([X[1200:1300], X[5]])
    with pytest.raises(ValueError, match="1 of the 101 rows of X are rows of calibration"):
        certify(digits_mlp, compressed, points, calibration=X[:1000])
    certify(digits_mlp, compressed, X[1200:1300], calibration=X[:1000])
    with pytest.raises(ValueError, match="calibration has 3 features"):
        certify(digits_mlp, compressed, X[1200:1300], calibration=X[:10, :3])


def test_models_that_do_not_match(digits, digits_mlp, compressed, regression_mlp):
    X, y = digits
    with pytest.raises(ValueError, match="features"):
        certify(regression_mlp, compressed, X[1200:])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        certify(digits_mlp, compressed, X[1200:], y[:10])


def test_summary_shows_a_given_certificate(digits, digits_mlp, compressed):
    from sklearn_corenet import CompressionSummary

    X, _ = digits
    certificate = certify(digits_mlp, compressed, X[1200:], epsilon=0.2)
    plain = str(CompressionSummary.from_estimator(compressed))
    shown = str(CompressionSummary.from_estimator(compressed, certificate=certificate))
    # the title states the ε certified, the certificate follows the table
    title, table = plain.split("\n", 1)
    certified = f", ε = {certificate.epsilon_certified:.4g} certified at δ = {certificate.delta:g}"
    assert shown == f"{title}{certified}\n{table}\n\n{certificate}"
