"""Label rasters: the pixel-centre rule (against point-in-polygon and the sampledata truth's independent
rasterizer), the chunk index, and the Zarr cache keyed by area-set version, grid and chunking."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import Polygon, box

from greenwatch.services.areas import BUILTIN_AREAS, AreaSet, Grid, rasterize
from greenwatch.services.areas import _areaset as areaset_module
from greenwatch.services.areas._labels import cache_path, index_chunks
from greenwatch.services.sampledata import Scenario
from greenwatch.services.sampledata._areas import area_masks, load_areas

from ..conftest import SMALL


@pytest.fixture(scope="module")
def areas() -> AreaSet:
    return AreaSet.load()


def _grid(scenario: Scenario, res: float = 10.0) -> Grid:
    g = scenario.grid()
    n = round(g.width * 10.0 / res)
    return Grid(g.crs, (res, 0.0, g.x0, 0.0, -res, g.y1), (n, n))


def test_scanline_equals_point_in_polygon(areas: AreaSet) -> None:
    """60 km around Utrecht at 100 m: every valid municipality, first one wins, vs shapely.contains_xy."""
    grid = _grid(SMALL.replace(size=6000), res=100.0)
    geoms = areas.projected(grid.crs)
    a, _, c, _, e, f = grid.transform
    h, w = grid.shape
    window = box(c, f + e * h, c + a * w, f)
    keep = [g if g.is_valid and g.intersects(window) else None for g in geoms]
    assert sum(g is not None for g in keep) > 30
    got = rasterize(keep, grid.transform, grid.shape)
    xs, ys = np.meshgrid(c + a * (np.arange(w) + 0.5), f + e * (np.arange(h) + 0.5))
    want = np.full(grid.shape, -1, np.int32)
    for i, g in enumerate(keep):
        if g is not None:
            inside = shapely.contains_xy(g, xs, ys) & (want == -1)
            want[inside] = i
    assert np.array_equal(got, want)


def test_labels_equal_the_sampledata_truths_independent_rasterizer(areas: AreaSet) -> None:
    sg = SMALL.grid()
    labels = areas.labels(Grid(sg.crs, sg.transform, sg.shape))
    truth = np.full(sg.shape, -1, np.int32)
    for m in area_masks(load_areas(BUILTIN_AREAS, sg), sg):
        truth[m.rows, m.cols][m.mask] = areas.index(m.code)
    assert len(np.unique(truth)) > 5
    assert np.array_equal(labels, truth)


def test_shared_edges_holes_and_overlaps() -> None:
    grid_t, shape = (1.0, 0.0, 0.0, 0.0, -1.0, 10.0), (10, 10)
    # two squares sharing the edge x = 4.5, which runs through pixel centres (4.5, y)
    left, right = box(0.5, 0.5, 4.5, 9.5), box(4.5, 0.5, 9.5, 9.5)
    alone_left = rasterize([left], grid_t, shape) == 0
    alone_right = rasterize([right], grid_t, shape) == 0
    union = rasterize([box(0.5, 0.5, 9.5, 9.5)], grid_t, shape) == 0
    assert not (alone_left & alone_right).any()  # a centre on the shared edge belongs to one side only
    assert np.array_equal(alone_left | alone_right, union) and union.sum() == 81  # none lost either
    assert alone_right[1:, 4].all() and not alone_left[:, 4].any()
    donut = Polygon([(0, 0), (10, 0), (10, 10), (0, 10)], [[(3, 3), (7, 3), (7, 7), (3, 7)]])
    labels = rasterize([donut, box(0, 0, 10, 10)], grid_t, shape)
    assert (labels[3:7, 3:7] == 1).all() and (labels == 0).sum() == 100 - 16  # hole -> the next polygon
    assert (rasterize([box(-5, -5, 5, 5), box(0, 0, 10, 10)], grid_t, shape)[5:, :5] == 0).all()  # first wins


@pytest.mark.parametrize("transform", [(10.0, 1.0, 0.0, 0.0, -10.0, 0.0), (10.0, 0.0, 0.0, 0.0, 10.0, 0.0)])
def test_rotated_or_south_up_grids_are_refused(transform: tuple[float, ...]) -> None:
    with pytest.raises(ValueError):
        rasterize([box(0, 0, 1, 1)], transform, (4, 4))  # type: ignore[arg-type]


def test_chunk_index_lists_the_areas_of_each_chunk(areas: AreaSet) -> None:
    sg = SMALL.grid()
    grid = Grid(sg.crs, sg.transform, sg.shape)
    raster = areas.label_raster(grid, (610, 610))
    full = raster.full()
    for i in range(3):
        for j in range(3):
            block = full[i * 610 : (i + 1) * 610, j * 610 : (j + 1) * 610]
            assert raster.chunk_areas.get((i, j), ()) == tuple(int(v) for v in np.unique(block) if v >= 0)
    assert raster.areas_in(0, 0, 1220, 1830) == tuple(sorted({*np.unique(full[:1220])} - {-1}))
    assert index_chunks(np.full((4, 4), -1, np.int32), (2, 2)) == {}


def _small_set(tmp_path: Path, n: int = 40, name: str = "a.geojson") -> Path:
    doc = json.loads(BUILTIN_AREAS.read_text(encoding="utf-8"))
    keep = [f for f in doc["features"] if f["properties"]["gemeentecode"] in
            {"GM0344", "GM0356", "GM0353", "GM0321", "GM0310", "GM0307"}]
    path = tmp_path / name
    path.write_text(json.dumps({"type": "FeatureCollection", "features": keep}))
    return path


def test_the_cache_is_written_once_and_read_by_window(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sg = SMALL.grid()
    grid = Grid(sg.crs, sg.transform, sg.shape)
    cache = tmp_path / "cache"
    src = _small_set(tmp_path)
    first = AreaSet.load(src).label_raster(grid, (610, 610), cache)
    assert not first.in_memory
    stored = cache_path(cache, AreaSet.load(src).version, grid, (610, 610))
    assert (stored / "zarr.json").is_file() and not list(stored.parent.glob(".*tmp"))

    def no_rasterizing(*_: object) -> None:
        raise AssertionError("rasterized again although the cache is valid")

    monkeypatch.setattr(areaset_module, "rasterize", no_rasterizing)
    again = AreaSet.load(src).label_raster(grid, (610, 610), cache)  # a new process: reads the cache
    monkeypatch.undo()
    reference = AreaSet.load(src).labels(grid)
    for r, c, h, w in [(0, 0, 610, 610), (610, 1220, 610, 610), (100, 50, 700, 33)]:
        assert np.array_equal(again.window(r, c, h, w), reference[r : r + h, c : c + w])
    assert again.chunk_areas == first.chunk_areas


def test_a_new_version_or_a_damaged_cache_is_rasterized_again(tmp_path: Path) -> None:
    sg = SMALL.grid()
    grid = Grid(sg.crs, sg.transform, sg.shape)
    cache = tmp_path / "cache"
    src = _small_set(tmp_path)
    old = AreaSet.load(src)
    old.label_raster(grid, (610, 610), cache)
    doc = json.loads(src.read_text())
    doc["features"] = doc["features"][1:]  # an edited area set
    src.write_text(json.dumps(doc))
    new = AreaSet.load(src)
    assert new.version != old.version
    raster = new.label_raster(grid, (610, 610), cache)
    assert cache_path(cache, new.version, grid, (610, 610)).is_dir()
    assert np.array_equal(raster.full(), new.labels(grid))
    # a cache whose attributes do not match (here: made for other chunks) is not trusted
    path = cache_path(cache, new.version, grid, (610, 610))
    meta = json.loads((path / "zarr.json").read_text())
    meta["attributes"]["chunks"] = [1, 1]
    (path / "zarr.json").write_text(json.dumps(meta))
    rebuilt = AreaSet.load(src).label_raster(grid, (610, 610), cache)
    assert np.array_equal(rebuilt.full(), new.labels(grid))
    assert json.loads((path / "zarr.json").read_text())["attributes"]["chunks"] == [610, 610]
    # a leftover temporary store from a crashed writer is ignored
    shutil.copytree(path, path.with_name(f".{path.name}.dead.tmp"))
    assert np.array_equal(AreaSet.load(src).label_raster(grid, (610, 610), cache).full(), new.labels(grid))
