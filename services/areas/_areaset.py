"""Loading an area set (GeoJSON or GeoPackage) and its label rasters per product grid.

An area set has a version: a hash of the file's bytes, the layer, the id property and the
rasterization rule. The version is part of every tile task and of the label cache's path, so editing
the polygons (or the rule) invalidates cached rasters and makes old tasks refuse to run.

A label raster may be restricted to a tile's core (`PixelDomain`): pixels outside it get "no area"
(-1), so a product counts only the pixels no other product of that day counts (see `_mgrs.py`).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import shapely
from numpy.typing import NDArray
from shapely.geometry import shape as to_shape
from shapely.geometry.base import BaseGeometry

from greenwatch.services.areas._gpkg import read_gpkg
from greenwatch.services.areas._labels import Grid, LabelRaster, cache_path, index_chunks, open_cached, write_cache
from greenwatch.services.areas._mgrs import PixelDomain, tile_domain
from greenwatch.services.areas._rasterize import NO_AREA, RASTER_RULE, rasterize

BUILTIN_AREAS = Path(__file__).parent / "data" / "nl_gemeenten_2023.geojson"
_GEOD = pyproj.Geod(ellps="WGS84")
_KEEP_RASTERS = 2  # label rasters held per area set (a full tile's in-memory raster is 482 MB)
_MASK_ROWS = 1024  # rows of the core mask applied at once (bounds its memory to 1024 x width bytes)


@dataclass
class AreaSet:
    name: str
    ids: list[str]
    names: list[str]
    geoms: list[BaseGeometry]  # lon/lat WGS84
    version: str
    _rasters: OrderedDict[tuple[str, tuple[int, int], str, str | None], LabelRaster] = field(
        default_factory=OrderedDict, repr=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def load(
        cls,
        path: Path | str = BUILTIN_AREAS,
        *,
        id_property: str = "gemeentecode",
        name_property: str = "gemeentenaam",
        name: str = "nl-gemeenten-2023",
        layer: str | None = None,
    ) -> AreaSet:
        """From GeoJSON (lon/lat) or a GeoPackage (any CRS; one feature layer, or `layer`)."""
        path = Path(path)
        raw = path.read_bytes()
        features: list[tuple[dict[str, Any], BaseGeometry]]
        if path.suffix.lower() == ".gpkg":
            features = read_gpkg(path, layer)
        else:
            try:
                doc = json.loads(raw)
                features = [(dict(f.get("properties") or {}), to_shape(f["geometry"])) for f in doc["features"]]
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise ValueError(f"{path}: not a GeoJSON FeatureCollection of polygons ({exc})") from exc
        ids, names, geoms = [], [], []
        for props, geom in features:
            if id_property not in props or props[id_property] is None:
                raise ValueError(f"{path}: a feature has no property {id_property!r} (has: {sorted(props)})")
            if geom.geom_type not in ("Polygon", "MultiPolygon"):
                raise ValueError(f"{path}: area {props[id_property]} is a {geom.geom_type}, not a polygon")
            ids.append(str(props[id_property]))
            names.append(str(props.get(name_property, props[id_property])))
            geoms.append(geom)
        if len(set(ids)) != len(ids):
            raise ValueError(f"{path}: ids in {id_property!r} are not unique")
        salt = f"{id_property}\0{layer or ''}\0{RASTER_RULE}".encode()
        digest = hashlib.sha256(raw + salt).hexdigest()[:12]
        return cls(name=name, ids=ids, names=names, geoms=geoms, version=f"{name}@{digest}")

    def index(self, area_id: str) -> int:
        return self.ids.index(area_id)

    def name_of(self, area_id: str) -> str:
        return self.names[self.index(area_id)]

    def geodesic_area_m2(self, i: int) -> float:
        """The polygon's area on the WGS84 ellipsoid (the reference for rasterization error)."""
        return abs(_GEOD.geometry_area_perimeter(self.geoms[i])[0])

    def projected(self, crs: str) -> list[BaseGeometry]:
        tr = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        return [shapely.transform(g, tr.transform, interleaved=False) for g in self.geoms]

    def label_raster(self, grid: Grid, chunks: tuple[int, int], cache_dir: Path | None = None,
                     domain: PixelDomain | None = None) -> LabelRaster:
        """The label raster of this set on `grid`, chunked like the product. With `cache_dir` it lives in
        a Zarr store keyed by area-set version, grid, chunking and core (rasterized once per machine and
        read a chunk at a time); without, in memory. The last few are kept open. With `domain` (a tile's
        core on this grid, `domain_for`), pixels outside it are "no area" and `chunk_areas` lists only
        the areas inside it."""
        if domain is not None and domain.transform != grid.transform:
            raise ValueError(f"pixel domain {domain.key} was made for grid {domain.transform}, not {grid.transform}")
        key = (grid.key, chunks, str(cache_dir), None if domain is None else domain.key)
        with self._lock:
            if key in self._rasters:
                self._rasters.move_to_end(key)
                return self._rasters[key]
            raster = self._build(grid, chunks, cache_dir, domain)
            self._rasters[key] = raster
            while len(self._rasters) > _KEEP_RASTERS:
                self._rasters.popitem(last=False)
            return raster

    def tile_raster(self, tile: str | None, grid: Grid, chunks: tuple[int, int],
                    cache_dir: Path | None = None) -> LabelRaster:
        """The labels of the pixels that `tile`'s product counts on `grid`: its MGRS core (`domain_for`).
        `tile` None, not an MGRS id, or a grid outside the tile's UTM zone: the whole grid (the raster's
        `pixel_domain` is then None, and the merger treats the product as overlapping any other). Planner,
        tile worker and season compositor all count through this, so they count the same pixels."""
        return self.label_raster(grid, chunks, cache_dir, tile_domain(tile, grid))

    def labels(
        self, grid: Grid, cache_dir: Path | None = None, chunks: tuple[int, int] = (1830, 1830),
        domain: PixelDomain | None = None,
    ) -> NDArray[np.int32]:
        """The whole int32 label raster on `grid` (for tools and tests; the worker reads windows)."""
        return self.label_raster(grid, chunks, cache_dir, domain).full()

    def _build(self, grid: Grid, chunks: tuple[int, int], cache_dir: Path | None,
               domain: PixelDomain | None) -> LabelRaster:
        path = cache_path(cache_dir, self.version, grid, chunks, domain) if cache_dir is not None else None
        if path is not None:
            cached = open_cached(path, self.version, grid, chunks, domain)
            if cached is not None:
                return cached
        labels = self._rasterize(grid, domain)
        index = index_chunks(labels, chunks)
        key = None if domain is None else domain.key
        if path is None:
            return LabelRaster(grid, chunks, labels, index, pixel_domain=key)
        write_cache(path, labels, self.version, grid, chunks, index, domain)
        cached = open_cached(path, self.version, grid, chunks, domain)
        return cached if cached is not None else LabelRaster(grid, chunks, labels, index, pixel_domain=key)

    def _rasterize(self, grid: Grid, domain: PixelDomain | None = None) -> NDArray[np.int32]:
        geoms = self.projected(grid.crs)
        a, _, c, _, e, f = grid.transform
        h, w = grid.shape
        x0, x1, y0, y1 = min(c, c + a * w), max(c, c + a * w), min(f, f + e * h), max(f, f + e * h)
        if domain is not None:  # polygons outside the core need no rasterizing
            dx0, dy0, dx1, dy1 = domain.bounds
            x0, x1, y0, y1 = max(x0, dx0), min(x1, dx1), max(y0, dy0), min(y1, dy1)
        # bounding boxes only: simplified area sets contain invalid polygons that predicates reject
        keep = [g if g.bounds[0] < x1 and g.bounds[2] > x0 and g.bounds[1] < y1 and g.bounds[3] > y0 else None
                for g in geoms]
        labels = rasterize(keep, grid.transform, grid.shape)
        if domain is not None:  # per stripe of rows: a whole tile's mask would be another 120 MB
            for r0 in range(0, h, _MASK_ROWS):
                stripe = labels[r0 : r0 + _MASK_ROWS]
                stripe[~domain.mask(r0, 0, stripe.shape[0], w)] = NO_AREA
        return labels
