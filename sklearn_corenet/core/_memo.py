"""Results that measuring rules compute once and read many times, inside one scope.

A rule that measures before it chooses (``method="auto"``, the layer-split
search) compresses the same network on the same calibration rows many times,
with different edges: the original network's values on those rows (the
re-fit's targets, the activation statistics, the outputs the held-out rows
are compared with) are the same every time. Inside :func:`memoizing` they
are computed once; outside it every call computes them, so nothing is kept
between fits and nothing the user passes can change under a kept value.

Keys name the objects they depend on by ``id``: the scope holds the objects
(the measuring rule's split of the rows), so an id cannot be reused inside it.
"""

from contextlib import contextmanager
from contextvars import ContextVar

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


def memoized(key, compute):
    """``compute()``, computed once per ``key`` inside :func:`memoizing` (every time outside it).

    The value is shared: callers must not modify it.
    """
    memo = _MEMO.get()
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]
