"""One BLAS thread for small linear algebra, without rescanning the loaded libraries each time.

``threadpoolctl.threadpool_limits`` lists the process's BLAS and OpenMP
libraries every time it is entered (reading ``/proc/self/maps`` on Linux),
which costs about 1.5 ms: measuring rules that re-fit a network dozens of
times spent a tenth of their time there. A :class:`threadpoolctl.ThreadpoolController`
lists them once and limits them as often as needed.
"""

from functools import lru_cache

from threadpoolctl import ThreadpoolController


@lru_cache(maxsize=1)
def _controller():
    return ThreadpoolController()


def one_blas_thread():
    """A context manager that runs the BLAS libraries on one thread inside it."""
    return _controller().limit(limits=1, user_api="blas")
