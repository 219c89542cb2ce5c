"""error_on="probabilities": certificates on a classifier's predicted probabilities, reported beside the outputs'."""

import numpy as np
import pytest

from sklearn_corenet import CoreNetCompressor, certify
from sklearn_corenet.certification._bounds import certified_epsilon


@pytest.fixture(scope="module")
def compressed(digits, digits_mlp):
    X, _ = digits
    return CoreNetCompressor(keep_ratio=0.1, random_state=0).fit_transform(digits_mlp, X[:1200])


def test_the_error_is_the_l1_distance_of_predict_proba(digits, digits_mlp, compressed):
    X, _ = digits
    certificate = certify(digits_mlp, compressed, X[1200:], delta=0.05, error_on="probabilities")
    expected = np.abs(compressed.predict_proba(X[1200:]) - digits_mlp.predict_proba(X[1200:])).sum(axis=1)
    np.testing.assert_allclose(certificate.errors, expected, atol=1e-12)
    assert certificate.error_on == "probabilities"
    assert certificate.probability_epsilon_certified == certificate.epsilon_certified
    assert certificate.probability_epsilon_certified == certified_epsilon(expected, 0.05, 0.95)
    # the other error is reported too, as the default certificate gives it
    on_outputs = certify(digits_mlp, compressed, X[1200:], delta=0.05)
    assert on_outputs.output_epsilon_certified == on_outputs.epsilon_certified == certificate.output_epsilon_certified
    assert on_outputs.probability_epsilon_certified == certificate.epsilon_certified
    assert "on the outputs" in str(certificate) and "on the probabilities" in str(on_outputs)


def test_binary_probabilities_have_two_columns(digits):
    from sklearn.neural_network import MLPClassifier

    X, y = digits
    mlp = MLPClassifier((16,), max_iter=300, random_state=0).fit(X[:1000], y[:1000] % 2)
    compressed = CoreNetCompressor(keep_ratio=0.3, random_state=0).fit_transform(mlp, X[:1000])
    certificate = certify(mlp, compressed, X[1000:], error_on="probabilities")
    expected = 2 * np.abs(compressed.predict_proba(X[1000:])[:, 1] - mlp.predict_proba(X[1000:])[:, 1])
    np.testing.assert_allclose(certificate.errors, expected, atol=1e-12)


def test_certified_search_to_a_probability_target(digits, digits_mlp):
    X, _ = digits
    compressor = CoreNetCompressor(epsilon=0.1, delta=0.05, error_on="probabilities", random_state=0)
    compressor.fit(digits_mlp, X[:1200])
    certificate = compressor.certificate_
    assert certificate.holds and certificate.error_on == "probabilities"
    assert certificate.epsilon_certified <= 0.1
    table = compressor.search_results_
    np.testing.assert_array_equal(table["epsilon_certified"], table["probability_epsilon_certified"])
    assert np.all(np.isfinite(table["output_epsilon_certified"]))
    # compressor.certify measures the same error
    assert compressor.certify(X[1200:]).error_on == "probabilities"


def test_a_regressor_has_no_probabilities(regression_data, regression_mlp):
    X, _ = regression_data
    compressed = CoreNetCompressor(keep_ratio=0.3, random_state=0).fit_transform(regression_mlp, X[:300])
    with pytest.raises(ValueError, match="a regressor is certified on its outputs"):
        certify(regression_mlp, compressed, X[300:], error_on="probabilities")
    assert certify(regression_mlp, compressed, X[300:]).probability_epsilon_certified is None
    with pytest.raises(ValueError, match="error_on"):
        certify(regression_mlp, compressed, X[300:], error_on="labels")
