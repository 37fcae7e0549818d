"""Generated products: the real EOPF layout, recoverable truth, visible change, usable STAC items."""

from __future__ import annotations

import json
import time
from datetime import date
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pystac
import pytest
import xarray as xr
import zarr

from greenwatch.schemas import SCENE_DISCOVERED, make_event
from greenwatch.services.sampledata import (
    CLEAR_SCL,
    DEMO_CHANGE_AREA,
    LandCover,
    Scenario,
    generate,
    generate_demo,
    read_product_truth,
    true_area_counts,
)
from greenwatch.services.watcher import item_to_scene

R10M = "measurements/reflectance/r10m"
SCL = "conditions/mask/l2a_classification/r20m"
CHANGE_AREA = "GM0356"


def _members(node: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, child in node.get("members", {}).items():
        path = f"{prefix}{name}"
        out[path] = child
        out.update(_members(child, f"{path}/"))
    return out


@pytest.fixture(scope="module")
def real_v2(shared_data: Path) -> dict[str, dict[str, Any]]:
    spec = next((shared_data / "eopf").glob("zarr2_groupspec_*.json"))
    return _members(json.loads(spec.read_text()))


def _zarray(product: Path, path: str) -> tuple[dict[str, Any], dict[str, Any]]:
    meta = json.loads((product / path / ".zarray").read_text())
    return meta, json.loads((product / path / ".zattrs").read_text())


def test_v2_layout_matches_the_real_product(v2_series: Any, real_v2: dict[str, dict[str, Any]]) -> None:
    product = v2_series.products[0].path
    for path in [f"{R10M}/{b}" for b in ("b02", "b03", "b04", "b08", "x", "y")] + [
        f"{SCL}/{a}" for a in ("scl", "x", "y")
    ]:
        meta, attrs = _zarray(product, path)
        real = real_v2[path]
        for key in ("dtype", "compressor", "dimension_separator", "fill_value", "filters", "order", "zarr_format"):
            assert meta[key] == real[key], (path, key)
        assert set(attrs) == set(real["attributes"]), path
        if "_eopf_attrs" in attrs:
            assert set(attrs["_eopf_attrs"]) == set(real["attributes"]["_eopf_attrs"]), path
        for key in ("scale_factor", "add_offset", "valid_min", "valid_max", "units", "_ARRAY_DIMENSIONS"):
            if key in real["attributes"]:
                assert attrs[key] == real["attributes"][key], (path, key)
    consolidated = json.loads((product / ".zmetadata").read_text())
    assert consolidated["zarr_consolidated_format"] == 1
    assert f"{R10M}/b03/.zarray" in consolidated["metadata"] and ".zattrs" in consolidated["metadata"]
    assert "consolidated_metadata" not in consolidated["metadata"][f"{R10M}/.zgroup"]


def test_v3_layout(v3_series: Any) -> None:
    product = v3_series.products[0].path
    root = json.loads((product / "zarr.json").read_text())
    assert root["consolidated_metadata"]["kind"] == "inline"
    props = root["attributes"]["stac_discovery"]["properties"]
    assert props["proj:code"] == "EPSG:32631" and props["proj:transform"][0] == 60.0
    assert props["grid:code"] == "MGRS-31UFT" and props["processing:version"] == "05.11"
    assert props["eopf:datatake_id"].startswith("GS2") and props["datetime"].endswith("Z")
    b03 = json.loads((product / R10M / "b03" / "zarr.json").read_text())
    assert b03["data_type"] == "uint16" and b03["fill_value"] == 0 and b03["dimension_names"] == ["y", "x"]
    assert [c["name"] for c in b03["codecs"]] == ["bytes", "zstd"]
    assert b03["codecs"][1]["configuration"] == {"level": 0, "checksum": False}
    assert b03["chunk_grid"]["configuration"]["chunk_shape"] == [200, 200]
    assert b03["attributes"]["scale_factor"] == 0.0001 and b03["attributes"]["add_offset"] == -0.1
    assert not any(k.startswith("proj:") for k in b03["attributes"])
    scl = json.loads((product / SCL / "scl" / "zarr.json").read_text())
    assert scl["data_type"] == "uint8" and scl["chunk_grid"]["configuration"]["chunk_shape"] == [100, 100]
    x = json.loads((product / R10M / "x" / "zarr.json").read_text())
    assert x["data_type"] == "float32"
    assert not (product / "conditions/mask/l2a_classification/r10m").exists()


@pytest.mark.parametrize("series", ["v2_series", "v3_series"])
def test_xarray_reads_the_groups_with_coordinates(series: str, request: pytest.FixtureRequest) -> None:
    gen = request.getfixturevalue(series)
    grid = gen.truth.grid
    ds = xr.open_zarr(gen.products[0].path, group=R10M, consolidated=gen.scenario.consolidated)
    assert dict(ds.sizes) == {"y": grid.height, "x": grid.width}
    assert float(ds.x[0]) == grid.x0 + 5 and float(ds.y[0]) == grid.y1 - 5
    scl = xr.open_zarr(gen.products[0].path, group=SCL, consolidated=gen.scenario.consolidated)
    assert dict(scl.sizes) == {"y": grid.height // 2, "x": grid.width // 2}


def _array(group: zarr.Group, path: str) -> np.ndarray:
    node = group[path]
    assert isinstance(node, zarr.Array)
    return np.asarray(node[:])


def _read(product: Path) -> tuple[np.ndarray, ...]:
    g = zarr.open_group(product, mode="r")
    b03, b04, b08 = (_array(g, f"{R10M}/{b}") for b in ("b03", "b04", "b08"))
    scl = _array(g, f"{SCL}/scl")
    return b03, b04, b08, np.repeat(np.repeat(scl, 2, axis=0), 2, axis=1)


def _classify(b03: np.ndarray, b04: np.ndarray, b08: np.ndarray, scl10: np.ndarray) -> np.ndarray:
    g, r, n = (b.astype(np.float32) * 1e-4 - 0.1 for b in (b03, b04, b08))
    ndvi, ndwi = (n - r) / (n + r), (g - n) / (g + n)
    cls = np.where(ndvi < 0.2, LandCover.NOT_GREEN, np.where(ndvi <= 0.5, LandCover.OTHER_GREEN, LandCover.TREE_CANOPY))
    cls[(ndwi > 0) | (scl10 == 6)] = LandCover.WATER
    return cls.astype(np.uint8)


def test_the_brief_thresholds_recover_the_truth_in_summer(v3_series: Any) -> None:
    for p in v3_series.products:
        b03, b04, b08, scl10 = _read(p.path)
        observed = (b03 != 0) & np.isin(scl10, CLEAR_SCL)
        truth = v3_series.truth.landcover(p.datetime)
        agree = (_classify(b03, b04, b08, scl10) == truth)[observed].mean()
        assert agree > 0.97, (p.item_id, agree)
        # the truth's observed counts are exactly these pixels
        mask = next(m for m in v3_series.truth.masks if m.code == CHANGE_AREA)
        assert p.area_truth[CHANGE_AREA].observed_pixels == int(observed[mask.rows, mask.cols][mask.mask].sum())


def test_the_canopy_loss_is_visible_per_area(v3_series: Any) -> None:
    share: dict[tuple[str, bool], list[float]] = {}
    for p in v3_series.products:
        b03, b04, b08, scl10 = _read(p.path)
        cls = _classify(b03, b04, b08, scl10)
        observed = (b03 != 0) & np.isin(scl10, CLEAR_SCL)
        for m in v3_series.truth.masks:
            seen = observed[m.rows, m.cols] & m.mask
            if seen.sum() > 20_000:
                tree = (cls[m.rows, m.cols][seen] == LandCover.TREE_CANOPY).mean()
                share.setdefault((m.code, p.changed), []).append(float(tree))
    before, after = np.mean(share[(CHANGE_AREA, False)]), np.mean(share[(CHANGE_AREA, True)])
    assert after < 0.5 * before
    for (code, changed), values in share.items():
        if code != CHANGE_AREA and not changed and (code, True) in share:
            assert abs(np.mean(share[(code, True)]) - np.mean(values)) < 0.02, code


def test_no_data_edge_and_cloud_cover(v3_series: Any) -> None:
    for p in v3_series.products:
        b03, b04, b08, scl10 = _read(p.path)
        fill = scl10 == 0
        assert fill.any() and not fill[:, : scl10.shape[1] // 2].any()  # a thin wedge on the east edge
        for band in (b03, b04, b08):
            assert np.array_equal(band == 0, fill)
        scl = scl10[::2, ::2]
        valid = scl != 0
        cloudy = np.isin(scl, (8, 9, 10)) & valid
        assert p.cloud_cover == pytest.approx(100 * cloudy.sum() / valid.sum())
        item = json.loads(p.item_path.read_text())
        assert item["properties"]["eo:cloud_cover"] == pytest.approx(p.cloud_cover, abs=1e-5)
    assert {int(v) for v in np.unique(_read(v3_series.products[0].path)[3])} <= {0, 3, 4, 5, 6, 8, 9}


@pytest.mark.parametrize("series", ["v2_series", "v3_series"])
def test_stac_items_and_collection(series: str, request: pytest.FixtureRequest) -> None:
    gen = request.getfixturevalue(series)
    collection = pystac.Collection.from_file(str(gen.root / "stac" / "collection.json"))
    assert collection.id == gen.scenario.collection
    for p in gen.products:
        item = pystac.Item.from_file(str(p.item_path))
        assert item.id == p.item_id and item.collection_id == gen.scenario.collection
        assert item.properties["grid:code"] == "MGRS-31UFT" and item.properties["proj:code"] == "EPSG:32631"
        assert item.datetime == p.datetime
        href = item.assets["product"].href
        assert href.startswith("file://") and href == p.href
        fs, path = fsspec.core.url_to_fs(href)
        assert fs.exists(f"{path}/{'zarr.json' if gen.scenario.zarr_format == 3 else '.zmetadata'}")
        assert fs.isdir(item.assets["SR_10m"].href.removeprefix("file://"))
        west, south, east, north = item.bbox or []
        ((cw, cs), (ce, cn)) = collection.extent.spatial.bboxes[0][:2], collection.extent.spatial.bboxes[0][2:]
        assert cw <= west and cs <= south and east <= ce and north <= cn
        # what the watcher makes of it is a valid scene-discovered message
        scene = item_to_scene(item.to_dict(), stac_api="http://127.0.0.1:1")
        make_event(SCENE_DISCOVERED, scene, source="test")
        assert (scene["zarr_format"], scene["mgrs_tile"], scene["processing_baseline"]) == (
            gen.scenario.zarr_format,
            "31UFT",
            "05.11",
        )
        assert scene["product_href"] == p.href


def test_truth_files_and_helpers(v3_series: Any) -> None:
    for p in v3_series.products:
        from_file = read_product_truth(v3_series.root / "truth" / "products" / f"{p.item_id}.json")
        assert from_file == p.area_truth
        counts = true_area_counts(p)
        assert counts[CHANGE_AREA] == p.area_truth[CHANGE_AREA].counts
        observed = true_area_counts(p, observed_only=True)[CHANGE_AREA]
        assert sum(observed.values()) == p.area_truth[CHANGE_AREA].observed_pixels
    truth = zarr.open_group(v3_series.root / "truth" / "truth.zarr", mode="r")
    assert np.array_equal(_array(truth, "landcover_after"), v3_series.truth.landcover_after)
    assert truth.attrs["change_area"] == CHANGE_AREA
    manifest = json.loads((v3_series.root / "scenario.json").read_text())
    assert {a["code"] for a in manifest["areas"] if a["fully_inside"]} == {CHANGE_AREA}


def test_old_baseline_has_no_offset(tmp_path: Path) -> None:
    scenario = Scenario(size=64, chunk=32, dates=(date(2021, 7, 1),), processing_baseline="03.01", change_area=None)
    (p,) = generate(tmp_path, scenario)
    attrs = zarr.open_array(p.path / R10M / "b04", mode="r").attrs.asdict()
    assert "add_offset" not in attrs and attrs["scale_factor"] == 0.0001
    item = json.loads(p.item_path.read_text())
    assert item["assets"]["SR_10m"]["raster:offset"] == 0.0 and "_N0301_" in p.item_id


@pytest.mark.slow
def test_the_demo_generates_in_well_under_a_minute(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    stac = generate_demo(tmp_path)
    elapsed = time.perf_counter() - t0
    assert elapsed < 45, elapsed
    assert len(list((stac / "items").glob("*.json"))) == 12 and (stac / "collection.json").is_file()
    manifest = json.loads((tmp_path / "scenario.json").read_text())
    inside = {a["code"] for a in manifest["areas"] if a["fully_inside"]}
    assert {"GM0344", "GM0353", DEMO_CHANGE_AREA} <= inside
    assert len(manifest["areas"]) >= 10
