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


def _crs(props: dict[str, Any]) -> str:
    code = props.get("proj:code")
    if isinstance(code, str) and re.fullmatch(r"EPSG:\d+", code):
        return code
    epsg = props.get("proj:epsg")
    if isinstance(epsg, int):
        return f"EPSG:{epsg}"
    raise InvalidItem("no CRS: neither proj:code nor proj:epsg")


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
    raise InvalidItem("no usable asset: neither a `product` Zarr asset nor a Zarr band group")


def item_to_scene(item: dict[str, Any], *, stac_api: str, product_kind: str = "s2-l2a-eopf-zarr") -> dict[str, Any]:
    """Map one item to `scene-discovered/v1` data, or raise InvalidItem with the reason."""
    if not item.get("id"):
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
    href, zarr_format = _product_href(item.get("assets") or {})
    bbox = [float(v) for v in item["bbox"]]
    if len(bbox) == 6:
        bbox = [bbox[0], bbox[1], bbox[3], bbox[4]]
    cloud = props.get("eo:cloud_cover")
    return {
        "scene_id": item["id"],
        "item_id": item["id"],
        "collection": item.get("collection") or "",
        "stac_api": stac_api,
        "product_kind": product_kind,
        "datetime": dt.isoformat().replace("+00:00", "Z"),
        "updated": props.get("updated"),
        "product_href": href,
        "zarr_format": zarr_format,
        "processing_baseline": _baseline(item, props),
        "mgrs_tile": _mgrs(item, props),
        "crs": _crs(props),
        "bbox": bbox,
        "cloud_cover": float(cloud) if cloud is not None else None,
        "datatake_id": props.get("eopf:datatake_id") or props.get("s2:datatake_id"),
    }
