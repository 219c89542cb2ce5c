"""A skorch NeuralNetClassifier with BCEWithLogitsLoss and several outputs (multilabel)."""

import warnings

import numpy as np
import pytest

from sklearn_corenet import CoreNetCompressor

torch = pytest.importorskip("torch")
skorch = pytest.importorskip("skorch")


@pytest.fixture(scope="module")
def multilabel_net():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 6)).astype(np.float32)
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0, X[:, 3] * X[:, 4] > 0]).astype(np.float32)
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(6, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))
    net = skorch.NeuralNetClassifier(
        module, criterion=torch.nn.BCEWithLogitsLoss, max_epochs=30, lr=0.1, train_split=None, verbose=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net.fit(X, Y)
    return net, X


def test_compressed_multilabel_net_predicts_as_skorch_does(multilabel_net):
    net, X = multilabel_net
    whole = CoreNetCompressor(keep_ratio=1.0, random_state=0).fit_transform(net, X)
    expected = net.predict(X)
    assert expected.shape == (len(X), 3)
    np.testing.assert_array_equal(whole.predict(X), expected)
    assert whole.predict(X).dtype == expected.dtype
    # predict_proba: the positive class's probability per label (scikit-learn's
    # multilabel convention), skorch's second column
    np.testing.assert_allclose(whole.predict_proba(X), net.predict_proba(X)[:, 1, :], rtol=1e-5, atol=1e-6)


def test_a_compressed_multilabel_net_keeps_most_labels_and_exports(multilabel_net):
    net, X = multilabel_net
    compressed = CoreNetCompressor(keep_ratio=0.5, random_state=0).fit_transform(net, X)
    assert abs(compressed.keep_ratio_ - 0.5) < 0.01
    assert (compressed.predict(X) == net.predict(X)).mean() > 0.9
    exported = compressed.to_skorch()
    np.testing.assert_array_equal(exported.predict(X), compressed.predict(X))
