"""The ingest step: GeoTIFF/COG -> Zarr with the CLMS encodings checked; bad rasters are dead-lettered
with a clear reason and the scene is marked failed; the real CLC+ Backbone clip counts as documented."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import zarr
from rasterio.transform import Affine

from greenwatch.schemas import encode
from greenwatch.services.bus import EmbeddedBus
from greenwatch.services.clms import InvalidRaster
from greenwatch.services.clms._geotiff import ingest
from greenwatch.services.runtime import run_service

from .conftest import WEST, X0, Y1, Chain, scene, scene_event, tcd_tiles, write_areas


def _tif(path: Path, data: np.ndarray, *, crs: str = "EPSG:3035", transform: tuple[float, ...] = WEST,
         nodata: float | None = 255, count: int = 1) -> str:
    with rasterio.open(path, "w", driver="GTiff", dtype=data.dtype, count=count, width=data.shape[-1],
                       height=data.shape[-2], crs=crs, transform=Affine(*transform), nodata=nodata) as ds:
        for b in range(1, count + 1):
            ds.write(data, b)
    return path.as_uri()


def test_a_valid_raster_is_copied_unchanged_and_reused(tmp_path: Path) -> None:
    west, _ = tcd_tiles()
    href = _tif(tmp_path / "t.tif", west)
    arr = ingest(href, str(tmp_path / "t.zarr"), "tcd", chunk=4)
    assert arr.chunks == (4, 4) and arr.attrs["complete"] is True
    np.testing.assert_array_equal(arr[...], west)
    assert arr.attrs["transform"] == list(WEST) and arr.attrs["crs"] == "EPSG:3035"
    mtime = (tmp_path / "t.zarr" / "zarr.json").stat().st_mtime_ns
    ingest(href, str(tmp_path / "t.zarr"), "tcd", chunk=4)  # the same source again: reused, not rewritten
    assert (tmp_path / "t.zarr" / "zarr.json").stat().st_mtime_ns == mtime


def test_an_unfinished_ingest_is_redone(tmp_path: Path) -> None:
    west, _ = tcd_tiles()
    href = _tif(tmp_path / "t.tif", west)
    zarr.create_array(str(tmp_path / "t.zarr"), shape=(6, 10), dtype="uint8", fill_value=255,
                      attributes={"source": href, "complete": False})
    np.testing.assert_array_equal(ingest(href, str(tmp_path / "t.zarr"), "tcd")[...], west)


def test_a_nodata_tag_that_is_not_a_layer_code_becomes_no_data(tmp_path: Path) -> None:
    data = np.array([[0, 50], [100, 0]], np.uint8)
    arr = ingest(_tif(tmp_path / "t.tif", data, nodata=0), str(tmp_path / "t.zarr"), "tcd")
    np.testing.assert_array_equal(arr[...], [[255, 50], [100, 255]])  # the file says 0 means no data
    # CLC+ clips use 0 as their fill value, which the CLC+ lookup already treats as invalid: kept as is
    arr = ingest(_tif(tmp_path / "c.tif", data.clip(0, 11), nodata=0), str(tmp_path / "c.zarr"), "clcplus")
    assert arr[0, 0] == 0


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("crs", "is not EPSG:3035"),
        ("dtype", "data type uint16"),
        ("pixel", "expected 10 m north-up"),
        ("lattice", "not on the 10 m LAEA lattice"),
        ("bands", "2 bands"),
        ("codes", "values [150] are not tcd codes"),
        ("missing", "cannot be read as a raster"),
        ("text", "cannot be read as a raster"),
    ],
)
def test_bad_rasters_raise_a_clear_error(tmp_path: Path, case: str, reason: str) -> None:
    west, _ = tcd_tiles()
    path = tmp_path / "bad.tif"
    if case == "crs":
        href = _tif(path, west, crs="EPSG:4326", transform=(0.0001, 0, 5.0, 0, -0.0001, 52.0))
    elif case == "dtype":
        href = _tif(path, west.astype(np.uint16))
    elif case == "pixel":
        href = _tif(path, west, transform=(20.0, 0, X0, 0, -20.0, Y1))
    elif case == "lattice":
        href = _tif(path, west, transform=(10.0, 0, X0 + 5, 0, -10.0, Y1))
    elif case == "bands":
        href = _tif(path, west, count=2)
    elif case == "codes":
        west[5, 9] = 150
        href = _tif(path, west)
    elif case == "missing":
        href = (tmp_path / "nowhere.tif").as_uri()
    else:
        path.write_text("not a raster", encoding="utf-8")
        href = path.as_uri()
    with pytest.raises(InvalidRaster, match=reason.replace("[", r"\[").replace("]", r"\]")):
        ingest(href, str(tmp_path / "bad.zarr"), "tcd")


def test_a_bad_raster_is_dead_lettered_with_its_reason_and_the_scene_marked_failed(chain: Chain) -> None:
    bad = chain.root / "wrong.tif"
    _tif(bad, np.zeros((6, 10), np.uint16))
    good_w, _ = tcd_tiles()
    bus = EmbeddedBus(chain.root / "bus.db")
    events = [scene_event(scene("wrong", "clms-tcd", 2024, bad.as_uri())),
              chain.tile("ok", "tcd", 2024, good_w, WEST)]
    for ev in events:
        bus.send("scenes", encode(ev), key=ev["subject"].encode())
    bus.flush()
    assert run_service(bus, chain.planner, "clms", until_idle=True) == 2
    dlq = bus.read_all("scenes.dlq")
    assert len(dlq) == 1
    assert "InvalidRaster" in dlq[0].header("gw-error").decode()
    assert "data type uint16" in dlq[0].header("gw-error").decode()
    assert json.loads(dlq[0].value)["data"]["scene_id"] == "wrong"  # the original bytes
    failed = chain.planner.ledger.get("wrong")
    assert failed["state"] == "failed" and "uint16" in failed["reason"]
    assert chain.planner.ledger.get("ok")["state"] == "planned"  # the consumer went on
    # 4 x 4 windows of the 6 x 10 tile touching an area: A's (0,0), (0,1); B's (0,1), (0,2), (1,1), (1,2)
    assert len(bus.read_all("clms-tasks")) == 5


def test_a_task_for_another_kernel_or_area_set_is_refused(chain: Chain) -> None:
    from greenwatch.services.errors import PermanentError

    west, _ = tcd_tiles()
    task = chain.planner.handle(chain.tile("ok", "tcd", 2024, west, WEST))[0].event
    task["data"]["kernel_version"] = "tcd-1.0.0+t30"
    with pytest.raises(PermanentError, match="re-run the scene"):
        chain.worker.handle(task)


def test_sentinel2_messages_are_not_ours(chain: Chain) -> None:
    ev = scene_event(scene("s2", "s2-l2a-eopf-zarr", 2024, "file:///x.zarr"))
    assert chain.planner.handle(ev) == []
    assert chain.planner.ledger.get("s2") is None


def test_the_real_clcplus_clip_counts_as_its_provenance_says(shared_data: Path, tmp_path: Path) -> None:
    """A real CLC+ Backbone 2023 clip (Ojców NP, PL): one area covering the whole raster gets every
    pixel; the counts must equal the figures documented in shared/data/clms (checked with rasterio)."""
    from greenwatch.services.clms import ClmsPlanner, ClmsTileWorker
    from greenwatch.services.ledger import Ledger
    from greenwatch.services.store import SqliteStore

    tif = shared_data / "clms" / "clcplus_backbone_2023_ojcowski" / "CLCplusBB_Ojcowski_National_Park_3035.tif"
    # bounds x 5015410-5024040, y 3052290-3062120 (PROVENANCE.md); the area reaches 1 km beyond
    areas = write_areas(tmp_path / "a.geojson", {"PL": (5014410.0, 5025040.0, 3051290.0, 3063120.0)})
    store = SqliteStore(tmp_path / "s.db")
    ledger = Ledger(store)
    planner = ClmsPlanner(areas=areas, ledger=ledger, zarr_root=str(tmp_path / "z"), chunk=512)
    worker = ClmsTileWorker(areas=areas, ledger=ledger)
    results = [r.event["data"] for t in planner.handle(scene_event(scene("ojcow", "clms-clcplus", 2023, tif.as_uri())))
               for r in worker.handle(t.event)]
    assert len(results) == 4  # 983 x 863 px in 512 x 512 chunks
    total = {k: sum(r["class_counts"][k] for r in results) for k in results[0]["class_counts"]}
    assert sum(r["area_pixels"] for r in results) == 983 * 863
    assert sum(r["valid_count"] for r in results) == 215_868  # "215,868 px inside the AOI"; 0 = outside
    assert total["water"] == 113  # class 10
    assert total["invalid"] == 983 * 863 - 215_868
    # other green = 6 (14.2 %) + 5 (57 px); not green = 1 (2,254 px) + 7 (1.8 %) + 9 (46 px); trees 2-4 (82.8 %)
    assert total["other_green"] == pytest.approx(0.142 * 215_868 + 57, abs=0.0005 * 215_868 + 1)
    assert total["not_green"] == pytest.approx(2_254 + 0.018 * 215_868 + 46, abs=0.0005 * 215_868 + 1)
    assert total["tree"] == pytest.approx((0.655 + 0.173) * 215_868, abs=0.001 * 215_868)
