"""End to end on the embedded bus: two overlapping products of neighbouring MGRS tiles (31UFT, 31UGT) on
the same day, and a municipality across the 700 km easting between their cores. The merged
observation counts every pixel of the area once, more than either product alone, from both products;
redelivery changes nothing.

Mook en Middelaar (GM0944) spans x 697.7-702.9 km of UTM 31N, west of 6 E (~707 km at its latitude),
so 31UFT's core holds its western part and 31UGT's core its eastern part. The products are 10 km
windows centred 3.5 km west and east of the line: x 691.5-701.5 km and 698.5-708.5 km, overlapping
by 3 km; neither holds the whole area, their union does. (The east window also reaches past 6 E,
where 31UGT's core ends: pixels there belong to zone 32's cores, which no product here covers.)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyproj
import pytest
import xarray as xr

from greenwatch.services.app import App, drain
from greenwatch.services.ops import rerun_scenes
from greenwatch.services.sampledata import GeneratedProduct, Grid, Scenario, default_areas_path, generate
from greenwatch.services.sampledata._areas import area_masks, load_areas
from greenwatch.services.stac import serve_stac

from ..conftest import settings_for

pytestmark = pytest.mark.stac

AREA, DAY = "GM0944", date(2025, 7, 1)
CORE_F, CORE_G = "EPSG:32631/600000/5700000", "EPSG:32631/700000/5700000"
_LONLAT = pyproj.Transformer.from_crs(32631, 4326, always_xy=True)


def _centre(x: float, y: float) -> tuple[float, float]:
    lon, lat = _LONLAT.transform(x, y)
    return (float(lon), float(lat))


WEST = Scenario(centre=_centre(696_500, 5_737_000), size=1000, chunk=500, dates=(DAY,), tile="31UFT",
                change_area=None, cloud_fraction=0.0, nodata_edge=False)
EAST = WEST.replace(centre=_centre(703_500, 5_737_000), tile="31UGT")


@dataclass
class Run:
    app: App
    west: GeneratedProduct
    east: GeneratedProduct


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    root = tmp_path_factory.mktemp("overlap")
    (west,) = generate(root / "west", WEST)
    (east,) = generate(root / "east", EAST)
    with serve_stac([root / "west" / "stac" / "collection.json", west.item_path, east.item_path]) as url:
        app = App.build(settings_for(root / "run", url))
        report = app.watcher().poll()
        assert report.published == 2 and report.dead_lettered == 0
        drain(app, app.services())
        yield Run(app, west, east)


def _union_truth() -> tuple[int, int]:
    """The area's pixels inside either window, each counted once, and those inside both: counted on a
    grid spanning both windows (they share the 10 m lattice: origins snap to 20 m) with the sampledata
    truth's own rasterizer, not greenwatch's."""
    w, e = WEST.grid(), EAST.grid()
    assert (w.x0 - e.x0) % 10 == 0 and (w.y1 - e.y1) % 10 == 0
    x0, y1 = min(w.x0, e.x0), max(w.y1, e.y1)
    x1, y0 = max(w.bounds[2], e.bounds[2]), min(w.bounds[1], e.bounds[1])
    union = Grid(epsg=32631, x0=x0, y1=y1, width=round((x1 - x0) / 10), height=round((y1 - y0) / 10))
    masks = area_masks(load_areas(default_areas_path(), union), union)
    (mask,) = [m.full(union.shape) for m in masks if m.code == AREA]
    xs, ys = np.meshgrid(union.x_centres(), union.y_centres())

    def inside(g: Grid) -> np.ndarray:
        xmin, ymin, xmax, ymax = g.bounds
        return (xs > xmin) & (xs < xmax) & (ys > ymin) & (ys < ymax)

    in_w, in_e = inside(w), inside(e)
    return int((mask & (in_w | in_e)).sum()), int((mask & in_w & in_e).sum())


def _valid_by_scene(app: App) -> dict[str, tuple[int, set[str | None]]]:
    out: dict[str, tuple[int, set[str | None]]] = {}
    for _, doc in app.store.scan("contributions", f"{AREA}/{DAY.isoformat()}/"):
        n, cores = out.get(doc["scene_id"], (0, set()))
        out[doc["scene_id"]] = (n + doc["valid_count"], cores | {doc.get("pixel_domain")})
    return out


def test_the_day_s_products_are_added_core_by_core_each_pixel_once(run: Run) -> None:
    once, overlap = _union_truth()
    full_w, full_e = run.west.area_truth[AREA].pixels, run.east.area_truth[AREA].pixels
    # no clouds, no fill: every pixel of the area a product holds is valid
    assert run.west.area_truth[AREA].observed_pixels == full_w and run.east.area_truth[AREA].observed_pixels == full_e
    assert full_w + full_e - overlap == once  # the truths agree with each other
    by_scene = _valid_by_scene(run.app)
    assert {s: cores for s, (_, cores) in by_scene.items()} == {run.west.item_id: {CORE_F}, run.east.item_id: {CORE_G}}
    core_w, core_e = by_scene[run.west.item_id][0], by_scene[run.east.item_id][0]
    obs = run.app.store.get("merged", f"{AREA}/{DAY.isoformat()}")
    assert obs is not None
    assert obs["n_products"] == 2 and obs["used_scene_ids"] == sorted([run.west.item_id, run.east.item_id])
    merged = core_w + core_e
    assert merged == once  # each pixel of the area counted once
    assert merged > max(core_w, core_e) and merged > max(full_w, full_e)  # more than either product alone
    # the old rules: adding the whole products counts the 3 km overlap twice; the best single product
    # (the old "one product per area and day") misses the part only the other one holds
    assert full_w + full_e == once + overlap and overlap > 10_000
    assert obs["valid_fraction"] == pytest.approx(min(1.0, merged * 100.0 / obs["area_m2"]))
    assert obs["usable"] and obs["coverage"] > 0.95
    print(f"\n{AREA} on {DAY}: west product {full_w} px (core {core_w}), east {full_e} px (core {core_e}); "
          f"merged {merged}, truth counted once {once}; whole products added {full_w + full_e} "
          f"(overlap {overlap} twice); best single product {max(full_w, full_e)}")


def _series(app: App) -> xr.Dataset:
    """The area's time series (only its chunks: the whole store is 343 areas x 26 years)."""
    return xr.open_zarr(Path(app.settings.data_dir) / "series.zarr").sel(area=[AREA]).load()


def test_redelivering_both_scenes_changes_nothing(run: Run) -> None:
    before, obs = _series(run.app), run.app.store.get("merged", f"{AREA}/{DAY.isoformat()}")
    contributions = dict(run.app.store.scan("contributions", f"{AREA}/"))
    assert rerun_scenes(run.app) == 2
    drain(run.app, run.app.services())
    xr.testing.assert_identical(before, _series(run.app))
    assert int(before["n_products"].sel(area=AREA, time=np.datetime64(DAY))) == 2
    assert run.app.store.get("merged", f"{AREA}/{DAY.isoformat()}") == obs
    assert dict(run.app.store.scan("contributions", f"{AREA}/")) == contributions
