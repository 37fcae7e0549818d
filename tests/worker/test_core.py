"""Planner and tile worker on a product that reaches past its tile's core (31UGT, across the 700 km easting
and 6 E): only chunks holding core pixels are planned, counts cover the core only (against the sampledata
truth's rasterizer cut by the core), results name the core, and task ids differ from whole-product ones."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import numpy as np
import pyproj
import pytest

from greenwatch.schemas import stable_id
from greenwatch.services.areas import AreaSet, Grid, domain_for
from greenwatch.services.sampledata import GeneratedProduct, Scenario, default_areas_path, generate
from greenwatch.services.sampledata._areas import area_masks, load_areas

from .conftest import Kit, scene_of, totals

CORE_G = "EPSG:32631/700000/5700000"
_lon, _lat = pyproj.Transformer.from_crs(32631, 4326, always_xy=True).transform(703_500, 5_737_000)
# 10 km at x 698.5-708.5 km: 1.5 km in 31UFT's core, 31UGT's core to 6 E (~707 km), zone 32 beyond
EAST = Scenario(centre=(float(_lon), float(_lat)), size=1000, chunk=100, dates=(date(2025, 7, 1),), tile="31UGT",
                change_area=None, cloud_fraction=0.1)


@pytest.fixture(scope="module")
def east(tmp_path_factory: pytest.TempPathFactory) -> GeneratedProduct:
    (product,) = generate(tmp_path_factory.mktemp("core"), EAST)
    return product


def _grid() -> Grid:
    g = EAST.grid()
    return Grid(g.crs, g.transform, g.shape)


def test_tile_label_raster_is_the_tile_s_core(worker_areas: AreaSet) -> None:
    grid = _grid()
    core = domain_for("31UGT", grid)
    assert core is not None
    got = worker_areas.tile_raster("31UGT", grid, (100, 100), None)
    assert got.pixel_domain == CORE_G
    assert np.array_equal(got.full(), worker_areas.labels(grid, chunks=(100, 100), domain=core))
    whole = worker_areas.labels(grid, chunks=(100, 100))
    for tile in (None, "not-an-mgrs-id"):  # the whole product
        raster = worker_areas.tile_raster(tile, grid, (100, 100), None)
        assert raster.pixel_domain is None and np.array_equal(raster.full(), whole)


def test_only_core_pixels_are_planned_and_counted(
    east: GeneratedProduct, worker_areas: AreaSet, make_kit: Callable[..., Kit]
) -> None:
    kit = make_kit(maps=False)
    scene = scene_of(east)
    assert scene["mgrs_tile"] == "31UGT"
    tasks = kit.plan(scene)
    results = kit.run(tasks)
    grid = _grid()
    core = domain_for("31UGT", grid)
    assert core is not None
    inside = core.mask(0, 0, *grid.shape)
    # the labels from the sampledata truth's own rasterizer, cut by the core
    sg = EAST.grid()
    labels = np.full(sg.shape, -1, np.int32)
    for m in area_masks(load_areas(default_areas_path(), sg), sg):
        labels[m.rows, m.cols][m.mask] = worker_areas.index(m.code)
    cut = np.where(inside, labels, -1)
    planned = {(t.event["data"]["window"]["row"], t.event["data"]["window"]["col"]) for t in tasks}
    wanted = {(r, c) for r in range(0, 1000, 100) for c in range(0, 1000, 100)
              if (cut[r : r + 100, c : c + 100] >= 0).any()}
    assert planned == wanted and len(planned) < 100  # the 31UFT strip and the zone-32 part hold no task
    assert not any(c == 0 for _, c in planned) and not any(c == 900 for _, c in planned)
    got = totals(results)
    expected = {worker_areas.ids[i]: int((cut == i).sum()) for i in np.unique(cut) if i >= 0}
    assert {a: t["pixels"] for a, t in got.items()} == expected and len(expected) >= 2
    assert {r.event["data"]["pixel_domain"] for r in results} == {CORE_G}
    for area_id, t in got.items():  # the planner's promise, on the core's labels
        assert {r.event["data"]["area_tiles"] for r in results if r.event["data"]["area_id"] == area_id} == {t["tiles"]}
    w = tasks[0].event["data"]
    whole_id = stable_id(w["scene_id"], w["window"]["row"], w["window"]["col"], w["window"]["height"],
                         w["window"]["width"], w["kernel_version"], w["area_set_version"])
    assert w["task_id"] != whole_id  # a whole-product task of the same window never shares its id
    assert kit.ledger.get(scene["scene_id"])["state"] == "complete"  # type: ignore[index]


def test_a_scene_without_an_mgrs_tile_counts_the_whole_product(
    east: GeneratedProduct, worker_areas: AreaSet, make_kit: Callable[..., Kit]
) -> None:
    kit = make_kit(maps=False)
    scene = {**scene_of(east), "mgrs_tile": None}
    results = kit.run(kit.plan(scene))
    whole = worker_areas.labels(_grid(), chunks=(100, 100))
    assert {a: t["pixels"] for a, t in totals(results).items()} == {
        worker_areas.ids[i]: int((whole == i).sum()) for i in np.unique(whole) if i >= 0}
    assert all("pixel_domain" not in r.event["data"] for r in results)


def test_a_task_planned_before_cores_existed_counts_the_whole_product(
    east: GeneratedProduct, worker_areas: AreaSet, make_kit: Callable[..., Kit]
) -> None:
    """In flight across the upgrade: its id has the whole-product form and its `area_tiles` promise was
    made on the whole product's labels, so it is counted on those (no `pixel_domain`), or the merger
    would wait forever for results the core leaves out."""
    kit = make_kit(maps=False)
    planned = kit.plan(scene_of(east))
    task = next(t for t in planned if t.event["data"]["window"]["col"] == 100)  # x 699.5-700.5 km: half of it in 31UFT
    d = task.event["data"]
    w = d["window"]
    old_id = stable_id(d["scene_id"], w["row"], w["col"], w["height"], w["width"], d["kernel_version"],
                       d["area_set_version"])
    old = {**task.event, "id": old_id, "data": {**d, "task_id": old_id}}
    whole = worker_areas.labels(_grid(), chunks=(100, 100))[w["row"] : w["row"] + 100, w["col"] : w["col"] + 100]
    results = kit.worker.handle(old)
    assert all("pixel_domain" not in r.event["data"] for r in results)
    assert {r.event["data"]["area_id"]: r.event["data"]["area_pixels"] for r in results} == {
        worker_areas.ids[i]: int((whole == i).sum()) for i in np.unique(whole) if i >= 0}
    cored = kit.worker.handle(task.event)
    assert {r.event["data"]["pixel_domain"] for r in cored} == {CORE_G}
    assert sum(r.event["data"]["area_pixels"] for r in cored) < sum(r.event["data"]["area_pixels"] for r in results)
