"""Polygons to an int32 label raster by the pixel-centre rule.

Rule (RASTER_RULE): a pixel belongs to the first polygon (in area-set order) that contains its
centre; -1 if none does. Containment is the even-odd rule over all rings of the geometry (shell and
holes), evaluated along each pixel row by a scanline: an edge crosses a row when the row's centre y
lies in [y_low, y_high) of the edge, and every pixel whose centre x is at or right of the crossing
flips parity. This is what `shapely.contains_xy` answers for valid polygons (tested), except for a
centre that lies exactly on an edge, which the half-open rule assigns to one side only, so that two
polygons sharing an edge never both claim a pixel. Invalid simplified polygons (a hole outside its
shell) are taken as their rings say, like the sampledata truth does.

Every pixel is counted at most once; pixel area x pixels estimates the polygon's area. The error is
a boundary effect: unbiased, and shrinking relative to the area as the polygon grows. It is measured
against exact polygon areas in tests/areas/test_boundary_error.py.

Why a scanline instead of a point-in-polygon test per pixel: a full Sentinel-2 tile (120.6 Mpx, ~170
municipalities) took 36 s with prepared `contains_xy` per row and takes about 2 s this way.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

RASTER_RULE = "pixel-centre-v1"
NO_AREA = -1
_STRIPE_ROWS = 1024  # rows rasterized at once: bounds memory to stripe x bbox width bytes


def rasterize(
    geoms: Sequence[BaseGeometry | None],
    transform: tuple[float, float, float, float, float, float],
    shape: tuple[int, int],
) -> NDArray[np.int32]:
    """Label raster: `labels[r, c]` is the index of the first polygon containing the centre of pixel
    (r, c), or -1. `transform` is rasterio-ordered (a, b, c, d, e, f): x = c + a*col, y = f + e*row;
    north-up only (a > 0, e < 0, no rotation)."""
    a, b, c, d, e, f = (float(v) for v in transform)
    if b != 0 or d != 0:
        raise ValueError("rotated grids are not supported")
    if a <= 0 or e >= 0:
        raise ValueError(f"only north-up grids (a > 0, e < 0) are supported, got a={a}, e={e}")
    height, width = shape
    labels = np.full(shape, NO_AREA, dtype=np.int32)
    for index, geom in enumerate(geoms):
        if geom is None or geom.is_empty:
            continue
        minx, miny, maxx, maxy = geom.bounds
        c0 = max(0, int(np.floor((minx - c) / a - 0.5)))
        c1 = min(width, int(np.ceil((maxx - c) / a - 0.5)) + 1)
        r0 = max(0, int(np.floor((maxy - f) / e - 0.5)))
        r1 = min(height, int(np.ceil((miny - f) / e - 0.5)) + 1)
        if c0 >= c1 or r0 >= r1:
            continue
        edges = _edges(geom)
        for s0 in range(r0, r1, _STRIPE_ROWS):
            s1 = min(r1, s0 + _STRIPE_ROWS)
            inside = _inside(edges, (s0, s1), (c0, c1), (a, c, e, f))
            window = labels[s0:s1, c0:c1]
            window[inside & (window == NO_AREA)] = index
    return labels


def _rings(geom: BaseGeometry) -> Iterator[NDArray[np.float64]]:
    for part in getattr(geom, "geoms", [geom]):
        if part.geom_type == "Polygon":
            yield np.asarray(part.exterior.coords, dtype=np.float64)[:, :2]
            for ring in part.interiors:
                yield np.asarray(ring.coords, dtype=np.float64)[:, :2]
        elif part.geom_type in ("MultiPolygon", "GeometryCollection"):
            yield from _rings(part)
        # points and lines enclose nothing


def _edges(geom: BaseGeometry) -> NDArray[np.float64]:
    """Non-horizontal edges of every ring as rows (x_a, y_a, x_b, y_b)."""
    parts = [np.column_stack([r[:-1], r[1:]]) for r in _rings(geom) if len(r) > 1]
    if not parts:
        return np.empty((0, 4))
    edges: NDArray[np.float64] = np.concatenate(parts)
    keep: NDArray[np.float64] = edges[edges[:, 1] != edges[:, 3]]
    return keep


def _inside(
    edges: NDArray[np.float64], rows: tuple[int, int], cols: tuple[int, int], affine: tuple[float, float, float, float]
) -> NDArray[np.bool_]:
    """Even-odd containment of the centres of pixels rows x cols."""
    (r0, r1), (c0, c1), (a, c, e, f) = rows, cols, affine
    toggles = np.zeros((r1 - r0, c1 - c0 + 1), dtype=np.uint8)
    xa, ya, xb, yb = edges.T
    ylo, yhi = np.minimum(ya, yb), np.maximum(ya, yb)
    # row r has centre y = f + e*(r + 0.5); it crosses the edge when ylo <= y < yhi (e < 0)
    first = np.floor((yhi - f) / e - 0.5).astype(np.int64) + 1
    last = np.floor((ylo - f) / e - 0.5).astype(np.int64)
    # guard against rounding at exact ties: y < yhi and y >= ylo must hold
    first = np.where(f + e * (first - 1 + 0.5) < yhi, first - 1, first)
    last = np.where(f + e * (last + 0.5) < ylo, last - 1, last)
    first, last = np.maximum(first, r0), np.minimum(last, r1 - 1)
    n = np.maximum(last - first + 1, 0)
    total = int(n.sum())
    if total == 0:
        return np.zeros((r1 - r0, c1 - c0), dtype=bool)
    edge = np.repeat(np.arange(len(n)), n)
    rows_hit = first[edge] + (np.arange(total) - np.repeat(np.cumsum(n) - n, n))
    yc = f + e * (rows_hit + 0.5)
    xc = xa[edge] + (yc - ya[edge]) * (xb[edge] - xa[edge]) / (yb[edge] - ya[edge])
    # the first pixel whose centre x = c + a*(col + 0.5) is >= xc
    col = np.ceil((xc - c) / a - 0.5).astype(np.int64)
    col = np.clip(col, c0, c1) - c0
    np.add.at(toggles, (rows_hit - r0, col), 1)
    parity = np.cumsum(toggles[:, :-1], axis=1, dtype=np.uint8) & 1
    return parity.astype(bool)
