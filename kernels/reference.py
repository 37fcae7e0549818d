"""NumPy reference implementations of every kernel: the executable specification.

Written for clarity, not speed (whole-array temporaries, the 20 m SCL upsampled as a copy). The Numba
kernels must return exactly the same values; property tests in ``tests/kernels`` hold them equal.
Same names and signatures as the public kernels (minus ``threads``/``out``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._classes import CLCPLUS_TO_CLASS, N_CLASSES, PixelClass
from ._clms import CLCPLUS_VERSION, TCD_TREE_THRESHOLD, TCD_VERSION
from ._counts import CANOPY_UNITS, AreaCounts
from ._params import ClassifyParams, KernelConstants, Radiometry, kernel_constants
from ._types import F32, I16, I32, I64, U8, U16

__all__ = [
    "classify",
    "classify_count",
    "classify_ndvi",
    "clcplus_count",
    "season_composite",
    "season_majority",
    "tcd_count",
]


_F0 = np.float32(0.0)
_F1 = np.float32(1.0)


def _ndvi_decision(ndvi: F32, c: KernelConstants) -> tuple[U8, F32]:
    """Class and canopy fraction from finite NDVI (no validity, no water)."""
    cls = np.where(
        ndvi > c.ndvi_tree,
        PixelClass.TREE,
        np.where(ndvi >= c.ndvi_green, PixelClass.OTHER_GREEN, PixelClass.NOT_GREEN),
    ).astype(np.uint8)
    frac = np.clip((ndvi - c.ndvi_soil) * c.inv_span, _F0, _F1).astype(np.float32)
    return cls, frac


def upsample_scl(scl: U8, shape: tuple[int, int]) -> U8:
    """20 m -> 10 m by pixel replication, cropped to ``shape`` (the reference materialises it)."""
    return np.repeat(np.repeat(scl, 2, axis=0), 2, axis=1)[: shape[0], : shape[1]]


def classify(b03: U16, b04: U16, b08: U16, scl: U8, radiometry: Radiometry, params: ClassifyParams) -> tuple[U8, F32]:
    c = kernel_constants(radiometry, params)
    fg, fr, fn = (b.astype(np.float32) for b in (b03, b04, b08))
    den = (fn + fr) + c.ratio_offset
    pos = den > _F0
    ndvi = np.where(pos, (fn - fr) / np.where(pos, den, _F1), _F0).astype(np.float32)
    den_w = (fg + fn) + c.ratio_offset
    scl10 = upsample_scl(scl, b03.shape)
    water = (scl10 == params.water_scl) | ((den_w > _F0) & ((fg - fn) > c.ndwi_water * den_w))
    bad = np.isin(scl10, params.invalid_scl) | (b03 == 0) | (b04 == 0) | (b08 == 0)
    cls, frac = _ndvi_decision(ndvi, c)
    cls[water] = PixelClass.WATER
    frac[water] = _F0
    cls[bad] = PixelClass.INVALID
    frac[bad] = np.nan
    return cls, frac


def _count(cls: U8, units: I64, labels: I32, n_areas: int, per_pixel: int, version: str) -> AreaCounts:
    inside = (labels >= 0) & (labels < n_areas)
    lab = labels[inside].astype(np.int64)
    counts = np.bincount(lab * N_CLASSES + cls[inside], minlength=n_areas * N_CLASSES)
    # float64 sums of integers stay exact below 2**53 (a whole tile is < 2**51 canopy units)
    totals = np.rint(np.bincount(lab, weights=units[inside], minlength=n_areas)).astype(np.int64)
    return AreaCounts.from_totals(counts.reshape(n_areas, N_CLASSES).astype(np.int64), totals, per_pixel, version)


def classify_count(
    b03: U16,
    b04: U16,
    b08: U16,
    scl: U8,
    labels: I32,
    n_areas: int,
    radiometry: Radiometry,
    params: ClassifyParams,
) -> AreaCounts:
    cls, frac = classify(b03, b04, b08, scl, radiometry, params)
    finite = np.where(cls == PixelClass.INVALID, _F0, frac)
    units = (finite * np.float32(CANOPY_UNITS)).astype(np.int32).astype(np.int64)  # truncation
    return _count(cls, units, labels, n_areas, CANOPY_UNITS, params.kernel_version)


def classify_ndvi(ndvi: F32, params: ClassifyParams) -> tuple[U8, F32]:
    c = kernel_constants(Radiometry(), params)
    ok = np.isfinite(ndvi)
    cls, frac = _ndvi_decision(np.where(ok, ndvi, _F0).astype(np.float32), c)
    cls[~ok] = PixelClass.INVALID
    frac[~ok] = np.nan
    return cls, frac


def season_composite(ndvi_stack: F32) -> tuple[F32, I16]:
    if ndvi_stack.shape[0] == 0:
        return np.full(ndvi_stack.shape[1:], np.nan, np.float32), np.zeros(ndvi_stack.shape[1:], np.int16)
    ok = np.isfinite(ndvi_stack)
    cnt = ok.sum(axis=0)
    ordered = np.sort(np.where(ok, ndvi_stack, np.float32(np.inf)), axis=0)  # invalid last
    lo = np.take_along_axis(ordered, np.maximum(cnt - 1, 0)[None] // 2, axis=0)[0]
    hi = np.take_along_axis(ordered, np.minimum(cnt // 2, ordered.shape[0] - 1)[None], axis=0)[0]
    with np.errstate(invalid="ignore", over="ignore"):
        med = np.where(cnt % 2 == 1, hi, (lo + hi) * np.float32(0.5)).astype(np.float32)
    med[cnt == 0] = np.nan
    return med, cnt.astype(np.int16)


def season_majority(class_stack: U8) -> tuple[U8, I16]:
    codes = np.arange(1, N_CLASSES, dtype=np.uint8)
    votes = (class_stack[..., None] == codes).sum(axis=0)  # (H, W, N_CLASSES - 1)
    total = votes.sum(axis=-1)
    best = (np.argmax(votes, axis=-1) + 1).astype(np.uint8)  # first maximum: lowest code
    best[total == 0] = PixelClass.INVALID
    return best, total.astype(np.int16)


def clcplus_count(classes: U8, labels: I32, n_areas: int) -> AreaCounts:
    cls = np.zeros(classes.shape, np.uint8)
    for code, pixel_class in CLCPLUS_TO_CLASS.items():
        cls[classes == code] = pixel_class
    units = (cls == PixelClass.TREE).astype(np.int64)
    return _count(cls, units, labels, n_areas, 1, CLCPLUS_VERSION)


def tcd_count(tcd: U8, labels: I32, n_areas: int, *, tree_threshold: int = TCD_TREE_THRESHOLD) -> AreaCounts:
    valid = tcd <= 100
    cls = np.where(tcd >= tree_threshold, PixelClass.TREE, PixelClass.NOT_GREEN).astype(np.uint8)
    cls[~valid] = PixelClass.INVALID
    units: Any = np.where(valid, tcd, 0).astype(np.int64)
    return _count(cls, units, labels, n_areas, 100, f"{TCD_VERSION}+t{tree_threshold}")
