"""The 10 m UTM window a synthetic product covers (origin snapped to 20 m so SCL pixels align)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyproj

RES_10M = 10.0
_SNAP = 20.0  # the origin is a multiple of 20 m: every 20 m SCL pixel covers exactly 2 x 2 pixels


def utm_epsg(lon: float, lat: float) -> int:
    """EPSG code of the WGS 84 / UTM zone containing lon/lat (326zz north, 327zz south).

    The Norway/Svalbard zone exceptions are ignored (irrelevant for the Netherlands)."""
    zone = min(max(math.floor((lon + 180.0) / 6.0) + 1, 1), 60)
    return (32600 if lat >= 0 else 32700) + zone


@dataclass(frozen=True)
class Grid:
    """A north-up grid of `height` x `width` 10 m pixels whose upper-left corner is (x0, y1)."""

    epsg: int
    x0: float
    y1: float
    width: int
    height: int
    res: float = RES_10M

    @classmethod
    def centred(cls, lon: float, lat: float, size: int) -> Grid:
        """A `size` x `size` window centred (to 20 m) on lon/lat in its UTM zone."""
        if size <= 0 or size % 2:
            raise ValueError(f"size must be a positive even number of 10 m pixels, got {size}")
        epsg = utm_epsg(lon, lat)
        cx, cy = _to_utm(epsg).transform(lon, lat)
        half = size * RES_10M / 2.0
        x0 = round((cx - half) / _SNAP) * _SNAP
        y1 = round((cy + half) / _SNAP) * _SNAP
        return cls(epsg=epsg, x0=float(x0), y1=float(y1), width=size, height=size)

    @property
    def crs(self) -> str:
        return f"EPSG:{self.epsg}"

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    @property
    def transform(self) -> tuple[float, float, float, float, float, float]:
        """Affine (a, b, c, d, e, f) in rasterio order: x = a*col + b*row + c, y = d*col + e*row + f."""
        return (self.res, 0.0, self.x0, 0.0, -self.res, self.y1)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) in metres."""
        return (self.x0, self.y1 - self.height * self.res, self.x0 + self.width * self.res, self.y1)

    def x_centres(self, res: float | None = None) -> np.ndarray:
        r = self.res if res is None else res
        n = round(self.width * self.res / r)
        return self.x0 + (np.arange(n) + 0.5) * r

    def y_centres(self, res: float | None = None) -> np.ndarray:
        r = self.res if res is None else res
        n = round(self.height * self.res / r)
        return self.y1 - (np.arange(n) + 0.5) * r

    @cached_property
    def _inverse(self) -> pyproj.Transformer:
        return pyproj.Transformer.from_crs(self.epsg, 4326, always_xy=True)

    def footprint_lonlat(self, points_per_side: int = 4) -> list[tuple[float, float]]:
        """Closed lon/lat ring (counter-clockwise) of the window outline, densified."""
        xmin, ymin, xmax, ymax = self.bounds
        t = np.linspace(0.0, 1.0, points_per_side, endpoint=False)
        xs = np.concatenate(
            [xmin + (xmax - xmin) * t, np.full_like(t, xmax), xmax - (xmax - xmin) * t, np.full_like(t, xmin)]
        )
        ys = np.concatenate(
            [np.full_like(t, ymin), ymin + (ymax - ymin) * t, np.full_like(t, ymax), ymax - (ymax - ymin) * t]
        )
        lon, lat = self._inverse.transform(xs, ys)
        ring = [(float(a), float(b)) for a, b in zip(lon, lat, strict=True)]
        return [*ring, ring[0]]

    def bbox_lonlat(self) -> tuple[float, float, float, float]:
        ring = self.footprint_lonlat(16)
        lons = [p[0] for p in ring]
        lats = [p[1] for p in ring]
        return (min(lons), min(lats), max(lons), max(lats))

    def centre_lonlat(self) -> tuple[float, float]:
        xmin, ymin, xmax, ymax = self.bounds
        lon, lat = self._inverse.transform((xmin + xmax) / 2.0, (ymin + ymax) / 2.0)
        return (float(lon), float(lat))


def _to_utm(epsg: int) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(4326, epsg, always_xy=True)


def wkt1(epsg: int) -> str:
    """The CRS as WKT1 (GDAL flavour), which is what EOPF products store under `proj:wkt2`."""
    return str(pyproj.CRS.from_epsg(epsg).to_wkt("WKT1_GDAL"))


def mgrs_parts(tile: str) -> tuple[int, str, str]:
    """'31UFT' -> (31, 'U', 'FT'); raises ValueError when malformed."""
    if len(tile) != 5 or not tile[:2].isdigit() or tile[2] not in "CDEFGHJKLMNPQRSTUVWX" or not tile[3:].isalpha():
        raise ValueError(f"not an MGRS tile id: {tile!r}")
    return int(tile[:2]), tile[2], tile[3:].upper()
