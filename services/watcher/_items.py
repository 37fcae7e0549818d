"""STAC item -> scene-discovered message data, for the EOPF, CDSE and other Sentinel-2 L2A items."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from greenwatch.services.errors import PermanentError

MGRS_RE = re.compile(r"(?:MGRS-)?(\d{2}[C-X][A-Z]{2})$")
ID_TILE_RE = re.compile(r"_T(\d{2}[C-X][A-Z]{2})(?:_|$)")
ID_BASELINE_RE = re.compile(r"_N(\d{2})(\d{2})_")


class InvalidItem(PermanentError):
    """A STAC item that cannot become a scene (no geometry, no usable asset, bad datetime...)."""


def _crs_of(doc: dict[str, Any]) -> str | None:
    code = doc.get("proj:code")
    if isinstance(code, str) and re.fullmatch(r"EPSG:\d+", code):
        return code
    epsg = doc.get("proj:epsg")
    if isinstance(epsg, int) and not isinstance(epsg, bool):
        return f"EPSG:{epsg}"
    return None


def _crs(props: dict[str, Any], assets: dict[str, Any]) -> str:
    """The item's `proj:code` (STAC projection v2) or `proj:epsg` (v1); else the one CRS that all
    data assets agree on (CDSE's STAC v1.1 items put `proj:code` on the assets only)."""
    found = _crs_of(props)
    if found:
        return found
    per_asset = {_crs_of(a) for a in assets.values() if isinstance(a, dict) and "data" in (a.get("roles") or [])}
    per_asset.discard(None)
    if len(per_asset) == 1:
        return str(per_asset.pop())
    raise InvalidItem("no CRS: neither proj:code nor proj:epsg" + (" (assets disagree)" if per_asset else ""))


def _mgrs(item: dict[str, Any], props: dict[str, Any]) -> str | None:
    code = props.get("grid:code")
    if isinstance(code, str) and (m := MGRS_RE.search(code)):
        return m.group(1)
    zone, band, square = props.get("mgrs:utm_zone"), props.get("mgrs:latitude_band"), props.get("mgrs:grid_square")
    if zone is not None and band and square:
        return f"{int(zone):02d}{band}{square}"
    if props.get("s2:mgrs_tile"):
        return str(props["s2:mgrs_tile"])
    m = ID_TILE_RE.search(item.get("id", ""))
    return m.group(1) if m else None


def _baseline(item: dict[str, Any], props: dict[str, Any]) -> str | None:
    for key in ("processing:version", "s2:processing_baseline"):
        v = props.get(key)
        if isinstance(v, str) and re.fullmatch(r"\d{2}\.\d{2}", v):
            return v
    m = ID_BASELINE_RE.search(item.get("id", ""))
    return f"{m.group(1)}.{m.group(2)}" if m else None


def _product_href(assets: dict[str, Any]) -> tuple[str, int | None]:
    product = assets.get("product")
    if isinstance(product, dict) and product.get("href"):
        media = str(product.get("type", ""))
        fmt = 3 if "version=3" in media else 2 if "zarr" in media else None
        return str(product["href"]).rstrip("/"), fmt
    for key in ("SR_10m", "B04_10m", "reflectance"):
        a = assets.get(key)
        if isinstance(a, dict) and ".zarr" in str(a.get("href", "")):
            href = str(a["href"])
            return href[: href.index(".zarr") + 5], None
    if any(".SAFE/" in str(a.get("href", "")) for a in assets.values() if isinstance(a, dict)):
        raise InvalidItem("no usable asset: only SAFE/JP2 files (greenwatch reads EOPF Zarr products)")
    raise InvalidItem("no usable asset: neither a `product` Zarr asset nor a Zarr band group")


def item_to_scene(item: dict[str, Any], *, stac_api: str, product_kind: str = "s2-l2a-eopf-zarr",
                  collection: str = "") -> dict[str, Any]:
    """Map one item to `scene-discovered/v1` data, or raise InvalidItem with the reason. `collection`
    stands in for an item that does not name its own (some APIs leave it out of search results)."""
    if product_kind.startswith("clms-"):  # official CLMS layers (GeoTIFF items): services/clms maps them
        from greenwatch.services.clms._items import clms_item_to_scene  # noqa: PLC0415

        return clms_item_to_scene(item, stac_api=stac_api, product_kind=product_kind, collection=collection)
    if not item.get("id") or not isinstance(item["id"], str):
        raise InvalidItem("item has no id")
    if not item.get("geometry") or not item.get("bbox"):
        raise InvalidItem(f"{item['id']}: no geometry or bbox")
    props = item.get("properties") or {}
    raw_dt = props.get("datetime") or props.get("start_datetime")
    try:
        dt = datetime.fromisoformat(str(raw_dt).replace("Z", "+00:00"))
    except ValueError:
        raise InvalidItem(f"{item['id']}: bad datetime {raw_dt!r}") from None
    if dt.tzinfo is None:
        raise InvalidItem(f"{item['id']}: datetime {raw_dt!r} has no time zone")
    assets = item.get("assets") or {}
    href, zarr_format = _product_href(assets)
    try:
        bbox = [float(v) for v in item["bbox"]]
    except (TypeError, ValueError):
        raise InvalidItem(f"{item['id']}: bad bbox {item['bbox']!r}") from None
    if len(bbox) == 6:
        bbox = [bbox[0], bbox[1], bbox[3], bbox[4]]
    if len(bbox) != 4:
        raise InvalidItem(f"{item['id']}: bbox {item['bbox']!r} has neither 4 nor 6 numbers")
    cloud = props.get("eo:cloud_cover")
    if cloud is not None and (isinstance(cloud, bool) or not isinstance(cloud, int | float) or not 0 <= cloud <= 100):
        raise InvalidItem(f"{item['id']}: eo:cloud_cover {cloud!r} is not a percentage")
    return {
        "scene_id": item["id"],
        "item_id": item["id"],
        "collection": item.get("collection") or collection or "unknown",
        "stac_api": stac_api,
        "product_kind": product_kind,
        "datetime": dt.isoformat().replace("+00:00", "Z"),
        "updated": props.get("updated"),
        "product_href": href,
        "zarr_format": zarr_format,
        "processing_baseline": _baseline(item, props),
        "mgrs_tile": _mgrs(item, props),
        "crs": _crs(props, assets),
        "bbox": bbox,
        "cloud_cover": float(cloud) if cloud is not None else None,
        "datatake_id": props.get("eopf:datatake_id") or props.get("s2:datatake_id"),
    }
