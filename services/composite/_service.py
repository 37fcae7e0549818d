"""Composite tasks in, one annual-composite event per area out (to `observations`, keyed by area).

A task names a tile and a year. The compositor lists the scenes of that tile-year inside the season
window that have class maps, keeps those the ledger calls complete and that were classified by the
task's kernel (superseded, failed and incomplete scenes are left out), and computes the per-pixel
composite of exactly that set (`_compute`). What it was computed from is recorded per (tile, year,
kernel) in table `composites_done` once the bus has acknowledged the events (`after_flush`): a task
that finds the same set (another worker saw the scene complete too, a redelivery) costs one read and
sends nothing; a crash before the record leaves it unrecorded, so the redelivered task computes and
sends the same events again (same ids). Tasks are keyed by tile/year, so one compositor at a time
handles a tile-year: the record has a single writer.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from greenwatch.schemas import ANNUAL_COMPOSITE, COMPOSITE_TASK, Event, make_event, stable_id
from greenwatch.services import metrics, topics
from greenwatch.services.areas import AreaSet
from greenwatch.services.composite._compute import COMPOSITE_VERSION, CompositeCounts, composite_counts
from greenwatch.services.composite._read import SceneMaps, list_scene_maps, open_scene_maps
from greenwatch.services.errors import PermanentError
from greenwatch.services.ledger import Ledger
from greenwatch.services.runtime import Outgoing
from greenwatch.services.store import Doc, Store
from greenwatch.services.trend._annual import in_season
from greenwatch.services.worker._composite_trigger import composite_key

log = logging.getLogger(__name__)
SOURCE = "greenwatch/composite"
DONE = "composites_done"
CLASS_NAMES = ("invalid", "water", "tree", "other_green", "not_green")


class Compositor:
    name = "composite"
    topics = (topics.COMPOSITE_TASKS,)

    def __init__(self, *, store: Store, ledger: Ledger, areas: AreaSet, maps_root: str, season: tuple[int, int],
                 min_valid_dates: int = 3, cache_dir: Path | None = None, threads: int | None = None,
                 read_threads: int = 4) -> None:
        """`maps_root`: the worker's class maps (work.maps_path); `season`: (first, last month), the
        trend's window; `threads`: Numba threads of the composite kernels (None: all cores)."""
        if min_valid_dates < 1:
            raise ValueError("min_valid_dates must be at least 1")
        self.store = store
        self.ledger = ledger
        self.areas = areas
        self.maps_root = maps_root
        self.season = season
        self.min_valid_dates = min_valid_dates
        self.cache_dir = cache_dir
        self.threads = threads
        self.read_threads = read_threads
        self._pending: dict[str, Doc] = {}

    def handle(self, event: Event) -> list[Outgoing]:
        if event["type"] != COMPOSITE_TASK.type:
            return []
        task = event["data"]
        if task["area_set_version"] != self.areas.version:
            raise PermanentError(f"composite task made for areas {task['area_set_version']}, this compositor "
                                 f"has {self.areas.version}: re-run the scenes")
        tile, year, kernel = task["tile"], int(task["year"]), task["kernel_version"]
        scenes = self.scenes(tile, year, kernel)
        if not scenes:
            metrics.COMPOSITES.labels("no_scenes").inc()
            return []
        key = f"{composite_key(tile, year)}/{kernel}"
        record = {"scene_ids": sorted(s for _, s in scenes), "area_set_version": self.areas.version,
                  "season": list(self.season), "min_valid_dates": self.min_valid_dates,
                  "composite_version": COMPOSITE_VERSION}
        if self._pending.get(key) == record or self.store.get(DONE, key) == record:
            metrics.COMPOSITES.labels("up_to_date").inc()
            return []
        started = time.perf_counter()
        out = self._compute(task, scenes, event.get("traceid"))
        seconds = time.perf_counter() - started
        metrics.COMPOSITES.labels("computed").inc()
        metrics.COMPOSITE_SECONDS.observe(seconds)
        log.debug("composite %s %d: %d scenes, %d areas in %.1f s", tile, year, len(scenes), len(out), seconds)
        self._pending[key] = record
        return out

    def after_flush(self) -> None:
        for key, record in self._pending.items():
            self.store.put(DONE, key, record)
        self._pending = {}

    def scenes(self, tile: str, year: int, kernel: str) -> list[tuple[str, str]]:
        """(date, scene id) of the tile-year's composited scenes: in the season, with maps, complete in
        the ledger and classified by `kernel`."""
        out = []
        for date, scene_id in list_scene_maps(self.maps_root, tile, year):
            if not in_season(int(date[5:7]), self.season):
                continue
            doc = self.ledger.get(scene_id)
            if doc is not None and doc.get("state") == "complete" and doc.get("kernel_version") == kernel:
                out.append((date, scene_id))
        return out

    def valid_dates_needed(self, maps: list[SceneMaps]) -> int:
        """`min_valid_dates`, but at most half the season's dates (rounded up): in a sparse season (the
        demo's four dates) three clear dates of four leave a cloud-shaped sample of each area, whose
        green share then moved by 2-2.7 pp from year to year in unchanged areas against 0.5-0.7 pp with
        two (issue 6 report); in a dense one (Sentinel-2 gives some 30 dates from May to September) the
        configured value holds."""
        return max(1, min(self.min_valid_dates, (len({m.date for m in maps}) + 1) // 2))

    def _compute(self, task: dict[str, Any], scenes: list[tuple[str, str]], trace: str | None) -> list[Outgoing]:
        tile = task["tile"]
        maps = [open_scene_maps(self.maps_root, tile, d, s) for d, s in scenes]
        grid, chunks = maps[0].grid, maps[0].chunks
        for m in maps[1:]:
            if (m.grid, m.chunks) != (grid, chunks):
                raise PermanentError(f"maps of scene {m.scene_id} ({m.grid}, chunks {m.chunks}) differ from those of "
                                     f"{maps[0].scene_id} ({grid}, chunks {chunks}): one tile, one grid expected")
        # the tile worker's labels (its MGRS core: overlapping tiles never count a pixel twice); no core:
        # the whole grid, and then one tile must cover an area alone (trend)
        raster = self.areas.tile_raster(tile, grid, chunks, self.cache_dir)
        counts = composite_counts(maps, raster, len(self.areas.ids), self.valid_dates_needed(maps),
                                  threads=self.threads, read_threads=self.read_threads)
        return self._events(task, maps, counts, raster.pixel_domain, grid.pixel_area_m2, trace)

    def _events(self, task: dict[str, Any], maps: list[SceneMaps], counts: CompositeCounts, domain: str | None,
                pixel_area_m2: float, trace: str | None) -> list[Outgoing]:
        tile, year, kernel = task["tile"], int(task["year"]), task["kernel_version"]
        scene_ids = sorted(m.scene_id for m in maps)
        needed = self.valid_dates_needed(maps)
        area_pixels, valid = counts.area_pixels, counts.valid
        out = []
        for gi in (int(i) for i in area_pixels.nonzero()[0]):
            area_id = self.areas.ids[gi]
            data = {
                "area_id": area_id, "year": year, "tile": tile, "pixel_domain": domain,
                "season": list(self.season), "scene_ids": scene_ids, "n_dates": len({m.date for m in maps}),
                "min_valid_dates": needed,
                "class_counts": {name: int(counts.class_counts[gi, k]) for k, name in enumerate(CLASS_NAMES)},
                "valid_count": int(valid[gi]), "canopy_fraction_sum": float(counts.canopy_sum[gi]),
                "tree_canopy_fraction_sum": float(counts.tree_canopy_sum[gi]),
                "area_pixels": int(area_pixels[gi]), "pixel_area_m2": pixel_area_m2, "kernel_version": kernel,
                "composite_version": COMPOSITE_VERSION, "area_set_version": self.areas.version,
            }
            eid = stable_id("annual-composite", area_id, year, tile, kernel, self.areas.version, COMPOSITE_VERSION,
                            *self.season, needed, *scene_ids)
            ev = make_event(ANNUAL_COMPOSITE, data, source=SOURCE, subject=area_id, event_id=eid, trace_id=trace)
            out.append(Outgoing(topics.OBSERVATIONS, area_id, ev))
        return out
