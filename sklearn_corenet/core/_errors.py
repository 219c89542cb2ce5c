"""The error of a compressed network's output at a point, as a certificate measures it.

Defined here, below the modules that use it, so that what fine-tuning aims
at (the epoch it keeps) and what a certificate certifies are one quantity.
"""

import numpy as np

#: Names of the errors a certificate can be about.
ERRORS = ("l1", "entrywise")

#: What the error of a point compares: the last layer's values, or (classifiers)
#: the predicted probabilities.
ERROR_TARGETS = ("outputs", "probabilities")


#: Default of ``output_floor``: entries below 1% of the point's largest output
#: are held to an absolute tolerance (see :func:`pointwise_errors`).
DEFAULT_OUTPUT_FLOOR = 0.01


def _ratio(numerator, denominator):
    """numerator / denominator with 0/0 := 0 and x/0 := inf."""
    ratio = np.zeros_like(numerator)
    np.divide(numerator, denominator, out=ratio, where=denominator > 0)
    ratio[(denominator <= 0) & (numerator > 0)] = np.inf
    return ratio


def pointwise_errors(reference, estimate, error="l1", output_floor=DEFAULT_OUTPUT_FLOOR):
    """The error of every point, so that a point meets the ε event iff its error ≤ ε.

    Parameters
    ----------
    reference : ndarray of shape (n_points, n_outputs)
        The original network's outputs f(x).
    estimate : ndarray of shape (n_points, n_outputs)
        The compressed network's outputs f̂(x).
    error : {"l1", "entrywise"}, default="l1"
        "l1": ``‖f̂(x) − f(x)‖₁ / ‖f(x)‖₁`` (Appendix B.2 of the paper).
        "entrywise": ``max_k |f̂_k(x) − f_k(x)| / max(|f_k(x)|, floor(x))``
        with ``floor(x) = output_floor · max_k |f_k(x)|``: error ≤ ε is the
        event ``f̂(x) ∈ (1 ± ε) f(x)`` of Theorem 4 for every entry at least
        ``output_floor`` times the point's largest, and an absolute tolerance
        ``ε · floor(x)`` for the smaller ones.
    output_floor : float, default=0.01
        See ``error``; 0 gives Theorem 4's event exactly, under which an
        entry near zero fails for any error at all.

    Returns
    -------
    ndarray of shape (n_points,)
        0 for equal outputs; infinite when the reference is 0 and the
        estimate is not.
    """
    reference = np.asarray(reference, dtype=np.float64)
    difference = np.abs(np.asarray(estimate, dtype=np.float64) - reference)
    magnitude = np.abs(reference)
    if error == "l1":
        return _ratio(difference.sum(axis=1), magnitude.sum(axis=1))
    floor = output_floor * magnitude.max(axis=1, keepdims=True)
    return _ratio(difference, np.maximum(magnitude, floor)).max(axis=1)
