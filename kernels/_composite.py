"""Season composites over a stack of dates: median NDVI, or majority class, with valid counts."""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ._classes import CLASS_TABLE, N_CLASSES
from ._contract import ArraySpec, KernelContract
from ._jit import jit, num_threads, prange
from ._types import F32, I16, I64, U8

SEASON_MEDIAN_VERSION: Final = "season-median-1.0.0"
SEASON_MAJORITY_VERSION: Final = "season-majority-1.0.0"
_NAN32 = np.float32(np.nan)


#: Pixels per column block of the median kernel: the (dates x block) buffer stays in L2.
_COLUMNS = 1024


def sorting_network(n: int) -> I64:
    """Comparator pairs (lo, hi) of Batcher's odd-even merge sort for ``n`` keys (any n >= 0).

    Applying ``lo, hi = min, max`` to each pair in order sorts any n values; O(n log^2 n) pairs.
    """
    pairs: list[tuple[int, int]] = []
    p = 1
    while p < n:
        k = p
        while k >= 1:
            for j in range(k % p, n - k, 2 * k):
                for i in range(min(k, n - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return np.array(pairs, dtype=np.int64).reshape(-1, 2)


@jit(parallel=True)
def _median_kernel(stack: F32, pairs: I64, med_out: F32, cnt_out: I16) -> None:
    """Per pixel: invalid values -> +inf, sort the dates with the network (vectorised across the
    pixels of a block: each comparator is a min/max of two buffer rows), take the middle of the
    valid prefix."""
    t_len, h, w = stack.shape
    big = np.float32(3.0e38)
    inf = np.float32(np.inf)
    half = np.float32(0.5)
    n_blocks = (w + _COLUMNS - 1) // _COLUMNS
    for task in prange(h * n_blocks):
        i = task // n_blocks
        j0 = (task % n_blocks) * _COLUMNS
        width = min(_COLUMNS, w - j0)
        buf = np.empty((t_len, width), np.float32)
        cnt = np.zeros(width, np.int32)
        for t in range(t_len):
            src = stack[t, i, j0 : j0 + width]
            dst = buf[t]
            for j in range(width):
                v = src[j]
                ok = (v >= -big) & (v <= big)  # False for NaN and +-inf
                dst[j] = v if ok else inf
                cnt[j] += ok
        for p in range(pairs.shape[0]):
            lo = buf[pairs[p, 0]]
            hi = buf[pairs[p, 1]]
            for j in range(width):
                x = lo[j]
                y = hi[j]
                lo[j] = x if x < y else y
                hi[j] = y if x < y else x
        med = med_out[i, j0 : j0 + width]
        count = cnt_out[i, j0 : j0 + width]
        for j in range(width):
            n = cnt[j]
            if n == 0:
                med[j] = _NAN32
            elif n % 2 == 1:
                med[j] = buf[n // 2, j]
            else:
                med[j] = (buf[n // 2 - 1, j] + buf[n // 2, j]) * half
            count[j] = n


@jit(parallel=True)
def _majority_kernel(stack: U8, maj_out: U8, cnt_out: I16) -> None:
    t_len, h, w = stack.shape
    for i in prange(h):
        votes = np.zeros((w, N_CLASSES), np.int64)
        for t in range(t_len):
            row = stack[t, i]
            for j in range(w):
                c = row[j]
                if 0 < c < N_CLASSES:
                    votes[j, c] += 1
        for j in range(w):
            best = 0
            best_n = 0
            total = 0
            for c in range(1, N_CLASSES):  # strict '>' keeps the lowest code on ties
                total += votes[j, c]
                if votes[j, c] > best_n:
                    best = c
                    best_n = votes[j, c]
            maj_out[i, j] = best
            cnt_out[i, j] = total


def _check_stack(name: str, stack: npt.ArrayLike, dtype: type[np.generic]) -> npt.NDArray[Any]:
    arr = np.asarray(stack)
    if arr.ndim != 3:
        raise ValueError(f"{name} must be 3-D (T, H, W), got shape {arr.shape}")
    if arr.dtype != np.dtype(dtype):
        raise TypeError(f"{name} must be {np.dtype(dtype).name}, got {arr.dtype.name}")
    if arr.shape[0] > np.iinfo(np.int16).max:
        raise ValueError("at most 32767 dates")
    return np.ascontiguousarray(arr)


def season_composite(ndvi_stack: F32, *, threads: int | None = None) -> tuple[F32, I16]:
    """Per-pixel median NDVI over the valid dates of ``ndvi_stack`` (float32 (T, H, W), NaN = invalid).

    Returns ``(median float32 (H, W), count int16 (H, W))``: the median of the valid observations
    (mean of the two middle values for an even count, as ``numpy.nanmedian``; NaN where count is 0)
    and the number of valid observations. Non-finite values count as invalid. Version:
    ``SEASON_MEDIAN_VERSION``. Feed the median to :func:`classify_ndvi` for the annual classes.
    """
    arr = _check_stack("ndvi_stack", ndvi_stack, np.float32)
    med = np.empty(arr.shape[1:], np.float32)
    cnt = np.empty(arr.shape[1:], np.int16)
    with num_threads(threads):
        _median_kernel(arr, sorting_network(arr.shape[0]), med, cnt)
    return med, cnt


def season_majority(class_stack: U8, *, threads: int | None = None) -> tuple[U8, I16]:
    """Per-pixel majority class over the valid (non-INVALID) dates of ``class_stack`` (uint8 (T, H, W)).

    Each valid observation is one vote; ties go to the lowest class code (WATER < TREE < OTHER_GREEN
    < NOT_GREEN). Returns ``(class uint8 (H, W), valid count int16 (H, W))``; INVALID where no date is
    valid. Codes >= N_CLASSES count as invalid. Version: ``SEASON_MAJORITY_VERSION``.
    """
    arr = _check_stack("class_stack", class_stack, np.uint8)
    maj = np.empty(arr.shape[1:], np.uint8)
    cnt = np.empty(arr.shape[1:], np.int16)
    with num_threads(threads):
        _majority_kernel(arr, maj, cnt)
    return maj, cnt


SEASON_COMPOSITE_CONTRACT: Final = KernelContract(
    "season_composite",
    SEASON_MEDIAN_VERSION,
    (ArraySpec("ndvi_stack", "float32", "(T, H, W)", None, "NaN", "NDVI per date"),),
    (
        ArraySpec("median", "float32", "(H, W)", None, "NaN", "median of valid NDVI"),
        ArraySpec("count", "int16", "(H, W)", None, None, "valid observations"),
    ),
)
SEASON_MAJORITY_CONTRACT: Final = KernelContract(
    "season_majority",
    SEASON_MAJORITY_VERSION,
    (ArraySpec("class_stack", "uint8", "(T, H, W)", None, 0, "PixelClass per date"),),
    (
        ArraySpec("majority", "uint8", "(H, W)", None, 0, "PixelClass"),
        ArraySpec("count", "int16", "(H, W)", None, None, "valid observations"),
    ),
    CLASS_TABLE,
)
