"""Synthetic CLMS rasters: the products' real encodings and grid, derived from the Sentinel-2 truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio

from greenwatch.services.clms import clms_item_to_scene
from greenwatch.services.clms._geotiff import ALLOWED
from greenwatch.services.sampledata.clms import ClmsProduct, generate_clms

from .conftest import E2E, NIEUWEGEIN


@pytest.fixture(scope="module")
def products(tmp_path_factory: pytest.TempPathFactory) -> list[ClmsProduct]:
    return generate_clms(tmp_path_factory.mktemp("clms-sample"), E2E, tcd_years=(2024, 2026), clcplus_years=(2023,))


def test_encodings_follow_the_product_specifications(products: list[ClmsProduct]) -> None:
    assert len(products) == 3 * 2  # three layers, two tiles each
    for p in products:
        with rasterio.open(p.path) as ds:
            assert (ds.count, ds.dtypes[0], ds.crs.to_epsg(), ds.nodata) == (1, "uint8", 3035, 255)
            assert ds.res == (10.0, 10.0) and ds.transform.c % 10 == 0 and ds.transform.f % 10 == 0
            data = ds.read(1)
            if p.kind == "clcplus":
                assert ds.colormap(1)[3] == (128, 255, 0, 255)  # the CLMS palette: broadleaved trees
        values = np.unique(data)
        assert ALLOWED[p.kind][values].all(), (p.item_id, values)
        outside = 255 if p.kind == "tcd" else 254
        assert outside in values  # the LAEA grid's corners lie outside the Sentinel-2 window
        if p.kind == "tcd":
            inside = data[data <= 100]
            assert 0 in inside and inside.max() > 75  # open ground to dense crowns
            assert (data == 254).mean() < 0.005  # a few unclassifiable pixels
        else:
            assert set(values.tolist()) >= {1, 2, 3, 5, 6, 7, 9, 10}


def test_tiles_sit_side_by_side_on_one_lattice(products: list[ClmsProduct]) -> None:
    west, east = [p for p in products if p.kind == "tcd" and p.year == 2024]
    assert west.shape[0] == east.shape[0]
    assert east.transform[2] == west.transform[2] + 10.0 * west.shape[1]  # east starts where west ends
    assert west.tile != east.tile and west.tile in west.item_id


def test_items_map_to_scenes(products: list[ClmsProduct]) -> None:
    import json

    for p in products:
        item = json.loads(Path(p.item_path).read_text(encoding="utf-8"))
        scene = clms_item_to_scene(item, stac_api="x", product_kind=f"clms-{p.kind}")
        assert scene["datetime"] == f"{p.year}-01-01T00:00:00Z" and scene["product_href"] == p.path.as_uri()


def test_the_2026_tcd_shows_the_scripted_canopy_loss(products: list[ClmsProduct]) -> None:
    from greenwatch.services.areas import AreaSet, Grid

    areas = AreaSet.load()
    i = areas.index(NIEUWEGEIN)

    def canopy(year: int) -> float:
        total = valid = 0.0
        for p in (p for p in products if p.kind == "tcd" and p.year == year):
            with rasterio.open(p.path) as ds:
                data = ds.read(1)
            labels = areas.labels(Grid("EPSG:3035", p.transform, p.shape))
            mine = (labels == i) & (data <= 100)
            total += float(data[mine].sum()) / 100
            valid += float(mine.sum())
        return total / valid

    before, after = canopy(2024), canopy(2026)
    assert 0.10 < before < 0.30
    assert after / before - 1 == pytest.approx(-0.6, abs=0.1)  # 60 % of the tree pixels cleared
