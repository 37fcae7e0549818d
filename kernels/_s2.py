"""Sentinel-2 L2A kernels: classification map, fused per-area counting, and the NDVI-level decision."""

from __future__ import annotations

from typing import Final

import numpy as np

from ._classes import CLASS_TABLE
from ._contract import AREA_COUNTS_SPECS, LABELS_SPEC, ArraySpec, KernelContract
from ._counts import CANOPY_UNITS, AreaCounts
from ._jit import current_threads, num_threads
from ._loops import classify_kernel, classify_ndvi_kernel, count_kernel
from ._params import ClassifyParams, Radiometry, kernel_constants, scl_lut
from ._types import F32, I32, U8, U16
from ._validate import as_2d, n_areas_ok, out_array, same_shape, scl_shape


def _check_bands(b03: U16, b04: U16, b08: U16, scl: U8) -> tuple[U16, U16, U16, U8]:
    g = as_2d("b03", b03, np.uint16)
    r = as_2d("b04", b04, np.uint16)
    n = as_2d("b08", b08, np.uint16)
    s = as_2d("scl", scl, np.uint8)
    same_shape(g.shape, b04=r, b08=n)
    if s.shape != scl_shape(g.shape):
        raise ValueError(f"scl has shape {s.shape}, expected {scl_shape(g.shape)} for 10 m shape {g.shape}")
    return g, r, n, s


def classify(
    b03: U16,
    b04: U16,
    b08: U16,
    scl: U8,
    radiometry: Radiometry,
    params: ClassifyParams,
    *,
    threads: int | None = None,
    out: tuple[U8, F32] | None = None,
) -> tuple[U8, F32]:
    """Per-pixel class map and canopy fraction of one 10 m Sentinel-2 L2A window.

    ``b03``/``b04``/``b08``: uint16 DNs (H, W) at 10 m, 0 = fill. ``scl``: uint8 (ceil(H/2),
    ceil(W/2)) at 20 m, pixel [0, 0] covering 10 m pixels [0:2, 0:2]; it is applied inside the kernel
    one row at a time, never upsampled as a whole. Returns ``(class_map uint8 (H, W), canopy_fraction
    float32 (H, W))`` with :class:`PixelClass` values and NaN fraction where INVALID (0 for water).
    Rules: :class:`ClassifyParams`. Version: ``kernel_version(params)``. ``out`` reuses buffers.
    """
    g, r, n, s = _check_bands(b03, b04, b08, scl)
    cls_out = out_array("out[0]", None if out is None else out[0], g.shape, np.uint8)
    frac_out = out_array("out[1]", None if out is None else out[1], g.shape, np.float32)
    c = kernel_constants(radiometry, params)
    with num_threads(threads):
        classify_kernel(g, r, n, s, scl_lut(params), *c, cls_out, frac_out)
    return cls_out, frac_out


def classify_count(
    b03: U16,
    b04: U16,
    b08: U16,
    scl: U8,
    labels: I32,
    n_areas: int,
    radiometry: Radiometry,
    params: ClassifyParams,
    *,
    threads: int | None = None,
) -> AreaCounts:
    """Classify and count per area in one pass, without writing a class map.

    ``labels``: int32 (H, W) area ids; a label < 0 or >= ``n_areas`` means "no area" and the pixel
    is skipped. Returns per-(area, class) pixel counts, valid counts and the canopy fraction summed
    over valid pixels (in pixels; x pixel area for m2), stamped with ``kernel_version(params)``.
    Parallel over chunks of rows with one histogram per chunk; all sums are integers (canopy in
    1/2**24 pixel units), so the result is identical for any ``threads``.
    """
    g, r, n, s = _check_bands(b03, b04, b08, scl)
    lab = as_2d("labels", labels, np.int32)
    same_shape(g.shape, labels=lab)
    na = n_areas_ok(n_areas)
    c = kernel_constants(radiometry, params)
    with num_threads(threads):
        hist, units = count_kernel(g, r, n, s, lab, na, scl_lut(params), current_threads(), *c)
    return AreaCounts.from_totals(hist, units, CANOPY_UNITS, params.kernel_version)


def classify_ndvi(ndvi: F32, params: ClassifyParams, *, threads: int | None = None) -> tuple[U8, F32]:
    """The NDVI-level decision of :func:`classify` applied to a float32 NDVI raster.

    NaN (or +-inf) is INVALID. No water class: water needs NDWI or SCL. Used for NDVI that is not
    derived from L2A DNs (e.g. a season composite from :func:`season_composite`, or L1C NDVI).
    The per-pixel rule is the same inlined code as in :func:`classify`.
    """
    v = as_2d("ndvi", ndvi, np.float32)
    cls_out = np.empty(v.shape, np.uint8)
    frac_out = np.empty(v.shape, np.float32)
    c = kernel_constants(Radiometry(), params)
    with num_threads(threads):
        classify_ndvi_kernel(v, c.ndvi_green, c.ndvi_tree, c.ndvi_soil, c.inv_span, cls_out, frac_out)
    return cls_out, frac_out


_BANDS: Final = (
    ArraySpec("b03", "uint16", "(H, W)", 10.0, 0, "green DN; reflectance = DN x scale_factor + add_offset"),
    ArraySpec("b04", "uint16", "(H, W)", 10.0, 0, "red DN"),
    ArraySpec("b08", "uint16", "(H, W)", 10.0, 0, "NIR DN"),
    ArraySpec("scl", "uint8", "(ceil(H/2), ceil(W/2))", 20.0, 0, "scene classification; [0,0] covers 10 m [0:2,0:2]"),
)
_MAPS: Final = (
    ArraySpec("class_map", "uint8", "(H, W)", 10.0, 0, "PixelClass"),
    ArraySpec("canopy_fraction", "float32", "(H, W)", 10.0, "NaN", "0..1; 0 for water"),
)
_DEFAULT_VERSION: Final = ClassifyParams().kernel_version

CLASSIFY_CONTRACT: Final = KernelContract(
    "classify", _DEFAULT_VERSION, _BANDS, _MAPS, CLASS_TABLE, "rules and version: ClassifyParams"
)
CLASSIFY_COUNT_CONTRACT: Final = KernelContract(
    "classify_count",
    _DEFAULT_VERSION,
    (*_BANDS, LABELS_SPEC),
    AREA_COUNTS_SPECS,
    CLASS_TABLE,
    "same per-pixel rules as classify; canopy summed in 1/2**24 pixel units",
)
CLASSIFY_NDVI_CONTRACT: Final = KernelContract(
    "classify_ndvi",
    _DEFAULT_VERSION,
    (ArraySpec("ndvi", "float32", "(H, W)", None, "NaN", "NDVI, any resolution"),),
    _MAPS,
    CLASS_TABLE,
    "no WATER class (needs NDWI/SCL)",
)
