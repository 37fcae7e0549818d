"""CLMS STAC items and listed files -> scene-discovered data; bad items get a clear reason."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from greenwatch.schemas import SCENE_DISCOVERED, make_event
from greenwatch.services.clms import InvalidClmsItem, clms_item_to_scene, file_to_scene
from greenwatch.services.sampledata.clms import stac_item, write_geotiff
from greenwatch.services.watcher import InvalidItem, item_to_scene

from .conftest import WEST


@pytest.fixture
def item(tmp_path: Path) -> dict[str, Any]:
    path = write_geotiff(tmp_path / "TCD_2024_010m_E40N32_03035_v010.tif", np.zeros((6, 10), np.uint8), WEST,
                         kind="tcd")
    return stac_item("tcd", 2024, "E40N32", path, WEST, (6, 10))


def test_an_item_becomes_a_valid_scene(item: dict[str, Any]) -> None:
    scene = clms_item_to_scene(item, stac_api="http://127.0.0.1:1/", product_kind="clms-tcd")
    make_event(SCENE_DISCOVERED, scene, source="test")  # validates against scene-discovered/v1
    assert scene["scene_id"] == "TCD_2024_010m_E40N32_03035_v010"
    assert scene["datetime"] == "2024-01-01T00:00:00Z"  # the start of the reference year
    assert scene["crs"] == "EPSG:3035" and scene["product_kind"] == "clms-tcd"
    assert scene["product_href"].startswith("file://") and scene["product_href"].endswith(".tif")
    assert scene["mgrs_tile"] is None and scene["zarr_format"] is None


def test_the_watcher_hands_clms_kinds_to_this_mapping(item: dict[str, Any]) -> None:
    assert item_to_scene(item, stac_api="x", product_kind="clms-tcd") == clms_item_to_scene(
        item, stac_api="x", product_kind="clms-tcd")
    with pytest.raises(InvalidItem, match="no usable asset"):  # the Sentinel-2 mapping would refuse it
        item_to_scene(item, stac_api="x", product_kind="s2-l2a-eopf-zarr")


def test_the_reference_year_comes_from_start_datetime(item: dict[str, Any]) -> None:
    item["properties"]["datetime"] = None
    item["properties"]["start_datetime"] = "2023-01-01T00:00:00Z"
    assert clms_item_to_scene(item, stac_api="x", product_kind="clms-clcplus")["datetime"].startswith("2023-01-01")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda i: i["assets"].clear(), "needs exactly one GeoTIFF data asset, found none"),
        (lambda i: i["assets"].update(extra=dict(i["assets"]["data"], roles=["data"])), "found ['data', 'extra']"),
        (lambda i: i["properties"].update({"proj:code": "EPSG:32631"}), "EPSG:32631 is not EPSG:3035"),
        (lambda i: i["properties"].update(datetime=None, start_datetime=None), "neither start_datetime nor datetime"),
        (lambda i: i["properties"].update(start_datetime="2024-01-01"), "has no time zone"),
        (lambda i: i["properties"].update(start_datetime="last year"), "bad datetime"),
        (lambda i: i.pop("bbox"), "no bbox"),
        (lambda i: i.pop("id"), "item has no id"),
    ],
)
def test_bad_items_are_refused_with_the_reason(item: dict[str, Any], change: Any, reason: str) -> None:
    bad = copy.deepcopy(item)
    change(bad)
    with pytest.raises(InvalidClmsItem) as err:
        clms_item_to_scene(bad, stac_api="x", product_kind="clms-tcd")
    assert reason in str(err.value)
    assert isinstance(err.value, InvalidItem)  # so the watcher dead-letters it like any bad item


def test_a_listed_file_becomes_a_scene(tmp_path: Path) -> None:
    path = write_geotiff(tmp_path / "CLMS_CLCPLUS_RAS_S2023_R10m_E40N32_03035_V01_R00.tif",
                         np.full((6, 10), 6, np.uint8), WEST, kind="clcplus")
    scene = file_to_scene(path, product_kind="clms-clcplus", year=2023)
    make_event(SCENE_DISCOVERED, scene, source="test")
    assert scene["scene_id"] == path.stem and scene["datetime"] == "2023-01-01T00:00:00Z"
    west, south, east, north = scene["bbox"]
    assert 0 < east - west < 0.01 and 0 < north - south < 0.01  # 100 m x 60 m, in degrees
    with pytest.raises(InvalidClmsItem, match="no such file"):
        file_to_scene(tmp_path / "missing.tif", product_kind="clms-tcd", year=2024)
    with pytest.raises(InvalidClmsItem, match="not a CLMS layer"):
        file_to_scene(path, product_kind="s2-l2a-eopf-zarr", year=2024)


def test_the_watcher_searches_clms_sources_from_their_start_every_time(item: dict[str, Any], tmp_path: Path) -> None:
    """CLMS layers are published long after their reference date (TCD 2025 appears in 2027): a cursor
    at the newest item's datetime would never find a late layer of an earlier year."""
    from greenwatch.services.bus import EmbeddedBus
    from greenwatch.services.ledger import Ledger
    from greenwatch.services.store import SqliteStore
    from greenwatch.services.watcher import Source, Watcher

    windows: list[str] = []
    items = [item]

    def search(source: Source, window: str, page_size: int) -> list[dict[str, Any]]:
        windows.append(window)
        return list(items)

    store = SqliteStore(tmp_path / "s.db")
    watcher = Watcher(bus=EmbeddedBus(tmp_path / "b.db"), store=store, ledger=Ledger(store), search=search,
                      sources=[Source("http://127.0.0.1:1", "clms-tcd", product_kind="clms-tcd", start="2018-01-01")])
    assert watcher.poll().published == 1
    late = copy.deepcopy(item)
    late["id"] = "TCD_2023_010m_E40N32_03035_v010"
    late["properties"].update(datetime="2023-01-01T00:00:00Z", start_datetime="2023-01-01T00:00:00Z")
    items.append(late)
    report = watcher.poll()
    assert windows == ["2018-01-01T00:00:00Z/..", "2018-01-01T00:00:00Z/.."]
    assert report.published == 1 and report.deduplicated == 1  # the late 2023 layer found, 2024 not re-sent
