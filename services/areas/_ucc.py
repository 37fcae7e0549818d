"""Urban centres and urban clusters (Degree of Urbanisation) and the areas' parts inside them.

Why: Art. 8(1), second subparagraph, of Regulation (EU) 2024/1991 lets a Member State exclude an urban
ecosystem area where the share of urban green space "in the urban centres and urban clusters" exceeds
45 % and the share of tree canopy exceeds 10 %. Those shares are over the area's urban centres and
clusters (UCC), not the whole municipality, so the official series counts each area twice: over the
whole area and over its UCC part (`ucc_parts`).

The UCC layer is an input (no such file ships with greenwatch): the Eurostat/GISCO Degree of
Urbanisation polygon layers (urban centres, urban clusters), or polygons derived from the GHSL-SMOD
1 km grid, whose class attribute tells urban centres (30) and urban clusters (23 dense, 22 semi-dense,
21 suburban) from rural cells: `class_property` + `classes` keep only those.

Formats: GeoJSON in lon/lat (RFC 7946; a legacy `crs` member naming anything else is refused) or a
GeoPackage in any CRS (reprojected to lon/lat by `read_gpkg`), exactly as `AreaSet.load` reads areas.

The derived set (`ucc_parts`) has the areas' ids, names and order, and geometry = area ∩ union(UCC).
An area with no UCC at all keeps an EMPTY geometry rather than being left out: label indices then
mean the same area in both sets, and an empty part is a fact the official series reports (UCC area
0: the shares are undefined, so the area cannot be excluded on them) instead of a missing figure.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import shape as to_shape
from shapely.geometry.base import BaseGeometry

from greenwatch.services.areas._areaset import AreaSet
from greenwatch.services.areas._gpkg import read_gpkg

#: GHSL-SMOD classes of urban centres (30) and urban clusters (23, 22, 21)
UCC_CLASSES: tuple[int, ...] = (30, 23, 22, 21)
_LONLAT_CRS = ("CRS84", "4326")  # what a GeoJSON `crs` member may name (suffix of the URN)


class UccLayerError(ValueError):
    """The urban centres and clusters layer cannot be used (the message says what is wrong)."""


@dataclass(frozen=True)
class UccLayer:
    """The UCC polygons (lon/lat), their union, and a version: a hash of the file's bytes, the layer
    and the class filter, so another file or filter gives other tasks and caches."""

    path: Path
    polygons: list[BaseGeometry]
    union: BaseGeometry
    version: str


def load_ucc(path: Path | str, *, layer: str | None = None, class_property: str | None = None,
             classes: Sequence[int | str] = UCC_CLASSES) -> UccLayer:
    """Read a UCC polygon layer; raise `UccLayerError` on anything unusable (at start-up, not later)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UccLayerError(f"urban centres and clusters layer {path}: cannot read ({exc})") from exc
    if not raw.strip():
        raise UccLayerError(f"urban centres and clusters layer {path}: the file is empty")
    features = _read(path, raw, layer)
    if class_property:
        features = _filter(path, features, class_property, classes)
    if not features:
        raise UccLayerError(f"urban centres and clusters layer {path}: no features")
    polygons = []
    for i, (_props, geom) in enumerate(features):
        if geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
            kind = "empty geometry" if geom.is_empty else geom.geom_type
            raise UccLayerError(f"urban centres and clusters layer {path}: feature {i} is a {kind}, not a polygon")
        polygons.append(geom)
    _check_lonlat(path, polygons)
    union = shapely.union_all([shapely.make_valid(g) for g in polygons])
    salt = json.dumps([layer or "", class_property or "", sorted(str(c) for c in classes) if class_property else []])
    digest = hashlib.sha256(raw + salt.encode()).hexdigest()[:12]
    return UccLayer(path, polygons, union, f"ucc@{digest}")


def ucc_parts(areas: AreaSet, ucc: UccLayer) -> AreaSet:
    """Each area intersected with the union of the UCC polygons: same ids, names and order; an area
    outside every UCC keeps an empty geometry. Its version hashes both versions."""
    parts = [_polygonal(_intersection(g, ucc.union)) for g in areas.geoms]
    digest = hashlib.sha256(f"{areas.version}\0{ucc.version}".encode()).hexdigest()[:12]
    name = f"{areas.name}+ucc"
    return AreaSet(name=name, ids=list(areas.ids), names=list(areas.names), geoms=parts, version=f"{name}@{digest}")


def load_ucc_parts(areas: AreaSet, path: Path | str, *, layer: str | None = None, class_property: str | None = None,
                   classes: Sequence[int | str] = UCC_CLASSES) -> AreaSet:
    """`ucc_parts` of the layer at `path` (what the wiring calls when `areas.urban_centres_path` is set)."""
    return ucc_parts(areas, load_ucc(path, layer=layer, class_property=class_property, classes=classes))


def _read(path: Path, raw: bytes, layer: str | None) -> list[tuple[dict[str, Any], BaseGeometry]]:
    where = f"urban centres and clusters layer {path}"
    if path.suffix.lower() == ".gpkg":
        try:
            return read_gpkg(path, layer)
        except ValueError as exc:  # GeoPackageError: not a GeoPackage, bad CRS, no such layer
            raise UccLayerError(f"{where}: {exc}") from exc
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise UccLayerError(f"{where}: not JSON ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"), list):
        raise UccLayerError(f"{where}: not a GeoJSON FeatureCollection")
    member = doc.get("crs")
    crs = (member.get("properties") or {}).get("name") if isinstance(member, dict) else None
    if crs is not None and not str(crs).upper().endswith(_LONLAT_CRS):
        raise UccLayerError(f"{where}: GeoJSON must be lon/lat WGS84 (RFC 7946), the file says crs {crs!r}; "
                            "use a GeoPackage for other CRSs")
    out = []
    for i, f in enumerate(doc["features"]):
        try:
            out.append((dict(f.get("properties") or {}), to_shape(f["geometry"])))
        except (KeyError, TypeError, AttributeError, ValueError, shapely.errors.GEOSException) as exc:
            raise UccLayerError(f"{where}: feature {i} has no readable geometry ({exc!r})") from exc
    return out


def _filter(path: Path, features: list[tuple[dict[str, Any], BaseGeometry]], prop: str,
            classes: Sequence[int | str]) -> list[tuple[dict[str, Any], BaseGeometry]]:
    where = f"urban centres and clusters layer {path}"
    if not classes:
        raise UccLayerError(f"{where}: a class filter on {prop!r} needs at least one class")
    if features and not any(prop in p for p, _ in features):
        names = sorted({k for p, _ in features for k in p})
        raise UccLayerError(f"{where}: no feature has the class property {prop!r} (properties: {names})")
    wanted = {str(c) for c in classes}
    kept = [(p, g) for p, g in features if _class_text(p.get(prop)) in wanted]
    if not kept:
        found = sorted({_class_text(p.get(prop)) for p, _ in features})
        raise UccLayerError(f"{where}: no feature of class {sorted(wanted)} in {prop!r} (values found: {found})")
    return kept


def _class_text(value: Any) -> str:
    """'30', 30 and 30.0 are the same class."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _check_lonlat(path: Path, polygons: list[BaseGeometry]) -> None:
    minx, miny, maxx, maxy = shapely.total_bounds(polygons)
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)) or minx < -180 or maxx > 180 or miny < -90 \
            or maxy > 90:
        raise UccLayerError(f"urban centres and clusters layer {path}: coordinates {minx:.6g}..{maxx:.6g}, "
                            f"{miny:.6g}..{maxy:.6g} are not lon/lat degrees (a projected GeoJSON?)")


def _intersection(geom: BaseGeometry, union: BaseGeometry) -> BaseGeometry:
    """area ∩ UCC; simplified area sets hold invalid polygons that GEOS refuses: repaired and retried."""
    try:
        return shapely.intersection(geom, union)
    except shapely.errors.GEOSException:
        return shapely.intersection(shapely.make_valid(geom), union)


def _polygonal(geom: BaseGeometry) -> BaseGeometry:
    """Only the polygons of an intersection (shared edges and corners come back as lines and points)."""
    if geom.is_empty or geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    polys: list[Any] = []
    for part in getattr(geom, "geoms", []):
        if part.geom_type == "Polygon":
            polys.append(part)
        elif part.geom_type == "MultiPolygon":
            polys.extend(part.geoms)
    return shapely.MultiPolygon(polys) if polys else shapely.Polygon()
