"""Loading an area set and caching its label raster per product grid (in Zarr)."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import shapely
import zarr
from numpy.typing import NDArray
from shapely.geometry import shape as to_shape
from shapely.geometry.base import BaseGeometry

from greenwatch.services.areas._rasterize import RASTER_RULE, rasterize

BUILTIN_AREAS = Path(__file__).parent / "data" / "nl_gemeenten_2023.geojson"
_GEOD = pyproj.Geod(ellps="WGS84")


@dataclass(frozen=True)
class Grid:
    """A raster grid: CRS, GDAL-ordered affine transform and shape (rows, cols)."""

    crs: str
    transform: tuple[float, float, float, float, float, float]
    shape: tuple[int, int]

    @property
    def key(self) -> str:
        text = json.dumps([self.crs, list(self.transform), list(self.shape)])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def pixel_area_m2(self) -> float:
        return abs(self.transform[0] * self.transform[4])


@dataclass
class AreaSet:
    name: str
    ids: list[str]
    names: list[str]
    geoms: list[BaseGeometry]  # lon/lat WGS84
    version: str
    _cache: dict[str, NDArray[np.int32]] = field(default_factory=dict, repr=False)
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
        """From GeoJSON (lon/lat) or, with the optional `pyogrio`, a GeoPackage. The version is a hash of
        the file's bytes, the id property and the rasterization rule, so any change invalidates caches."""
        path = Path(path)
        raw = path.read_bytes()
        features: list[dict[str, Any]] = (
            _read_gpkg(path, layer) if path.suffix.lower() == ".gpkg" else json.loads(raw)["features"]
        )
        ids, names, geoms = [], [], []
        for feat in features:
            props: dict[str, Any] = dict(feat.get("properties") or {})
            if id_property not in props:
                raise ValueError(f"{path}: a feature has no property {id_property!r}")
            ids.append(str(props[id_property]))
            names.append(str(props.get(name_property, props[id_property])))
            geoms.append(to_shape(feat["geometry"]))
        if len(set(ids)) != len(ids):
            raise ValueError(f"{path}: ids in {id_property!r} are not unique")
        digest = hashlib.sha256(raw + id_property.encode() + RASTER_RULE.encode()).hexdigest()[:12]
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
        return [shapely.transform(g, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))) for g in self.geoms]

    def labels(self, grid: Grid, cache_dir: Path | None = None) -> NDArray[np.int32]:
        """The int32 label raster of this area set on `grid`, computed once and cached in memory and,
        with `cache_dir`, in a Zarr store keyed by area-set version and grid."""
        key = grid.key
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            store_path = cache_dir / self.version.replace("@", "_") / f"{key}.zarr" if cache_dir else None
            if store_path is not None and (store_path / "zarr.json").exists():
                arr = np.asarray(zarr.open_array(store_path, mode="r")[...], dtype=np.int32)
            else:
                arr = self._rasterize(grid)
                if store_path is not None:
                    store_path.parent.mkdir(parents=True, exist_ok=True)
                    z = zarr.create_array(
                        store_path, shape=arr.shape, dtype="int32", chunks=(1830, 1830), fill_value=-1,
                        overwrite=True, attributes={"crs": grid.crs, "transform": list(grid.transform),
                                                    "area_set_version": self.version, "rule": RASTER_RULE},
                    )
                    z[...] = arr
            self._cache[key] = arr
            return arr

    def _rasterize(self, grid: Grid) -> NDArray[np.int32]:
        geoms = self.projected(grid.crs)
        a, _, c, _, e, f = grid.transform
        h, w = grid.shape
        box = shapely.box(min(c, c + a * w), min(f, f + e * h), max(c, c + a * w), max(f, f + e * h))
        keep = [g if g.intersects(box) else None for g in geoms]
        return rasterize(keep, grid.transform, grid.shape)


def _read_gpkg(path: Path, layer: str | None) -> list[dict[str, Any]]:
    try:
        import pyogrio  # noqa: PLC0415 - optional dependency
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ValueError("reading GeoPackage needs the optional dependency pyogrio") from exc
    frame = pyogrio.read_dataframe(path, layer=layer).to_crs("EPSG:4326")
    return json.loads(frame.to_json())["features"]  # type: ignore[no-any-return]
