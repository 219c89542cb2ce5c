"""Results that measuring rules compute once and read many times, inside one scope.

A rule that measures before it chooses (``method="auto"``, the layer-split
search) compresses the same network on the same calibration rows many times,
with different edges: the original network's values on those rows (the
re-fit's targets, the activation statistics, the outputs the held-out rows
are compared with) are the same every time. Inside :func:`memoizing` they
are computed once; outside it every call computes them, so nothing is kept
between fits and nothing the user passes can change under a kept value.

Keys name the objects a value depends on by ``id``, and the scope keeps a
reference to those objects with the value, so that none of them can be freed
and its id reused by another object while the scope is open.
"""

from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

_MEMO = ContextVar("sklearn_corenet_memo", default=None)


@contextmanager
def memoizing():
    """Inside, :func:`memoized` keeps what it computes (a scope already open is kept)."""
    if _MEMO.get() is not None:
        yield
        return
    token = _MEMO.set({})
    try:
        yield
    finally:
        _MEMO.reset(token)


def memoized(tag, objects, compute):
    """``compute()``, computed once per ``tag`` and identity of ``objects`` inside
    :func:`memoizing` (every time outside it).

    Parameters
    ----------
    tag : str
        What is computed.
    objects : tuple
        The objects the value depends on (compared by identity).
    compute : callable
        Computes the value. Inside a scope it is shared: its arrays (in
        tuples and lists too) are made read-only, so that a caller writing
        into them fails instead of changing what the next one reads.
    """
    memo = _MEMO.get()
    if memo is None:
        return compute()
    key = (tag, *(id(item) for item in objects))
    if key not in memo:
        memo[key] = (objects, _read_only(compute()))  # the objects kept alive: their ids stay theirs
    return memo[key][1]


def _read_only(value):
    """``value`` with its arrays (in tuples and lists too) made read-only."""
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif isinstance(value, (tuple, list)):
        for item in value:
            _read_only(item)
    return value
