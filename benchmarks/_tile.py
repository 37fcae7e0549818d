"""Synthetic Sentinel-2 tile and the machine's read bandwidth, for the kernel benchmarks."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt

TILE = 10980  #: one Sentinel-2 tile at 10 m: 10980 x 10980 = 120.6 Mpx
AREA_BLOCK = 549  #: area raster: 20 x 20 square areas of 549 x 549 px (3 km2, city-district size)


@dataclass
class Tile:
    b03: npt.NDArray[np.uint16]
    b04: npt.NDArray[np.uint16]
    b08: npt.NDArray[np.uint16]
    scl: npt.NDArray[np.uint8]
    labels: npt.NDArray[np.int32]
    n_areas: int
    ndvi: npt.NDArray[np.float32]
    clcplus: npt.NDArray[np.uint8]
    tcd: npt.NDArray[np.uint8]

    @property
    def pixels(self) -> int:
        return int(self.b03.size)


def make_tile(size: int, seed: int = 0) -> Tile:
    """DNs drawn so that the classes mix (about 1/3 tree, 1/4 other green, 1/4 not green, some water)
    and the SCL masks ~15 % (cloud, shadow, cirrus) with ~5 % water; the kernels are branch-free, so
    speed does not depend on the mix, but the counts are realistic."""
    rng = np.random.default_rng(seed)
    shape = (size, size)
    b03 = rng.integers(1200, 2600, shape, dtype=np.uint16)
    b04 = rng.integers(1100, 2800, shape, dtype=np.uint16)
    b08 = rng.integers(1100, 6500, shape, dtype=np.uint16)
    scl_codes = np.array([4] * 10 + [5] * 5 + [6, 8, 9, 3], np.uint8)
    scl = scl_codes[rng.integers(0, scl_codes.size, ((size + 1) // 2, (size + 1) // 2), dtype=np.uint8)]
    side = max(1, -(-size // AREA_BLOCK))
    rows = (np.arange(size, dtype=np.int32) // AREA_BLOCK)[:, None]
    cols = (np.arange(size, dtype=np.int32) // AREA_BLOCK)[None, :]
    labels = (rows * side + cols).astype(np.int32)
    ndvi = rng.uniform(-0.2, 0.9, shape).astype(np.float32)
    ndvi[rng.random(shape, dtype=np.float32) < 0.1] = np.nan
    clc_codes = np.array([1, 1, 2, 3, 3, 3, 5, 6, 6, 7, 9, 10, 255], np.uint8)
    clcplus = clc_codes[rng.integers(0, clc_codes.size, shape, dtype=np.uint8)]
    tcd = rng.integers(0, 101, shape, dtype=np.uint8)
    tcd[rng.random(shape, dtype=np.float32) < 0.02] = 255
    return Tile(b03, b04, b08, scl, labels, side * side, ndvi, clcplus, tcd)


@numba.njit(cache=True, nogil=True)
def _sum_serial(a: npt.NDArray[np.int64]) -> int:
    total = 0
    for i in range(a.shape[0]):
        total += a[i]
    return total


@numba.njit(cache=True, nogil=True, parallel=True)
def _sum_parallel(a: npt.NDArray[np.int64]) -> int:
    total = 0
    for i in numba.prange(a.shape[0]):
        total += a[i]
    return total


def read_bandwidth(threads: int, nbytes: int = 1 << 30, repeats: int = 5) -> float:
    """GB/s of a Numba integer sum over ``nbytes`` (default 1 GiB), best of ``repeats``."""
    a = np.ones(nbytes // 8, np.int64)
    func = _sum_serial if threads == 1 else _sum_parallel
    numba.set_num_threads(threads)
    try:
        func(a)  # JIT / cache load, and page faults
        best = min(_timed(func, a) for _ in range(repeats))
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    return a.nbytes / best / 1e9


def _timed(func: object, *args: object) -> float:
    start = time.perf_counter()
    func(*args)  # type: ignore[operator]
    return time.perf_counter() - start
