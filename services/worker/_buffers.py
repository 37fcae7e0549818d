"""Recycled output buffers for decoded chunks.

Why: a fresh 6.7 MB array per decoded chunk is fresh memory from the OS, which the kernel zero-fills on
first touch; on the reference machine that made decoding ~20 % slower than decoding into a buffer used
before. The worker hands the three band arrays back after the kernel has run (nothing else keeps them:
counts are new arrays, maps are encoded copies), and the next chunks are decoded into them.
"""

from __future__ import annotations

import threading
from collections import defaultdict

import numpy as np


class BufferPool:
    def __init__(self, keep_per_shape: int = 12) -> None:
        self._free: defaultdict[tuple[tuple[int, ...], str], list[np.ndarray]] = defaultdict(list)
        self._keep = keep_per_shape
        self._lock = threading.Lock()

    def get(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        key = (tuple(shape), np.dtype(dtype).str)
        with self._lock:
            free = self._free.get(key)
            if free:
                return free.pop()
        return np.empty(shape, dtype=dtype)

    def give_back(self, arrays: list[np.ndarray]) -> None:
        """Arrays the caller no longer uses (whole arrays only: a view would alias another's data)."""
        with self._lock:
            for a in arrays:
                if a.base is not None or not a.flags.owndata or not a.flags.c_contiguous:
                    continue
                free = self._free[(a.shape, a.dtype.str)]
                if len(free) < self._keep and all(b is not a for b in free):
                    free.append(a)
