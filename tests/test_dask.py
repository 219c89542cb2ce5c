"""A grid search on a Dask cluster gives the results of a local one."""

import warnings

import numpy as np
import pytest
from joblib import parallel_config
from sklearn.datasets import load_digits
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from sklearn_corenet import CoreNetClassifier, kept_fraction_scorer, sparsest_within

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    # One worker process: everything is pickled to it, as on a real cluster.
    # Two threads: joblib runs the work of a one-slot cluster locally.
    with (
        distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=2,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def data():
    X, y = load_digits(return_X_y=True)
    X, y = X[:600] / 16, y[:600]
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        warnings.simplefilter("ignore")
        mlp = MLPClassifier(hidden_layer_sizes=(32,), max_iter=50, random_state=0).fit(X, y)
    return X, y, mlp


def _search(mlp, memory=None, refit=True):
    return GridSearchCV(
        CoreNetClassifier(
            FrozenEstimator(mlp), method="corenet++", memory=memory, random_state=0
        ),
        {"keep_ratio": [0.1, 0.2, 0.4]},
        scoring={"accuracy": "accuracy", "kept_fraction": kept_fraction_scorer},
        cv=KFold(3, shuffle=True, random_state=0),
        refit=sparsest_within(0.05) if refit else False,
        n_jobs=-1,
    )


@pytest.fixture(scope="module")
def local_search(data):
    X, y, mlp = data
    return _search(mlp).set_params(n_jobs=1).fit(X, y)


def test_search_on_a_dask_cluster_equals_the_local_search(client, data, local_search, tmp_path):
    X, y, mlp = data
    remote = _search(mlp, memory=str(tmp_path), refit=False)
    with parallel_config(backend="dask"), distributed.get_task_stream(client) as tasks:
        remote.fit(X, y)
    assert len(tasks.data) > 0  # the fits ran on the cluster's worker
    for key in ("mean_test_accuracy", "mean_test_kept_fraction", "split2_test_accuracy"):
        np.testing.assert_array_equal(local_search.cv_results_[key], remote.cv_results_[key])
    assert sparsest_within(0.05)(remote.cv_results_) == local_search.best_index_


def test_refit_inside_the_dask_context_equals_the_local_refit(client, data, local_search):
    X, y, mlp = data
    remote = _search(mlp)
    with parallel_config(backend="dask"):
        remote.fit(X, y)
    assert remote.best_index_ == local_search.best_index_
    np.testing.assert_allclose(
        remote.best_estimator_.predict_proba(X),
        local_search.best_estimator_.predict_proba(X),
        rtol=1e-12,
    )
