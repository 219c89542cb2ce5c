"""Golden results: what compression gives, fixed so that refactoring cannot change it.

Every method, theory mode and budgets of 5/20/50/100%, for a scikit-learn
classifier, a regressor and a torch module, with fixed seeds. The stored
compressed weights, ``nnz_``, fitted attributes and predictions must come out
again: counts and kept edges exactly, floating-point results to 1e-9 of each
array's largest magnitude. That tolerance holds across x86-64 CPUs (numpy's
AVX2 and AVX-512 code paths sum in different orders, and a least-squares
re-fit carries those last bits to about 1e-11) and BLAS thread counts, and
it still catches any real change of a result. ``make test`` runs this file a
second time with numpy's AVX-512 code paths disabled, so that a dependence on
the CPU shows up on any machine that has them.

Regenerate (only for an intended change of results, said in the commit)::

    python tests/test_golden.py
"""

import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

from sklearn_corenet import CoreNetCompressor

GOLDEN = Path(__file__).parent / "data" / "golden.npz"
# floating-point results, relative to each array's largest magnitude
RTOL = 1e-9
# integer results derived from floats (the paper's sample sizes in theory mode
# reach 1e17, where float64 round-off moves the last digits): exact below 1e12
INTEGER_RTOL = 1e-12

METHODS = ["corenet", "corenet+", "corenet++", "uniform", "l1", "l2", "l1+l2", "magnitude", "wanda", "auto"]
THEORY_METHODS = ["corenet", "corenet+", "corenet++", "auto"]
BUDGETS = [0.05, 0.2, 0.5, 1.0]


def _cases():
    """(name, model kind, compressor parameters)."""
    cases = []
    for method in METHODS:
        for budget in BUDGETS:
            cases.append((f"classifier-{method}-{budget}", "classifier", {"method": method, "keep_ratio": budget}))
    for method in THEORY_METHODS:
        cases.append((f"classifier-{method}-theory", "classifier", {"method": method, "epsilon": 0.5, "keep_ratio": "theory"}))
    for method in ["corenet++", "auto", "magnitude", "l1"]:
        cases.append((f"regressor-{method}-0.2", "regressor", {"method": method, "keep_ratio": 0.2}))
    cases.append(("regressor-corenet+-theory", "regressor", {"method": "corenet+", "epsilon": 0.5, "keep_ratio": "theory"}))
    for method in ["corenet++", "auto", "magnitude"]:
        cases.append((f"torch-{method}-0.2", "torch", {"method": method, "keep_ratio": 0.2}))
    return cases


def _data():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    rng = np.random.default_rng(0)
    Xr = rng.normal(size=(300, 6))
    yr = np.sin(Xr[:, 0]) + Xr[:, 1] * Xr[:, 2]
    return X, y, Xr, yr


def _models():
    X, y, Xr, yr = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier = MLPClassifier((24, 12), max_iter=60, random_state=0).fit(X[:800], y[:800])
        regressor = MLPRegressor(hidden_layer_sizes=(16, 8), max_iter=100, random_state=0).fit(Xr, yr)
    models = {"classifier": (classifier, X[800:1100], X[1100:1200]), "regressor": (regressor, Xr[:200], Xr[200:])}
    try:
        import torch
    except ImportError:
        return models
    rng = np.random.default_rng(1)
    layers = []
    for n_in, n_out in [(64, 20), (20, 10), (10, 3)]:
        linear = torch.nn.Linear(n_in, n_out).double()
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(rng.normal(scale=n_in**-0.5, size=(n_out, n_in))))
            linear.bias.copy_(torch.from_numpy(rng.normal(scale=0.1, size=n_out)))
        layers.append(linear)
    module = torch.nn.Sequential(layers[0], torch.nn.ReLU(), layers[1], torch.nn.ReLU(), layers[2])
    models["torch"] = (module, X[800:1100], X[1100:1200])
    return models


def _outputs(compressed, compressor, X_test):
    """Everything a user sees of one compression, as named arrays."""
    out = {"nnz": np.array(compressed.nnz_)}
    for layer, W in enumerate(compressed.coefs_):
        dense = W.toarray()
        out[f"coef{layer}"] = dense
        out[f"intercept{layer}"] = compressed.intercepts_[layer]
    predict_proba = getattr(compressed, "predict_proba", None)
    out["predict"] = np.asarray(compressed.predict(X_test))
    if predict_proba is not None:
        out["proba"] = predict_proba(X_test)
    for name in ("epsilon_", "calibration_size_", "amplification_size_", "n_params_", "theoretical_nnz_", "budget_"):
        value = getattr(compressor, name, None)
        out[name] = np.array(np.nan if value is None else value, dtype=np.float64)
    for name in ("layer_epsilons_", "delta_hat_"):
        value = getattr(compressor, name, None)
        if value is not None:
            out[name] = np.asarray(value, dtype=np.float64)
    for name in ("sensitivities_", "bias_sensitivities_", "sample_sizes_", "dead_neurons_"):
        value = getattr(compressor, name, None)
        if value is not None:
            for layer, array in enumerate(value):
                out[f"{name}{layer}"] = np.asarray(array)
    return out


def _compress(models, kind, params):
    model, X_cal, X_test = models[kind]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compressor = CoreNetCompressor(random_state=0, **params)
        compressed = compressor.fit_transform(model, X_cal)
    return _outputs(compressed, compressor, X_test)


def _generate():
    models = _models()
    stored = {}
    for name, kind, params in _cases():
        for key, value in _compress(models, kind, params).items():
            stored[f"{name}/{key}"] = value
    GOLDEN.parent.mkdir(exist_ok=True)
    np.savez_compressed(GOLDEN, **stored)


@pytest.fixture(scope="module")
def models():
    return _models()


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN) as data:
        return dict(data)


def test_enough_cases():
    assert len(_cases()) >= 30


@pytest.mark.parametrize(("name", "kind", "params"), _cases(), ids=[c[0] for c in _cases()])
def test_results_are_unchanged(models, golden, name, kind, params):
    if kind not in models:
        pytest.skip("torch is not installed")
    got = _compress(models, kind, params)
    expected = {key.split("/", 1)[1]: value for key, value in golden.items() if key.startswith(name + "/")}
    assert_same_results(got, expected, name)


def assert_same_results(got, expected, name):
    """Compare one case's results with the stored ones, at the tolerances above."""
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        if value.dtype.kind == "f":
            # relative to the array's scale: a change of summation order moves
            # the last bits of an entry near zero by that much, not by 1e-9 of it
            finite = np.abs(value[np.isfinite(value)])
            scale = float(finite.max(initial=0.0))
            np.testing.assert_allclose(got[key], value, rtol=RTOL, atol=RTOL * scale, err_msg=f"{name}: {key}")
        elif value.dtype.kind in "iu" and key != "predict":
            np.testing.assert_allclose(got[key], value, rtol=INTEGER_RTOL, atol=0, err_msg=f"{name}: {key}")
        elif key == "predict" and "proba" in expected:
            # labels must agree wherever the stored probabilities are not tied
            # to round-off (a kernel's summation order may break a tie)
            proba = np.sort(expected["proba"], axis=1)
            decided = proba[:, -1] - proba[:, -2] > 1e-10
            np.testing.assert_array_equal(got[key][decided], value[decided], err_msg=f"{name}: {key}")
        else:
            np.testing.assert_array_equal(got[key], value, err_msg=f"{name}: {key}")


@pytest.mark.parametrize("change", ["weight", "count", "sample size"])
def test_tolerance_catches_a_real_change(golden, change):
    """The CPU-portable tolerances still see a change far below any real one."""
    name = "classifier-corenet-theory"
    expected = {key.split("/", 1)[1]: value for key, value in golden.items() if key.startswith(name + "/")}
    got = {key: value.copy() for key, value in expected.items()}
    assert_same_results(got, expected, name)
    if change == "weight":
        W = got["coef0"]
        W.flat[np.argmax(np.abs(W))] *= 1 + 1e-7
    elif change == "count":
        got["nnz"] = got["nnz"] + 1
    else:
        sizes = got["sample_sizes_0"]
        assert sizes.max() > 1e12  # the paper's sizes are this large here
        sizes.flat[np.argmax(sizes)] += int(sizes.max() * 1e-9)
    with pytest.raises(AssertionError):
        assert_same_results(got, expected, name)

if __name__ == "__main__":
    _generate()
