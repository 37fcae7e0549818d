"""CLMS layers (CLC+ Backbone, Tree Cover Density) through the same per-area aggregation path."""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

import numpy as np

from ._classes import CLASS_TABLE, CLCPLUS_LEGEND, CLCPLUS_TO_CLASS, PixelClass
from ._contract import AREA_COUNTS_SPECS, LABELS_SPEC, ArraySpec, KernelContract
from ._counts import AreaCounts
from ._jit import current_threads, num_threads
from ._loops import lut_count_kernel
from ._types import I32, U8
from ._validate import as_2d, n_areas_ok, same_shape

CLCPLUS_VERSION: Final = "clcplus-1.0.0"
TCD_VERSION: Final = "tcd-1.0.0"
#: TCD % from which a pixel counts as TREE: the CLMS forest definition (FAO, >= 10 % canopy cover).
TCD_TREE_THRESHOLD: Final = 10


def _lut_count(
    values: U8,
    labels: I32,
    n_areas: int,
    cls_lut: U8,
    unit_lut: I32,
    units_per_pixel: int,
    version: str,
    threads: int | None,
) -> AreaCounts:
    v = as_2d("values", values, np.uint8)
    lab = as_2d("labels", labels, np.int32)
    same_shape(v.shape, labels=lab)
    with num_threads(threads):
        hist, units = lut_count_kernel(v, lab, n_areas_ok(n_areas), cls_lut, unit_lut, current_threads())
    return AreaCounts.from_totals(hist, units, units_per_pixel, version)


def clcplus_lut() -> tuple[U8, I32]:
    """CLC+ code -> PixelClass, and canopy units (1 per tree pixel)."""
    cls_lut = np.zeros(256, np.uint8)  # INVALID unless listed
    for code, pixel_class in CLCPLUS_TO_CLASS.items():
        cls_lut[code] = pixel_class
    unit_lut = (cls_lut == PixelClass.TREE).astype(np.int32)
    return cls_lut, unit_lut


def tcd_lut(tree_threshold: int = TCD_TREE_THRESHOLD) -> tuple[U8, I32]:
    """TCD % -> PixelClass (TREE from ``tree_threshold``, else NOT_GREEN; > 100 INVALID), units = TCD %."""
    if not 0 <= tree_threshold <= 100:
        raise ValueError("tree_threshold must be in 0..100")
    tcd = np.arange(256)
    cls_lut = np.where(tcd >= tree_threshold, PixelClass.TREE, PixelClass.NOT_GREEN).astype(np.uint8)
    cls_lut[101:] = PixelClass.INVALID
    unit_lut = np.where(tcd <= 100, tcd, 0).astype(np.int32)
    return cls_lut, unit_lut


def clcplus_count(classes: U8, labels: I32, n_areas: int, *, threads: int | None = None) -> AreaCounts:
    """Per-area class counts from the CLC+ Backbone raster (uint8, 10 m, same grid as ``labels``).

    Classes 2, 3, 4 -> TREE; 5, 6, 8 -> OTHER_GREEN; 10 -> WATER; 1, 7, 9, 11 -> NOT_GREEN; 0, 253,
    254, 255 and any other code -> INVALID. ``canopy_sum`` = number of tree pixels (area in m2 =
    canopy_sum x pixel area, done by the caller). Labels < 0 or >= ``n_areas`` are skipped.
    """
    cls_lut, unit_lut = clcplus_lut()
    return _lut_count(classes, labels, n_areas, cls_lut, unit_lut, 1, CLCPLUS_VERSION, threads)


def tcd_count(
    tcd: U8,
    labels: I32,
    n_areas: int,
    *,
    tree_threshold: int = TCD_TREE_THRESHOLD,
    threads: int | None = None,
) -> AreaCounts:
    """Per-area canopy from CLMS Tree Cover Density (uint8 0..100 %, 10 m, same grid as ``labels``).

    Valid = TCD 0..100; 255 (outside area), 254 (unclassifiable) and any value > 100 are INVALID.
    ``canopy_sum`` = sum of TCD / 100 over valid pixels, in pixels (canopy area in m2 = canopy_sum x
    pixel area, done by the caller). class_counts: TREE where TCD >= ``tree_threshold`` (default 10,
    the CLMS/FAO forest threshold), NOT_GREEN (= "not tree canopy": TCD cannot tell grass from
    sealed) for other valid pixels.
    """
    cls_lut, unit_lut = tcd_lut(tree_threshold)
    version = f"{TCD_VERSION}+t{tree_threshold}"
    return _lut_count(tcd, labels, n_areas, cls_lut, unit_lut, 100, version, threads)


CLCPLUS_CONTRACT: Final = KernelContract(
    "clcplus_count",
    CLCPLUS_VERSION,
    (ArraySpec("classes", "uint8", "(H, W)", 10.0, "0, 253, 254, 255", "CLC+ Backbone class"), LABELS_SPEC),
    AREA_COUNTS_SPECS,
    CLASS_TABLE,
    "input legend: " + "; ".join(f"{k} {v}" for k, v in CLCPLUS_LEGEND.items()),
)
TCD_CONTRACT: Final = KernelContract(
    "tcd_count",
    f"{TCD_VERSION}+t{TCD_TREE_THRESHOLD}",
    (ArraySpec("tcd", "uint8", "(H, W)", 10.0, ">100 (254, 255)", "Tree Cover Density %"), LABELS_SPEC),
    AREA_COUNTS_SPECS,
    MappingProxyType(
        {
            int(PixelClass.INVALID): "TCD > 100 (no data)",
            int(PixelClass.TREE): f"TCD >= {TCD_TREE_THRESHOLD} %",
            int(PixelClass.NOT_GREEN): f"TCD < {TCD_TREE_THRESHOLD} % (not tree canopy)",
        }
    ),
    "canopy_sum = sum(TCD) / 100",
)
