"""Edge cases from recorded answers of real STAC APIs (../shared/data/stac, ../shared/data/eopf):
POST pagination with body tokens (`merge: false`), pages mixing collections, COG-only and CDSE-shaped
items. The recorded bodies are served again on 127.0.0.1."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from greenwatch.services.watcher import InvalidItem, StacClient, item_to_scene

from ._replay import replay
from .conftest import Rig

EARTH_SEARCH = "https://earth-search.aws.element84.com/v1"
PAGE1 = "earth-search-v1_search_sentinel-2-l2a+landsat-c2-l2_page1.json"
PAGE2_EMPTY = "earth-search-v1_search_sentinel-2-l2a+landsat-c2-l2_page2_empty.json"
CQL2_PAGE2 = "earth-search-v1_search_cql2-filter_page2.json"
PLANETARY = "planetary-computer_search_sentinel-2-l2a_2019-01-01.json"


def _stac(shared_data: Path, name: str) -> Path:
    return shared_data / "stac" / name


def test_post_pagination_sends_the_next_links_body_as_given(shared_data: Path) -> None:
    page1 = json.loads(_stac(shared_data, PAGE1).read_text())
    token = next(link for link in page1["links"] if link["rel"] == "next")["body"]["next"]
    routes = [("POST", "/search", lambda b: bool(b) and b.get("next") == token, _stac(shared_data, PAGE2_EMPTY)),
              ("POST", "/search", lambda b: bool(b) and "next" not in b, _stac(shared_data, PAGE1))]
    with replay(routes, EARTH_SEARCH) as server:
        client = StacClient()
        first_body = {"datetime": "2023-10-08T00:00:00Z/2023-10-08T23:59:59Z",
                      "collections": ["sentinel-2-l2a", "landsat-c2-l2"],
                      "intersects": {"type": "Point", "coordinates": [-105.1019, 40.1672]}, "limit": 10}
        pages = list(client.search_pages(server.url, first_body))
        client.close()
    assert [len(p["features"]) for p in pages] == [2, 0]
    (_, _, sent1), (_, path2, sent2) = server.requests
    assert sent1 == first_body and path2 == "/search"
    # `merge: false`: the second body is exactly the link's body (no `limit` carried over)
    assert sent2 == next(link for link in page1["links"] if link["rel"] == "next")["body"]


def test_merge_true_keeps_the_first_bodys_fields(shared_data: Path, tmp_path: Path) -> None:
    page = json.loads(_stac(shared_data, CQL2_PAGE2).read_text())
    link = next(x for x in page["links"] if x["rel"] == "next")
    link["merge"] = True
    merged = tmp_path / "merge.json"
    merged.write_text(json.dumps(page))
    routes = [("POST", "/search", lambda b: bool(b) and "next" in b, _stac(shared_data, PAGE2_EMPTY)),
              ("POST", "/search", lambda b: True, merged)]
    with replay(routes, EARTH_SEARCH) as server:
        client = StacClient()
        pages = list(client.search_pages(server.url, {"collections": ["sentinel-2-l2a"], "limit": 10}))
        client.close()
    assert len(pages) == 2
    assert server.requests[1][2] == {"collections": ["sentinel-2-l2a"], "limit": 10, "next": link["body"]["next"]}


def test_a_page_mixing_collections_publishes_only_the_sources_collection(
        rig: Rig, shared_data: Path) -> None:
    """A recorded Earth Search page (CQL2 search) mixes sentinel-2-c1-l2a, -l2a and -l1c items: a
    server that ignores `collections` would feed L1C products to the worker. They are counted as
    `foreign` and skipped; the L2A items are COG-only and dead-lettered with the reason."""
    page = json.loads(_stac(shared_data, CQL2_PAGE2).read_text())
    ours = [f for f in page["features"] if f["collection"] == "sentinel-2-l2a"]
    routes = [("POST", "/search", lambda b: bool(b) and "next" in b, _stac(shared_data, PAGE2_EMPTY)),
              ("POST", "/search", lambda b: True, _stac(shared_data, CQL2_PAGE2))]
    with replay(routes, EARTH_SEARCH) as server:
        w = rig.watcher(server.url, collection="sentinel-2-l2a")
        report = w.poll(start="2025-07-31", end="2025-07-31")
    assert report.seen == 10 and report.foreign == 10 - len(ours) and report.dead_lettered == len(ours)
    assert all("no usable asset" in r for r in report.reasons) and report.published == 0


def test_planetary_computer_items_are_dead_lettered_once_each(rig: Rig, shared_data: Path) -> None:
    routes = [("POST", "/search", lambda b: True, _stac(shared_data, PLANETARY))]
    with replay(routes, "https://planetarycomputer.microsoft.com/api/stac/v1") as server:
        w = rig.watcher(server.url, collection="sentinel-2-l2a")
        first = w.poll(start="2019-01-01", end="2019-01-01")
        second = w.poll(start="2019-01-01", end="2019-01-01")
    assert (first.seen, first.dead_lettered, first.published) == (33, 33, 0)
    assert (second.dead_lettered, second.deduplicated) == (0, 33)
    assert len(server.requests) == 2  # no `next` link: one page each
    assert len(rig.dead_letters()) == 33


def _cdse_shaped(template: dict[str, Any]) -> dict[str, Any]:
    """The real EOPF item rearranged the way CDSE's STAC v1.1 items are: `proj:code` on each data asset,
    not on the item (see the structure of a CDSE item in ../shared/data/stac/PROVENANCE.md)."""
    item = copy.deepcopy(template)
    code = item["properties"].pop("proj:code")
    for asset in item["assets"].values():
        if "data" in (asset.get("roles") or []):
            asset["proj:code"] = code
    return item


def test_crs_from_the_assets_when_the_item_has_none(template: dict) -> None:
    item = _cdse_shaped(template)
    assert item_to_scene(item, stac_api="x")["crs"] == template["properties"]["proj:code"]
    disagree = copy.deepcopy(item)
    disagree["assets"]["SR_20m"]["proj:code"] = "EPSG:32632"
    with pytest.raises(InvalidItem, match="assets disagree"):
        item_to_scene(disagree, stac_api="x")


def test_safe_only_items_say_so(template: dict) -> None:
    item = _cdse_shaped(template)
    safe = "s3://eodata/Sentinel-2/MSI/L2A/2026/09/07/X.SAFE/GRANULE/L2A_T26TLL/IMG_DATA/R10m/T26TLL_B04_10m.jp2"
    item["assets"] = {"B04_10m": {"href": safe, "type": "image/jp2", "roles": ["data"], "proj:code": "EPSG:32626"}}
    with pytest.raises(InvalidItem, match="only SAFE/JP2"):
        item_to_scene(item, stac_api="https://stac.dataspace.copernicus.eu/v1")
