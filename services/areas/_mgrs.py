"""MGRS tile ids and the *core* of a Sentinel-2 tile: the pixels that tile alone counts.

Why: neighbouring Sentinel-2 tiles overlap (9.8 km inside a UTM zone, far more across a zone edge),
so on one day several products see the same pixels. A product counts only the pixels of its core:
the MGRS 100 km grid square its id names, intersected with its UTM zone's 6-degree longitude strip.
Within a zone the 100 km squares partition the plane and the zones partition the globe, so the cores
are disjoint and cover everything: the merger can add the day's products, one per core, and count
each pixel once ("one product per pixel per day").

Decoding (standard MGRS, AA lettering, WGS84): the column letter gives the easting, 100-800 km, from
a letter set that repeats every three zones (zone % 3 == 1: A-H, 2: J-R, 0: S-Z); the row letter
gives the northing modulo 2000 km (A-V without I and O, even zones shifted by five letters); the
latitude band resolves the 2000 km ambiguity (the square must meet the band's northings in that
zone). The Norway and Svalbard zone exceptions (bands V and X, zones 31-37) are NOT applied: the
strip is always the regular 6 degrees. That is a consistent partition as long as every product of a
region is decoded by the same rule, which is all the merger needs.

The zone strip matters only where a square reaches past the zone's boundary meridian (31UGT: 700-800
km east, but 6 E lies at about 706 km there). Pixel centres are compared with the meridian's easting
at their northing, interpolated from a densified meridian projected once (sub-millimetre error over
the ~0.005 degree steps), and only for squares the meridian actually crosses.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

import numpy as np
import pyproj
from numpy.typing import NDArray

if TYPE_CHECKING:
    from greenwatch.services.areas._labels import Grid

DOMAIN_RULE = "mgrs-core-v1"  # bump when the core's pixel rule changes (it is part of cached label rasters)
SQUARE_M = 100_000
_CYCLE_M = 2_000_000
_BANDS = "CDEFGHJKLMNPQRSTUVWX"  # 8-degree latitude bands from 80 S; X spans 72-84 N
_ROWS = "ABCDEFGHJKLMNPQRSTUV"
_COLUMNS = {1: "ABCDEFGH", 2: "JKLMNPQR", 0: "STUVWXYZ"}
_TILE_RE = re.compile(r"(\d{2})([A-Z])([A-Z])([A-Z])")
_MERIDIAN_STEP_DEG = 0.005
_log = logging.getLogger(__name__)
_warned: set[str] = set()


def mgrs_square(tile: str) -> tuple[int, int, int]:
    """'31UFT' -> (32631, 600000, 5700000): the UTM EPSG code (326zz north of the equator, bands N-X;
    327zz south, C-M) and the lower-left easting and northing of the 100 km square. ValueError when
    `tile` is not an MGRS tile id (also for letters that name no square in that zone and band)."""
    m = _TILE_RE.fullmatch(tile) if isinstance(tile, str) else None
    if m is None:
        raise ValueError(f"not an MGRS tile id (zone, band, two letters, e.g. '31UFT'): {tile!r}")
    zone, band, col, row = int(m[1]), m[2], m[3], m[4]
    if not 1 <= zone <= 60:
        raise ValueError(f"{tile!r}: UTM zone {zone} is not within 1..60")
    if band not in _BANDS:
        raise ValueError(f"{tile!r}: {band!r} is not a latitude band (C-X without I and O)")
    columns = _COLUMNS[zone % 3]
    if col not in columns:
        raise ValueError(f"{tile!r}: column letter {col!r} is not used in zone {zone} (letters {columns})")
    if row not in _ROWS:
        raise ValueError(f"{tile!r}: {row!r} is not a row letter (A-V without I and O)")
    epsg = (32700 if band < "N" else 32600) + zone
    xmin = (columns.index(col) + 1) * SQUARE_M
    base = ((_ROWS.index(row) - (5 if zone % 2 == 0 else 0)) % len(_ROWS)) * SQUARE_M
    low, high = _band_northings(zone, band)
    found = [y for y in range(base, 10_000_000 + _CYCLE_M, _CYCLE_M) if y < high and y + SQUARE_M > low]
    if len(found) != 1:
        raise ValueError(f"{tile!r}: no 100 km square with row letter {row!r} lies in band {band} of zone {zone}")
    return epsg, xmin, found[0]


@lru_cache(maxsize=64)
def _band_northings(zone: int, band: str) -> tuple[float, float]:
    """Northings spanned by the latitude band across the zone (1 km slack): parallels bow away from the
    equator towards the zone edges, so the extremes lie on the central meridian and on the edge."""
    i = _BANDS.index(band)
    south, north = -80.0 + 8.0 * i, -80.0 + 8.0 * i + (12.0 if band == "X" else 8.0)
    epsg = (32700 if band < "N" else 32600) + zone
    cm = -183.0 + 6.0 * zone
    lons = np.array([cm, cm + 3.0, cm, cm + 3.0])
    lats = np.array([south, south, north, north])
    _, ys = _to_utm(epsg).transform(lons, lats)
    return float(ys.min()) - 1000.0, float(ys.max()) + 1000.0


@lru_cache(maxsize=64)
def _to_utm(epsg: int) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(4326, epsg, always_xy=True)


@lru_cache(maxsize=64)
def _from_utm(epsg: int) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(epsg, 4326, always_xy=True)


Side = Literal["west", "east", "crosses"]  # where the square lies relative to a meridian


@lru_cache(maxsize=256)
def _meridian(epsg: int, lon: float, xmin: float, ymin: float) -> tuple[Side, NDArray[np.float64], NDArray[np.float64]]:
    """Where the meridian `lon` runs through the square: its eastings `xs` at northings `ys` (increasing),
    sampled every ~0.005 degree of latitude over the square's northings, and whether the square lies
    wholly west of it, wholly east of it, or is crossed by it."""
    xmax, ymax = xmin + SQUARE_M, ymin + SQUARE_M
    _, lats = _from_utm(epsg).transform(np.array([xmin, xmax, xmin, xmax]), np.array([ymin, ymin, ymax, ymax]))
    lo, hi = float(np.min(lats)) - 0.05, float(np.max(lats)) + 0.05
    n = max(2, math.ceil((hi - lo) / _MERIDIAN_STEP_DEG) + 1)
    xs, ys = _to_utm(epsg).transform(np.full(n, lon), np.linspace(lo, hi, n))
    xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    within = (ys >= ymin - 1.0) & (ys <= ymax + 1.0)
    seen = xs[within] if within.any() else xs
    side: Side = "west" if seen.min() >= xmax else "east" if seen.max() <= xmin else "crosses"
    return side, ys, xs


@dataclass(frozen=True)
class PixelDomain:
    """The core of one tile on one product grid: the 100 km square [xmin, xmin + 100 km) x [ymin,
    ymin + 100 km) in the zone's UTM coordinates, cut to the zone's strip [lon_w, lon_e). A pixel
    belongs to it when its CENTRE does (the rasterization rule: x = c + a*(col + 0.5), y = f + e*(row
    + 0.5)), so two products on the same 10 m lattice never both claim a pixel."""

    epsg: int
    xmin: float
    ymin: float
    lon_w: float
    lon_e: float
    transform: tuple[float, float, float, float, float, float]

    @property
    def key(self) -> str:
        """Identifies the core, not the grid: tile ids naming the same square and zone share it."""
        return f"EPSG:{self.epsg}/{int(self.xmin)}/{int(self.ymin)}"

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return (self.xmin, self.ymin, self.xmin + SQUARE_M, self.ymin + SQUARE_M)

    def contains_xy(self, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.bool_]:
        """Whether points (in this zone's UTM metres; arrays that broadcast) lie in the core."""
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        xmin, ymin, xmax, ymax = self.bounds
        inside: NDArray[np.bool_] = (x >= xmin) & (x < xmax) & (y >= ymin) & (y < ymax)
        west, ys_w, xs_w = _meridian(self.epsg, self.lon_w, self.xmin, self.ymin)
        east, ys_e, xs_e = _meridian(self.epsg, self.lon_e, self.xmin, self.ymin)
        if west == "west" or east == "east":  # the square lies wholly outside the strip
            return np.zeros(np.broadcast(x, y).shape, dtype=bool)
        if west == "crosses":
            inside = inside & (x >= np.interp(y, ys_w, xs_w))
        if east == "crosses":
            inside = inside & (x < np.interp(y, ys_e, xs_e))
        return inside

    def mask(self, row0: int, col0: int, height: int, width: int) -> NDArray[np.bool_]:
        """Pixels of the window [row0, row0 + height) x [col0, col0 + width) whose centre lies in the core;
        the boundary meridian's easting is interpolated once per row, not per pixel."""
        a, _, c, _, e, f = self.transform
        x = c + a * (np.arange(col0, col0 + width, dtype=np.float64) + 0.5)
        y = f + e * (np.arange(row0, row0 + height, dtype=np.float64) + 0.5)
        return self.contains_xy(x[None, :], y[:, None])


def domain_for(tile: str | None, grid: Grid) -> PixelDomain | None:
    """The core of `tile` on `grid`, or None when the whole product counts: the tile id is not an MGRS id
    (a product without one, named by its grid), or the grid is not in the tile's own UTM zone (a
    reprojected product). Then the merger cannot assume the product is disjoint from the others and
    falls back to one product per area and day for it. Logged once per tile and grid at warning level."""
    try:
        epsg, xmin, ymin = mgrs_square(tile or "")
    except ValueError as exc:
        _warn_once(f"{tile}|{grid.crs}", "tile %r: %s; the whole product counts (no MGRS core)", tile, exc)
        return None
    if _epsg_of(grid.crs) != epsg:
        _warn_once(f"{tile}|{grid.crs}", "tile %r: product grid %s is not the tile's UTM zone EPSG:%d; the whole "
                   "product counts (no MGRS core)", tile, grid.crs, epsg)
        return None
    lon_w = -180.0 + 6.0 * (epsg % 100 - 1)
    return PixelDomain(epsg, float(xmin), float(ymin), lon_w, lon_w + 6.0, grid.transform)


def tile_domain(tile: str | None, grid: Grid) -> PixelDomain | None:
    """`domain_for`, and None for no tile: the core a product of `tile` counts on `grid`."""
    return domain_for(tile, grid) if tile is not None else None


def core_key(tile: str | None, grid: Grid) -> str | None:
    """The key of `tile_domain` (what tile results name as `pixel_domain`), without building labels."""
    domain = tile_domain(tile, grid)
    return None if domain is None else domain.key


def _epsg_of(crs: str) -> int | None:
    m = re.fullmatch(r"EPSG:(\d+)", crs.strip(), flags=re.IGNORECASE)
    if m:
        return int(m[1])
    try:
        code = pyproj.CRS.from_user_input(crs).to_epsg()
    except pyproj.exceptions.CRSError:
        return None
    return int(code) if code is not None else None


def _warn_once(key: str, msg: str, *args: object) -> None:
    if key not in _warned:
        _warned.add(key)
        _log.warning(msg, *args)
