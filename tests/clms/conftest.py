"""Hand-built CLMS rasters and areas on the LAEA grid, and a way to run the official-series chain
(planner -> tile worker -> official series) by calling `handle` directly, without a bus."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pyproj
import pytest

from greenwatch.schemas import SCENE_DISCOVERED, Event, make_event
from greenwatch.services.app import App, drain
from greenwatch.services.areas import AreaSet
from greenwatch.services.clms import ClmsPlanner, ClmsTileWorker, OfficialSeries
from greenwatch.services.config import ClmsSettings, Settings, SourceSettings, WatchSettings
from greenwatch.services.ledger import Ledger
from greenwatch.services.runtime import Outgoing
from greenwatch.services.sampledata import Scenario, Truth, build_truth, generate
from greenwatch.services.sampledata.clms import generate_clms, write_geotiff
from greenwatch.services.stac import serve_stac
from greenwatch.services.store import SqliteStore

# the Kafka fixtures (a broker named by GREENWATCH_TEST_KAFKA, a topic prefix and group per test)
from ..integration.conftest import kafka_bootstrap, kafka_group, kafka_kit, kafka_prefix  # noqa: F401

# The golden grid: two 10 x 6 px tiles side by side on the 10 m LAEA lattice.
X0, Y1 = 4_000_000.0, 3_200_000.0
WEST = (10.0, 0.0, X0, 0.0, -10.0, Y1)
EAST = (10.0, 0.0, X0 + 100.0, 0.0, -10.0, Y1)
# Area rectangles in LAEA metres (x0, x1, y0, y1). Pixel centres lie at 5, 15, 25 ... m from the
# origin; every edge is at least 2 m from a centre, so the pixel-centre rule decides without doubt.
RECTS = {
    # x 3..47 m: centres 5..45 -> cols 0-4 (col 0 and col 4 only partly covered: counted, their centre
    # is inside); y -43..-2 m: centres -5..-35 -> rows 0-3 (row 4's centre -45 is outside) -> 20 px
    "A": (X0 + 3, X0 + 47, Y1 - 43, Y1 - 2),
    # x 72..128 m: cols 7-9 of WEST and cols 0-2 of EAST; y -58..-12: rows 1-5 -> 6 x 5 = 30 px
    "B": (X0 + 72, X0 + 128, Y1 - 58, Y1 - 12),
}


def _ring(x0: float, x1: float, y0: float, y1: float) -> list[list[float]]:
    to_ll = pyproj.Transformer.from_crs("EPSG:3035", "EPSG:4326", always_xy=True)
    xs, ys = [x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0]
    lon, lat = to_ll.transform(xs, ys)
    return [[float(a), float(b)] for a, b in zip(lon, lat, strict=True)]


def write_areas(path: Path, rects: dict[str, tuple[float, float, float, float]]) -> AreaSet:
    feats = [{"type": "Feature", "properties": {"id": k, "name": f"area {k}"},
              "geometry": {"type": "Polygon", "coordinates": [_ring(*r)]}} for k, r in rects.items()]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), encoding="utf-8")
    return AreaSet.load(path, id_property="id", name_property="name", name="golden")


def tcd_tiles() -> tuple[np.ndarray, np.ndarray]:
    west = np.full((6, 10), 40, np.uint8)
    west[0, 0], west[1, 1], west[2, 2], west[3, 3] = 255, 254, 100, 0  # in A
    west[1, 7] = 255  # in B (west part)
    east = np.full((6, 10), 80, np.uint8)
    east[5, 2] = 254  # in B (east part)
    return west, east


def clcplus_tiles() -> tuple[np.ndarray, np.ndarray]:
    west = np.full((6, 10), 6, np.uint8)
    west[0:4, 0:5] = [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10], [11, 0, 253, 254, 255], [3, 3, 3, 6, 6]]  # A
    east = np.full((6, 10), 3, np.uint8)
    return west, east


def scene(scene_id: str, kind: str, year: int, href: str) -> dict[str, Any]:
    return {"scene_id": scene_id, "item_id": scene_id, "collection": kind, "stac_api": "test", "product_kind": kind,
            "datetime": f"{year}-01-01T00:00:00Z", "updated": None, "product_href": href, "zarr_format": None,
            "processing_baseline": None, "mgrs_tile": None, "crs": "EPSG:3035", "bbox": [4.0, 50.0, 5.0, 51.0],
            "cloud_cover": None, "datatake_id": None}


def scene_event(data: dict[str, Any]) -> Event:
    return make_event(SCENE_DISCOVERED, data, source="test", subject=data["scene_id"], event_id=data["scene_id"])


@dataclass
class Chain:
    """The three official-series handlers over one store, fed by hand."""

    areas: AreaSet
    store: SqliteStore
    planner: ClmsPlanner
    worker: ClmsTileWorker
    official: OfficialSeries
    root: Path

    def run(self, ev: Event) -> list[Outgoing]:
        """One scene through planner, tile worker and official series; returns the observations."""
        obs: list[Outgoing] = []
        for task in self.planner.handle(ev):
            for result in self.worker.handle(task.event):
                obs += self.official.handle(result.event)
        return obs

    def tile(self, name: str, layer: str, year: int, data: np.ndarray, transform: tuple[float, ...]) -> Event:
        path = write_geotiff(self.root / f"{name}.tif", data, transform, kind=layer)  # type: ignore[arg-type]
        return scene_event(scene(name, f"clms-{layer}", year, path.as_uri()))


@pytest.fixture
def chain(tmp_path: Path) -> Chain:
    """Zarr chunks of 4 x 4 px: each tile is 6 windows, so areas span several tasks of one scene."""
    areas = write_areas(tmp_path / "areas.geojson", RECTS)
    store = SqliteStore(tmp_path / "state.db")
    ledger = Ledger(store)
    planner = ClmsPlanner(areas=areas, ledger=ledger, zarr_root=str(tmp_path / "zarr"), chunk=4)
    worker = ClmsTileWorker(areas=areas, ledger=ledger)
    return Chain(areas, store, planner, worker, OfficialSeries(store=store, areas=areas), tmp_path)



# -- a small end-to-end run: Sentinel-2 and CLMS from the same truth, served by real STAC APIs ----------

NIEUWEGEIN = "GM0356"
# An 8 km window around Nieuwegein (wholly inside), two summer dates a year 2024-2026; the scripted
# canopy loss (60 % of its tree pixels) from 2026. Official layers: TCD 2024 and CLC+ 2023 only.
E2E = Scenario(centre=(5.096, 52.030), size=800, chunk=400, cloud_fraction=0.05,
               dates=(date(2024, 6, 10), date(2024, 7, 15), date(2025, 6, 12), date(2025, 7, 20),
                      date(2026, 6, 14), date(2026, 7, 19)))


@dataclass
class E2ERun:
    app: App
    truth: Truth
    report: Any


@pytest.fixture(scope="session")
def e2e(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2ERun]:
    root = tmp_path_factory.mktemp("clms-e2e")
    truth = build_truth(E2E)
    generate(root / "s2", E2E, truth=truth)
    generate_clms(root, E2E, truth=truth, tcd_years=(2024,), clcplus_years=(2023,))
    s2_items = sorted((root / "s2" / "stac" / "items").glob("*.json"))
    with serve_stac([root / "s2" / "stac" / "collection.json", *s2_items]) as s2_url, \
            serve_stac([root / "clms" / "stac"]) as clms_url:
        settings = Settings(data_dir=root / "var", clms=ClmsSettings(chunk=500), watch=WatchSettings(sources=[
            SourceSettings(url=s2_url, collection="sentinel-2-l2a-zarr3", max_cloud_cover=100.0, start="2024-01-01"),
            SourceSettings(url=clms_url, collection="clms-tcd", product_kind="clms-tcd", start="2018-01-01"),
            SourceSettings(url=clms_url, collection="clms-clcplus", product_kind="clms-clcplus", start="2018-01-01"),
        ]))
        app = App.build(settings)
        report = app.watcher().poll()
        drain(app, app.services())
    yield E2ERun(app, truth, report)
    app.close()
