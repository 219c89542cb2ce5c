import numpy as np
import pytest

from sklearn_corenet.algorithm import compute_layer_statistics
from sklearn_corenet.algorithm._sensitivity import sensitivity_row_sums
from sklearn_corenet.core import Network


@pytest.fixture
def hand_network():
    """3 inputs -> 2 ReLU neurons -> 1 output, weights chosen for hand work.

    Neuron 0: w = (2, -1, -3), b = 1; neuron 1: w = (1, 1, -2), b = -1;
    output: w = (3, -1), b = 0.5.
    """
    W1 = np.array([[2.0, 1.0], [-1.0, 1.0], [-3.0, -2.0]])
    b1 = np.array([1.0, -1.0])
    W2 = np.array([[3.0], [-1.0]])
    b2 = np.array([0.5])
    return Network([W1, W2], [b1, b2])


# Points x1 = (1, 2, 0) and x2 = (-1, 1, 1). x2 has a negative input, so the
# first layer uses the split of A.2.4: with the bias input appended, the
# points are p1 = (1, 2, 0, 1), p2 = (0, 1, 1, 1) and n2 = (1, 0, 0, 0)
# (n1 is all zero).
POINTS = np.array([[1.0, 2.0, 0.0], [-1.0, 1.0, 1.0]])


def test_first_layer_sensitivities_by_hand(hand_network):
    stats = compute_layer_statistics(hand_network, POINTS)
    expected = np.array(
        [
            # neuron 0, positive edges {x0: 2, bias: 1}:
            #   p1: D = 3 -> g = 2/3, 1/3; p2: D = 1 -> 0, 1; n2: D = 2 -> 1, 0
            # neuron 0, negative edges {x1: 1, x2: 3}:
            #   p1: D = 2 -> 1, 0; p2: D = 4 -> 1/4, 3/4; n2: D = 0 -> 0 (0/0 := 0)
            # neuron 1, positive edges {x0: 1, x1: 1}:
            #   p1: D = 3 -> 1/3, 2/3; p2: D = 1 -> 0, 1; n2: D = 1 -> 1, 0
            # neuron 1, negative edges {x2: 2, bias: 1}:
            #   p1: D = 1 -> 0, 1; p2: D = 3 -> 2/3, 1/3; n2: D = 0 -> 0
            [1.0, 1.0],  # x0
            [1.0, 1.0],  # x1
            [3 / 4, 2 / 3],  # x2
            [1.0, 1.0],  # bias
        ]
    )
    np.testing.assert_allclose(stats[0].sensitivity, expected)
    row_sums = sensitivity_row_sums(stats[0].sensitivity, hand_network.augmented_weights()[0])
    np.testing.assert_allclose(row_sums, [[2.0, 2.0], [7 / 4, 5 / 3]])


def test_second_layer_sensitivities_and_condition_by_hand(hand_network):
    # hidden activations: a(x1) = (1, 2); a(x2) = (0, 0) (both pre-activations < 0)
    stats = compute_layer_statistics(hand_network, POINTS)
    # positive edges {h0: 3, bias: 0.5}: a1: D = 3.5 -> 6/7, 1/7; a2: D = 0.5 -> 0, 1
    # negative edge {h1: 1}: a1: D = 2 -> 1; a2: D = 0 -> 0
    np.testing.assert_allclose(stats[1].sensitivity, [[6 / 7], [1.0], [1.0]])
    # Δ(x1) = (3 + 2 + 0.5) / |3 - 2 + 0.5| = 11/3; Δ(x2) = 0.5 / 0.5 = 1
    np.testing.assert_allclose(stats[1].relative_condition, [(11 / 3 + 1) / 2])
    np.testing.assert_array_equal(stats[0].alive, [True, True])


def test_dead_neuron_detected():
    W1 = np.array([[1.0, -1.0]])
    network = Network([W1, np.ones((2, 1))], [np.array([0.0, -0.5]), np.zeros(1)])
    stats = compute_layer_statistics(network, np.array([[1.0], [2.0], [0.5]]))
    np.testing.assert_array_equal(stats[0].alive, [True, False])
    # the dead neuron's outgoing edge is never active: sensitivity 0
    assert stats[1].sensitivity[1, 0] == 0


def brute_force_sensitivity(W, b, A):
    """Direct transcription of Alg. 2, lines 1-2 with the split of A.2.4."""
    Wa = np.vstack([W, b])
    points = []
    for a in A:
        points.append(np.append(np.maximum(a, 0), 1.0))
        points.append(np.append(np.maximum(-a, 0), 0.0))
    S = np.zeros_like(Wa)
    for p in points:
        for i in range(Wa.shape[1]):
            for sign in (1, -1):
                edges = sign * Wa[:, i] > 0
                total = np.sum(sign * Wa[edges, i] * p[edges])
                for j in np.flatnonzero(edges):
                    g = 0.0 if total == 0 else sign * Wa[j, i] * p[j] / total
                    S[j, i] = max(S[j, i], g)
    return S


@pytest.mark.parametrize("working_memory", [None, 0.0005])
def test_vectorised_matches_definition(working_memory):
    rng = np.random.default_rng(1)
    sizes = [6, 5, 4, 3]
    network = Network(
        [rng.normal(size=(a, b)) for a, b in zip(sizes[:-1], sizes[1:], strict=True)],
        [rng.normal(size=b) for b in sizes[1:]],
    )
    X = rng.normal(size=(9, 6))
    stats = compute_layer_statistics(network, X, working_memory=working_memory)
    for layer, A in enumerate(network.hidden_activations(X)):
        expected = brute_force_sensitivity(network.coefs[layer], network.intercepts[layer], A)
        np.testing.assert_allclose(stats[layer].sensitivity, expected, rtol=1e-12, atol=1e-15)


def test_sensitivity_row_sums_bounded_by_points():
    # 1 <= S_i <= |S| for every neuron with an active edge (Lemma 1 of the paper)
    rng = np.random.default_rng(2)
    network = Network([rng.normal(size=(8, 6)), rng.normal(size=(6, 2))], [rng.normal(size=6), rng.normal(size=2)])
    X = np.abs(rng.normal(size=(5, 8)))
    stats = compute_layer_statistics(network, X)
    sums = sensitivity_row_sums(stats[0].sensitivity, network.augmented_weights()[0])
    assert np.all((sums >= 1 - 1e-12) & (sums <= X.shape[0] + 1e-12))


def test_float32_network_stays_float32():
    rng = np.random.default_rng(3)
    network = Network(
        [rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=(3, 2)).astype(np.float32)],
        [np.zeros(3, np.float32), np.zeros(2, np.float32)],
    )
    stats = compute_layer_statistics(network, rng.normal(size=(6, 4)))
    assert all(s.sensitivity.dtype == np.float32 for s in stats)


def test_subnormal_points_count_as_zero_and_stay_finite():
    # with a zero bias, the positive sums of subnormal inputs are subnormal:
    # their reciprocal overflows, so they add nothing (0/0 := 0), never inf or NaN
    rng = np.random.default_rng(3)
    network = Network([rng.normal(size=(6, 4)), rng.normal(size=(4, 2))], [np.zeros(4), np.zeros(2)])
    X = np.abs(rng.normal(size=(20, 6)))
    tiny = X * 1e-310
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        stats = compute_layer_statistics(network, np.vstack([tiny, X]))
    reference = compute_layer_statistics(network, X)
    for got, expected in zip(stats, reference, strict=True):
        assert np.isfinite(got.sensitivity).all()
        np.testing.assert_array_equal(got.sensitivity, expected.sensitivity)
