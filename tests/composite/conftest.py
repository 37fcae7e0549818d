"""A tiny tile for the compositor: two areas on a 12 x 16 px grid inside MGRS 31UFT's core, chunked
4 x 8 (two of the six chunks touch no area), and hand-made class maps written with the worker's
MapWriter, scenes recorded in a ledger like the planner and the tile worker record them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyproj
import pytest

from greenwatch.services.areas import AreaSet, Grid
from greenwatch.services.composite import Compositor
from greenwatch.services.ledger import Ledger
from greenwatch.services.store import SqliteStore
from greenwatch.services.worker._maps import NOT_PROCESSED, MapWriter

KERNEL = "s2-ndvi-1.0.0+test"
TILE = "31UFT"
X0, Y0 = 640000.0, 5770000.0
GRID = Grid(crs="EPSG:32631", transform=(10.0, 0.0, X0, 0.0, -10.0, Y0), shape=(12, 16))
CHUNKS = (4, 8)
SEASON = (5, 9)
# (id, x from, x to, y from, y to) in pixel edges: A rows 0-7 x cols 0-7, B rows 4-11 x cols 8-15
BOXES = (("A", 0, 8, 0, 8), ("B", 8, 16, 4, 12))


def _areas(path: Path) -> AreaSet:
    to_lonlat = pyproj.Transformer.from_crs("EPSG:32631", "EPSG:4326", always_xy=True)
    features = []
    for code, c0, c1, r0, r1 in BOXES:
        ring = [(X0 + 10 * c, Y0 - 10 * r) for c, r in ((c0, r0), (c1, r0), (c1, r1), (c0, r1), (c0, r0))]
        lonlat = [list(to_lonlat.transform(x, y)) for x, y in ring]
        features.append({"type": "Feature", "properties": {"gemeentecode": code, "gemeentenaam": f"Area {code}"},
                         "geometry": {"type": "Polygon", "coordinates": [lonlat]}})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return AreaSet.load(path, name="tiny")


@dataclass
class Tiny:
    root: Path
    areas: AreaSet
    store: SqliteStore
    ledger: Ledger
    maps: MapWriter
    scenes: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def compositor(self, min_valid_dates: int = 3) -> Compositor:
        return Compositor(store=self.store, ledger=self.ledger, areas=self.areas, maps_root=self.maps.root,
                          season=SEASON, min_valid_dates=min_valid_dates, threads=1, read_threads=2)

    def add_scene(self, scene_id: str, date: str, cls: np.ndarray, frac: np.ndarray, *, kernel: str = KERNEL,
                  complete: bool = True, skip_chunks: Iterable[tuple[int, int]] = ()) -> None:
        """Write a scene's maps chunk by chunk (as its tile tasks would, leaving out `skip_chunks` and the
        chunks that touch no area) and record it in the ledger."""
        scene = {"scene_id": scene_id, "datetime": f"{date}T10:46:19Z", "mgrs_tile": TILE}
        self.ledger.discovered(scene)
        labels = self.areas.label_raster(GRID, CHUNKS).full()
        skip = set(skip_chunks)
        ch, cw = CHUNKS
        n = 0
        for i in range(GRID.shape[0] // ch):
            for j in range(GRID.shape[1] // cw):
                win = (slice(i * ch, (i + 1) * ch), slice(j * cw, (j + 1) * cw))
                if (labels[win] < 0).all():
                    continue
                n += 1
                task = {"tile": TILE, "date": date, "scene_id": scene_id, "kernel_version": kernel,
                        "product_href": f"file:///{scene_id}.zarr",
                        "window": {"row": i * ch, "col": j * cw, "height": ch, "width": cw}}
                if (i, j) not in skip:  # a skipped chunk: its task ran, its map chunk is lost
                    self.maps.write(task, GRID, CHUNKS, cls[win], frac[win])
                self.ledger.tile_done(scene_id, f"t{i}{j}")
        self.ledger.planned(scene_id, n + (0 if complete else 1), kernel)
        self.scenes[scene_id] = (cls, frac)


@pytest.fixture
def tiny(tmp_path: Path) -> Tiny:
    store = SqliteStore(tmp_path / "state.db")
    return Tiny(tmp_path, _areas(tmp_path / "areas.geojson"), store, Ledger(store), MapWriter(str(tmp_path / "maps")))


def random_maps(seed: int, valid_share: float = 0.7) -> tuple[np.ndarray, np.ndarray]:
    """A class map (0..4, a few 255 'not processed' pixels) and its canopy fraction (NaN where the class
    is invalid, 0 on water), as the classification kernel writes them."""
    rng = np.random.default_rng(seed)
    cls = rng.integers(1, 5, GRID.shape).astype(np.uint8)
    cls[rng.random(GRID.shape) > valid_share] = 0
    cls[rng.random(GRID.shape) < 0.03] = NOT_PROCESSED
    frac = rng.random(GRID.shape).astype(np.float32)
    frac[(cls == 0) | (cls == NOT_PROCESSED)] = np.nan
    frac[cls == 1] = 0.0
    return cls, frac
