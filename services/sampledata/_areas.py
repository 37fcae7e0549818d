"""Municipality polygons on the product grid: loading, projecting and rasterising (pixel centre rule)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import shapely
from shapely.geometry import box, shape
from shapely.geometry.base import BaseGeometry

from ._grid import Grid

_BUNDLED = Path(__file__).resolve().parents[1] / "areas" / "data" / "nl_gemeenten_2023.geojson"
_SHARED = (
    Path(__file__).resolve().parents[2].parent
    / "shared"
    / "data"
    / "areas"
    / "cbs_gemeenten_2023_wgs84_simplified.geojson"
)


def default_areas_path() -> Path:
    """The CBS gemeenten 2023 GeoJSON: the copy bundled with greenwatch, else the shared one."""
    for candidate in (_BUNDLED, _SHARED):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no municipality GeoJSON found at {_BUNDLED} or {_SHARED}; pass areas_path")


@dataclass(frozen=True)
class Area:
    """One area (municipality) that intersects the window, in the grid's CRS."""

    code: str
    name: str
    geometry: BaseGeometry
    properties: dict[str, Any]
    window_fraction: float  # share of the polygon's area inside the window

    @property
    def fully_inside(self) -> bool:
        return self.window_fraction >= 0.999


@dataclass(frozen=True)
class AreaMask:
    """Where an area's pixels are: `mask` covers grid[rows, cols] (pixel centre inside the polygon)."""

    code: str
    rows: slice
    cols: slice
    mask: np.ndarray

    @property
    def pixels(self) -> int:
        return int(self.mask.sum())

    def full(self, shape: tuple[int, int]) -> np.ndarray:
        out = np.zeros(shape, dtype=bool)
        out[self.rows, self.cols] = self.mask
        return out


def load_areas(
    path: Path, grid: Grid, id_property: str = "gemeentecode", name_property: str = "gemeentenaam"
) -> list[Area]:
    """Areas of the GeoJSON FeatureCollection at `path` whose polygon intersects the window."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    to_grid = pyproj.Transformer.from_crs(4326, grid.epsg, always_xy=True)
    window = box(*grid.bounds)

    def project(coords: np.ndarray) -> np.ndarray:
        x, y = to_grid.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    areas: list[Area] = []
    for feature in doc["features"]:
        props = feature.get("properties") or {}
        geom = shapely.transform(shape(feature["geometry"]), project)
        # a few simplified polygons are invalid (a hole outside its shell): repair them for the
        # overlay only; rasterizing keeps the raw rings (even-odd rule, as shapely.contains_xy)
        valid = geom if geom.is_valid else shapely.make_valid(geom)
        if not valid.intersects(window):
            continue
        inside = valid.intersection(window).area
        areas.append(
            Area(
                code=str(props[id_property]),
                name=str(props.get(name_property, props[id_property])),
                geometry=geom,
                properties=props,
                window_fraction=float(inside / valid.area) if valid.area > 0 else 0.0,
            )
        )
    return areas  # in file order: the order that decides pixels in overlaps


def _rings(geom: BaseGeometry) -> list[np.ndarray]:
    polys = list(getattr(geom, "geoms", [geom]))
    rings: list[np.ndarray] = []
    for poly in polys:
        rings.append(np.asarray(poly.exterior.coords))
        rings.extend(np.asarray(r.coords) for r in poly.interiors)
    return rings


def rasterize(geom: BaseGeometry, grid: Grid) -> AreaMask | None:
    """Pixels whose centre lies inside `geom` (even-odd rule), within the polygon's bounding box."""
    xmin, ymin, xmax, ymax = geom.bounds
    res = grid.res
    c0 = max(int(np.floor((xmin - grid.x0) / res)), 0)
    c1 = min(int(np.ceil((xmax - grid.x0) / res)), grid.width)
    r0 = max(int(np.floor((grid.y1 - ymax) / res)), 0)
    r1 = min(int(np.ceil((grid.y1 - ymin) / res)), grid.height)
    if c0 >= c1 or r0 >= r1:
        return None
    h, w = r1 - r0, c1 - c0
    toggles = np.zeros((h, w + 1), dtype=np.int32)
    for ring in _rings(geom):
        xa, ya, xb, yb = ring[:-1, 0], ring[:-1, 1], ring[1:, 0], ring[1:, 1]
        keep = ya != yb
        xa, ya, xb, yb = xa[keep], ya[keep], xb[keep], yb[keep]
        ylo, yhi = np.minimum(ya, yb), np.maximum(ya, yb)
        # row i (centre y1 - (i + .5) res) crosses the edge when ylo <= yc < yhi
        first = np.ceil((grid.y1 - yhi) / res - 0.5 + 1e-9).astype(np.int64)
        last = np.floor((grid.y1 - ylo) / res - 0.5).astype(np.int64)
        first = np.maximum(first, r0)
        last = np.minimum(last, r1 - 1)
        n = np.maximum(last - first + 1, 0)
        if n.sum() == 0:
            continue
        edge = np.repeat(np.arange(len(n)), n)
        offsets = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        rows = first[edge] + offsets
        yc = grid.y1 - (rows + 0.5) * res
        xc = xa[edge] + (yc - ya[edge]) * (xb[edge] - xa[edge]) / (yb[edge] - ya[edge])
        # pixels whose centre is right of the crossing toggle parity
        col = np.ceil((xc - grid.x0) / res - 0.5).astype(np.int64)
        col = np.clip(col, c0, c1) - c0
        np.add.at(toggles, (rows - r0, col), 1)
    mask = (np.cumsum(toggles[:, :w], axis=1) & 1).astype(bool)
    return AreaMask(code="", rows=slice(r0, r1), cols=slice(c0, c1), mask=mask)


def area_masks(areas: list[Area], grid: Grid) -> list[AreaMask]:
    """Disjoint masks: a pixel belongs to the first area (in `areas` order) containing its centre,
    the rule (`pixel-centre-v1`) of greenwatch.services.areas, so true counts match its labels."""
    claimed = np.zeros(grid.shape, dtype=bool)
    out: list[AreaMask] = []
    for area in areas:
        m = rasterize(area.geometry, grid)
        if m is None:
            continue
        mask = m.mask & ~claimed[m.rows, m.cols]
        claimed[m.rows, m.cols] |= mask
        if mask.any():
            out.append(AreaMask(code=area.code, rows=m.rows, cols=m.cols, mask=mask))
    return out
