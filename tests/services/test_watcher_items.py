"""STAC item -> scene message, on real items from the EOPF, Earth Search and Planetary Computer APIs."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from greenwatch.schemas import SCENE_DISCOVERED, make_event
from greenwatch.services.watcher import InvalidItem, item_to_scene


def _items(shared_data: Path) -> list[dict]:
    out = [json.loads(p.read_text()) for p in sorted((shared_data / "eopf").glob("*stac_item*.json"))]
    for p in sorted((shared_data / "stac").glob("*.json")):
        body = json.loads(p.read_text())
        out += [f for f in body.get("features", []) if f.get("collection", "").startswith("sentinel-2")]
    return out


def test_real_eopf_items_map_to_valid_scene_messages(shared_data: Path) -> None:
    v2 = json.loads(next((shared_data / "eopf").glob("eodc_stac_item_sentinel-2-l2a_*.json")).read_text())
    s = item_to_scene(v2, stac_api="https://stac.core.eopf.eodc.eu")
    got = (s["mgrs_tile"], s["crs"], s["processing_baseline"], s["zarr_format"])
    assert got == ("32TNQ", "EPSG:32632", "05.11", 2)
    assert s["product_href"].endswith(".zarr") and s["datatake_id"].startswith("GS2A_20251113T102311")
    v3 = json.loads(next((shared_data / "eopf").glob("eodc_stac_item_sentinel-2-l2a-zarr3_*.json")).read_text())
    s3 = item_to_scene(v3, stac_api="x")
    got3 = (s3["mgrs_tile"], s3["crs"], s3["processing_baseline"], s3["zarr_format"])
    assert got3 == ("26TLL", "EPSG:32626", "05.12", 3)
    make_event(SCENE_DISCOVERED, s, source="t")
    make_event(SCENE_DISCOVERED, s3, source="t")


def test_proj_epsg_items_and_items_without_product_asset(shared_data: Path) -> None:
    ok, invalid = 0, []
    for item in _items(shared_data):
        try:
            s = item_to_scene(item, stac_api="x")
            make_event(SCENE_DISCOVERED, s, source="t")
            ok += 1
        except InvalidItem as exc:
            invalid.append(str(exc))
    assert ok >= 3
    # COG-only items (Earth Search, Planetary Computer) have no Zarr product: rejected with the reason
    assert invalid and all("no usable asset" in r or "no CRS" in r for r in invalid)


@pytest.mark.parametrize(("mutate", "reason"), [
    (lambda i: i.pop("geometry"), "no geometry"),
    (lambda i: i["properties"].__setitem__("datetime", "yesterday"), "bad datetime"),
    (lambda i: i.__setitem__("assets", {}), "no usable asset"),
    (lambda i: (i["properties"].pop("proj:code", None), i["properties"].pop("proj:epsg", None)), "no CRS"),
])
def test_invalid_items_say_why(shared_data: Path, mutate, reason: str) -> None:
    path = next((shared_data / "eopf").glob("eodc_stac_item_sentinel-2-l2a_*.json"))
    item = copy.deepcopy(json.loads(path.read_text()))
    mutate(item)
    with pytest.raises(InvalidItem, match=reason):
        item_to_scene(item, stac_api="x")


def test_proj_epsg_integer_is_accepted(shared_data: Path) -> None:
    item = json.loads(next((shared_data / "eopf").glob("eodc_stac_item_sentinel-2-l2a_*.json")).read_text())
    item["properties"].pop("proj:code", None)
    item["properties"]["proj:epsg"] = 32632
    assert item_to_scene(item, stac_api="x")["crs"] == "EPSG:32632"
