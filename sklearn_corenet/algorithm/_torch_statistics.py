"""Calibration statistics computed with torch (``CoreNetCompressor(device=...)``), reached without importing torch until they are asked for."""

import scipy.sparse as sp

from ._sensitivity import DELTA_CAP


def torch_statistics(device):
    """The torch sensitivity function, or an ImportError naming the extra."""
    try:
        from ..algorithm._torch_compute import compute_layer_statistics_torch  # noqa: F401
    except ImportError as error:
        raise ImportError(
            f"device={device!r} computes with torch, which is not installed: "
            "pip install 'sklearn-corenet[torch]'"
        ) from error
    return torch_layer_statistics


def torch_layer_statistics(
    network, X, *, delta_cap=DELTA_CAP, working_memory=None, device="cpu", n_jobs=None, verbose=0
):
    """The statistics of :func:`compute_layer_statistics_torch`; sparse
    points S are densified for it (S, not the whole calibration data)."""
    from ..algorithm._torch_compute import compute_layer_statistics_torch

    return compute_layer_statistics_torch(
        network,
        X.toarray() if sp.issparse(X) else X,
        delta_cap=delta_cap,
        working_memory=working_memory,
        device=device,
        n_jobs=n_jobs,
        verbose=verbose,
    )
