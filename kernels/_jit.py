"""Typed wrappers around Numba so that the rest of the package type-checks under ``mypy --strict``.

Every kernel in this package is compiled with ``cache=True`` (no JIT cost after the first run on a
machine) and ``nogil=True`` (callers may run kernels from a thread pool).

Fast-math: :data:`FASTMATH` is the flag set ``{'nnan', 'ninf', 'nsz', 'contract'}``. It deliberately
omits ``arcp`` (approximate reciprocal, which made about 800 pixels of a tile differ from NumPy in the
prototype) and ``reassoc`` (float reductions would depend on the vector width). With it the kernels are
bit-identical to :mod:`greenwatch.kernels.reference`. ``nnan``/``ninf`` are only used by kernels whose
float values are finite by construction (integer inputs); kernels that read NaN-coded float inputs are
compiled without fast-math so that their ``x != x`` tests survive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

import numba

F = TypeVar("F", bound=Callable[..., Any])

FASTMATH: frozenset[str] = frozenset({"nnan", "ninf", "nsz", "contract"})

#: ``numba.prange`` (typed as ``range`` by Numba's own annotations).
prange = numba.prange


def jit(*, parallel: bool = False, fastmath: frozenset[str] | bool = False) -> Callable[[F], F]:
    """``numba.njit(cache=True, nogil=True, ...)`` with a signature mypy understands."""
    flags: set[str] | bool = set(fastmath) if isinstance(fastmath, frozenset) else fastmath
    return cast(
        "Callable[[F], F]",
        numba.njit(cache=True, nogil=True, parallel=parallel, fastmath=flags, error_model="numpy"),
    )


def inline(func: F) -> F:
    """A scalar helper inlined into its callers at Numba-IR level (takes the caller's fast-math)."""
    return cast("F", numba.njit(inline="always", cache=True, error_model="numpy")(func))


def max_threads() -> int:
    """Size of Numba's thread pool (``NUMBA_NUM_THREADS``, default: the number of cores)."""
    return int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]


@contextmanager
def num_threads(threads: int | None) -> Iterator[int]:
    """Run the body with ``threads`` Numba threads (``None``: leave as is); restore afterwards.

    ``numba.set_num_threads`` is per calling thread, so concurrent callers do not interfere.
    Values above the pool size are clamped to it.
    """
    previous = int(numba.get_num_threads())
    if threads is None:
        yield previous
        return
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    wanted = min(threads, max_threads())
    numba.set_num_threads(wanted)
    try:
        yield wanted
    finally:
        numba.set_num_threads(previous)


def current_threads() -> int:
    """Threads a parallel kernel called now would use."""
    return int(numba.get_num_threads())
