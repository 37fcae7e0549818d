"""CLMS deliveries -> `scene-discovered` data: STAC items of the `clms-tcd` / `clms-clcplus` product
kinds (called by the watcher's item mapping) and local GeoTIFF files named in a file listing.

A CLMS layer is a yearly status, not an acquisition: an item's reference year is the year of its
`start_datetime` (else `datetime`), and the scene's `datetime` is the start of that year. The data
asset is the one GeoTIFF of the item: role `data` with a TIFF media type, else the only asset whose
href ends in .tif/.tiff.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from greenwatch.services.clms._common import LAEA, LAYER_OF_KIND
from greenwatch.services.watcher._items import InvalidItem

TIFF_RE = re.compile(r"\.tiff?$", re.IGNORECASE)
EEA_TILE_RE = re.compile(r"_(E\d{2,4}N\d{2,4})_")


class InvalidClmsItem(InvalidItem):
    """A STAC item or listed file that cannot become a CLMS scene (the reason says why); an
    `InvalidItem`, so the watcher dead-letters it like any other unusable item."""


def _data_href(item_id: str, assets: dict[str, Any]) -> str:
    tiffs = [
        (key, a) for key, a in assets.items()
        if isinstance(a, dict) and a.get("href")
        and ("tiff" in str(a.get("type", "")).lower() or TIFF_RE.search(str(a["href"]).split("?")[0]))
    ]
    data = [a for _, a in tiffs if "data" in (a.get("roles") or [])]
    if len(data) == 1:
        return str(data[0]["href"])
    if len(tiffs) == 1:
        return str(tiffs[0][1]["href"])
    found = sorted(k for k, _ in tiffs)
    raise InvalidClmsItem(f"{item_id}: needs exactly one GeoTIFF data asset, found {found or 'none'}")


def _crs(item_id: str, props: dict[str, Any]) -> str:
    code = props.get("proj:code")
    if code is None and isinstance(props.get("proj:epsg"), int):
        code = f"EPSG:{props['proj:epsg']}"
    if code is None:
        return LAEA  # CLMS layers come on one grid; the ingest step checks the raster itself
    if code != LAEA:
        raise InvalidClmsItem(f"{item_id}: CRS {code} is not {LAEA} (ETRS89-LAEA), the CLMS 10 m grid")
    return str(code)


def _parse_dt(item_id: str, raw: object) -> datetime:
    try:
        dt = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise InvalidClmsItem(f"{item_id}: bad datetime {raw!r}") from None
    if dt.tzinfo is None:
        raise InvalidClmsItem(f"{item_id}: datetime {raw!r} has no time zone")
    return dt


def reference_year_start(year: int) -> str:
    return f"{year:04d}-01-01T00:00:00Z"


def clms_item_to_scene(item: dict[str, Any], *, stac_api: str, product_kind: str,
                       collection: str = "") -> dict[str, Any]:
    """Map one CLMS STAC item to `scene-discovered/v1` data, or raise InvalidClmsItem with the reason."""
    if product_kind not in LAYER_OF_KIND:
        raise InvalidClmsItem(f"product kind {product_kind!r} is not a CLMS layer ({sorted(LAYER_OF_KIND)})")
    item_id = item.get("id")
    if not item_id:
        raise InvalidClmsItem("item has no id")
    if not item.get("bbox"):
        raise InvalidClmsItem(f"{item_id}: no bbox")
    props = item.get("properties") or {}
    raw = props.get("start_datetime") or props.get("datetime")
    if not raw:
        raise InvalidClmsItem(f"{item_id}: neither start_datetime nor datetime")
    year = _parse_dt(item_id, raw).year
    bbox = [float(v) for v in item["bbox"]]
    if len(bbox) == 6:
        bbox = [bbox[0], bbox[1], bbox[3], bbox[4]]
    return {
        "scene_id": item_id,
        "item_id": item_id,
        "collection": item.get("collection") or collection or product_kind,
        "stac_api": stac_api,
        "product_kind": product_kind,
        "datetime": reference_year_start(year),
        "updated": props.get("updated"),
        "product_href": _data_href(item_id, item.get("assets") or {}),
        "zarr_format": None,
        "processing_baseline": None,
        "mgrs_tile": None,
        "crs": _crs(item_id, props),
        "bbox": bbox,
        "cloud_cover": None,
        "datatake_id": None,
    }


def file_to_scene(path: Path, *, product_kind: str, year: int, scene_id: str | None = None) -> dict[str, Any]:
    """`scene-discovered/v1` data for a local GeoTIFF from a file listing (no STAC catalogue). The
    scene id is the file name without suffix (CLMS file names are unique per layer, year and tile);
    the lon/lat bbox is read from the raster (rasterio)."""
    if product_kind not in LAYER_OF_KIND:
        raise InvalidClmsItem(f"product kind {product_kind!r} is not a CLMS layer ({sorted(LAYER_OF_KIND)})")
    if not 1900 <= year <= 2100:
        raise InvalidClmsItem(f"{path}: reference year {year} out of range")
    path = Path(path).resolve()
    if not path.is_file():
        raise InvalidClmsItem(f"{path}: no such file")
    from greenwatch.services.clms._geotiff import lonlat_bounds  # noqa: PLC0415 - rasterio on demand

    return {
        "scene_id": scene_id or path.stem,
        "item_id": scene_id or path.stem,
        "collection": product_kind,
        "stac_api": "file-listing",
        "product_kind": product_kind,
        "datetime": reference_year_start(year),
        "updated": datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat().replace("+00:00", "Z"),
        "product_href": path.as_uri(),
        "zarr_format": None,
        "processing_baseline": None,
        "mgrs_tile": None,
        "crs": LAEA,
        "bbox": list(lonlat_bounds(path.as_uri())),
        "cloud_cover": None,
        "datatake_id": None,
    }


def tile_of(scene: dict[str, Any], fallback: str) -> str:
    """The tile a scene covers: an EEA tile code in the id (E40N32), else `fallback` (the raster's
    origin, set by the ingest step)."""
    m = EEA_TILE_RE.search(str(scene.get("scene_id", "")))
    return m.group(1) if m else fallback
