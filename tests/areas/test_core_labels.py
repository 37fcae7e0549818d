"""Label rasters restricted to a tile's core: pixels outside it are "no area", the chunk index follows,
and a raster built without a core is never reused for one (memory or Zarr cache), nor the reverse."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyproj
import pytest

from greenwatch.services.areas import AreaSet, Grid, domain_for
from greenwatch.services.areas._labels import cache_path, index_chunks

# 100 m pixels around Nijmegen / Mook en Middelaar, across the 700 km easting of zone 31 (31UFT | 31UGT)
GRID = Grid("EPSG:32631", (100.0, 0.0, 690_000.0, 0.0, -100.0, 5_760_000.0), (300, 220))
CHUNKS = (100, 100)


@pytest.fixture(scope="module")
def areas() -> AreaSet:
    return AreaSet.load()


def test_labels_outside_the_core_are_no_area(areas: AreaSet) -> None:
    core = domain_for("31UGT", GRID)
    assert core is not None
    whole = areas.labels(GRID, chunks=CHUNKS)
    restricted = areas.labels(GRID, chunks=CHUNKS, domain=core)
    inside = core.mask(0, 0, *GRID.shape)
    assert np.array_equal(restricted, np.where(inside, whole, -1))
    assert inside.any() and not inside.all() and (whole[~inside] >= 0).any()  # something was cut
    nijmegen = areas.index("GM0268")  # x 690-700 km: wholly in 31UFT's core
    assert (whole == nijmegen).any() and not (restricted == nijmegen).any()
    raster = areas.label_raster(GRID, CHUNKS, domain=core)
    assert raster.chunk_areas == index_chunks(restricted, CHUNKS)
    assert nijmegen not in {a for ids in raster.chunk_areas.values() for a in ids}
    assert raster.pixel_domain == "EPSG:32631/700000/5700000"
    assert areas.label_raster(GRID, CHUNKS).pixel_domain is None
    # the two cores split the area set's pixels west of 6 E without loss or overlap (east of it: zone 32)
    west = domain_for("31UFT", GRID)
    assert west is not None
    other = areas.labels(GRID, chunks=CHUNKS, domain=west)
    assert not ((restricted >= 0) & (other >= 0)).any()
    a, _, c, _, e, f = GRID.transform
    xs, ys = np.meshgrid(c + a * (np.arange(220) + 0.5), f + e * (np.arange(300) + 0.5))
    lon, _ = pyproj.Transformer.from_crs(32631, 4326, always_xy=True).transform(xs, ys)
    zone31 = lon < 6.0
    assert np.array_equal(inside | west.mask(0, 0, *GRID.shape), zone31) and not zone31.all()
    assert np.array_equal(np.maximum(restricted, other), np.where(zone31, whole, -1))


def test_a_core_made_for_another_grid_is_refused(areas: AreaSet) -> None:
    shifted = Grid(GRID.crs, (100.0, 0.0, 690_100.0, 0.0, -100.0, 5_760_000.0), GRID.shape)
    core = domain_for("31UGT", shifted)
    assert core is not None
    with pytest.raises(ValueError, match="made for grid"):
        areas.label_raster(GRID, CHUNKS, domain=core)


def test_cached_rasters_with_and_without_a_core_never_collide(areas: AreaSet, tmp_path: Path) -> None:
    core = domain_for("31UGT", GRID)
    assert core is not None
    cache = tmp_path / "cache"
    whole = AreaSet.load().label_raster(GRID, CHUNKS, cache)
    restricted = AreaSet.load().label_raster(GRID, CHUNKS, cache, core)
    assert not whole.in_memory and not restricted.in_memory
    plain, cored = cache_path(cache, areas.version, GRID, CHUNKS), cache_path(cache, areas.version, GRID, CHUNKS, core)
    assert plain != cored and plain.is_dir() and cored.is_dir()
    attrs = json.loads((cored / "zarr.json").read_text())["attributes"]
    assert (attrs["pixel_domain"], attrs["domain_rule"]) == ("EPSG:32631/700000/5700000", "mgrs-core-v1")
    expected_whole, expected_core = areas.labels(GRID, chunks=CHUNKS), areas.labels(GRID, chunks=CHUNKS, domain=core)
    assert not np.array_equal(expected_whole, expected_core)
    # new processes (fresh area sets) read each from its own store
    assert np.array_equal(AreaSet.load().label_raster(GRID, CHUNKS, cache).full(), expected_whole)
    assert np.array_equal(AreaSet.load().label_raster(GRID, CHUNKS, cache, core).full(), expected_core)
    assert AreaSet.load().label_raster(GRID, CHUNKS, cache, core).chunk_areas == index_chunks(expected_core, CHUNKS)
    # a whole-product store put where the core's belongs (a bug, a hand copy) is not trusted: rebuilt
    shutil.rmtree(cored)
    shutil.copytree(plain, cored)
    again = AreaSet.load().label_raster(GRID, CHUNKS, cache, core)
    assert np.array_equal(again.full(), expected_core) and again.pixel_domain == core.key
    # and the reverse: a core's store in the whole raster's place
    shutil.rmtree(plain)
    shutil.copytree(cored, plain)
    assert np.array_equal(AreaSet.load().label_raster(GRID, CHUNKS, cache).full(), expected_whole)


def test_in_memory_rasters_are_kept_per_core(areas: AreaSet) -> None:
    east, west = domain_for("31UGT", GRID), domain_for("31UFT", GRID)
    assert east is not None and west is not None
    got = {k: areas.label_raster(GRID, CHUNKS, domain=d) for k, d in (("none", None), ("east", east), ("west", west))}
    assert len({id(r) for r in got.values()}) == 3
    assert got["east"].pixel_domain == east.key and got["west"].pixel_domain == west.key
    assert areas.label_raster(GRID, CHUNKS, domain=domain_for("31UGT", GRID)) is not got["none"]
