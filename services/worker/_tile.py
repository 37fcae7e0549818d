"""One tile task -> per-area class counts (one tile-result message per area, keyed by area id), and the
task's window of the class map and canopy fraction in the results Zarr.

The task's arrays (three bands, SCL, area labels) come from the `Prefetcher`: read ahead on a thread
pool while the previous task is classified (see `_prefetch.py`). Counting uses the area set's global
labels (no per-window remapping), restricted to the task's tile core (`AreaSet.tile_raster`); an area
gets a result when it has at least one pixel of the core in the window, which is the planner's rule
for `area_tiles` as both read the same label raster. Each result names the core it counted
(`pixel_domain`), so the merger can add the day's products of different cores. A task planned before
cores existed (its id is the whole-product form, see `_plan.py`) is counted over the whole product,
as its `area_tiles` promise was made on those labels: tasks in flight across an upgrade complete.

Effects are durable before `handle` returns (maps written, tile outcome in the ledger), so the runtime
may commit; a redelivered task rewrites the same map chunks and sends results with the same ids.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from greenwatch import kernels
from greenwatch.schemas import TILE_RESULT, TILE_TASK, Event, make_event, stable_id
from greenwatch.services import topics
from greenwatch.services.areas import AreaSet, Grid, core_key
from greenwatch.services.errors import PermanentError
from greenwatch.services.ledger import Ledger
from greenwatch.services.runtime import Outgoing
from greenwatch.services.worker._buffers import BufferPool
from greenwatch.services.worker._common import ProductOpener, label_raster, product_grid
from greenwatch.services.worker._composite_trigger import composite_trigger
from greenwatch.services.worker._maps import MapWriter
from greenwatch.services.worker._prefetch import Job, Prefetcher
from greenwatch.services.worker._window import ProductWindows

SOURCE = "greenwatch/worker"
CLASS_NAMES = ("invalid", "water", "tree", "other_green", "not_green")


def software() -> str:
    from importlib.metadata import version  # noqa: PLC0415

    return f"greenwatch {version('greenwatch')}"


def _counted_tile(task: dict[str, Any]) -> str | None:
    """The tile whose core the task counts; None (the whole product) for a task whose id has the
    whole-product form: planned before cores existed, or for a product without one."""
    w = task["window"]
    whole = stable_id(task["scene_id"], w["row"], w["col"], w["height"], w["width"], task["kernel_version"],
                      task["area_set_version"])
    return None if task["task_id"] == whole else str(task["tile"])


class TileWorker:
    name = "worker"
    topics = (topics.TASKS,)

    def __init__(self, *, areas: AreaSet, ledger: Ledger, opener: ProductOpener,
                 params: kernels.ClassifyParams, cache_dir: Path | None = None, threads: int | None = None,
                 maps: MapWriter | None = None, read_threads: int | None = None, prefetch: int = 2,
                 season: tuple[int, int] | None = None) -> None:
        """`threads`: Numba threads of the kernel (None: all); `read_threads`: chunk decoders (None: one
        per core); `prefetch`: tasks read ahead of the one being classified; `maps`: where class maps go
        (None: not written); `season`: (first, last month) of the season composite, asked for when a
        scene of it is complete (None, or no maps: no composites)."""
        self.areas = areas
        self.ledger = ledger
        self.opener = opener
        self.params = params
        self.kernel_version = kernels.kernel_version(params)
        self.cache_dir = cache_dir
        self.threads = threads
        self.maps = maps
        self.season = season if maps is not None else None
        self._software = software()
        self._reads = Prefetcher(read_threads or os.cpu_count() or 1, prefetch)
        self._windows: OrderedDict[str, ProductWindows] = OrderedDict()
        self._buffers = BufferPool(keep_per_shape=3 * (prefetch + 2))

    # -- reading ------------------------------------------------------------------------------------
    def prefetch(self, values: Sequence[bytes]) -> None:
        """Called by the runtime with a polled batch before it is handled: start reading its tasks."""
        upcoming = []
        for value in values:
            # only a hint: plain JSON, no schema validation (the runtime validates each message before
            # `handle`, and a malformed one is dead-lettered there; validating twice cost ~2 ms a task)
            try:
                event = json.loads(value)
                task = event["data"]
                if event["type"] == TILE_TASK.type and self._runs(task):
                    upcoming.append((str(task["task_id"]), partial(self._plan_reads, task)))
            except (ValueError, TypeError, KeyError):
                continue
        self._reads.hint(upcoming)

    def _runs(self, task: dict[str, Any]) -> bool:
        return bool(task["kernel_version"] == self.kernel_version and task["area_set_version"] == self.areas.version)

    def _plan_reads(self, task: dict[str, Any]) -> list[Job]:
        product = self.opener(task["product_href"])
        windows = self._windows.get(task["product_href"])
        if windows is None or windows.product is not product:
            windows = ProductWindows(product, pool=self._buffers)
            self._windows[task["product_href"]] = windows
            while len(self._windows) > 4:
                self._windows.popitem(last=False)
        raster = label_raster(self.areas, product, self.cache_dir, _counted_tile(task))
        w = task["window"]
        r, c, h, wd = w["row"], w["col"], w["height"], w["width"]
        return [*windows.jobs(r, c, h, wd), lambda: raster.window(r, c, h, wd)]

    # -- handling -----------------------------------------------------------------------------------
    def count(self, task: dict[str, Any]) -> tuple[kernels.AreaCounts, Grid]:
        """Read, classify and count one task's window (and write its maps): the data path, without the
        messages and the ledger. Counts are per area of the whole set (global labels)."""
        # ProductReadError (a missing or corrupt chunk) is permanent: dead-lettered at once, with the reason
        b03, b04, b08, scl, labels = self._reads.take(task["task_id"], partial(self._plan_reads, task))
        product = self.opener(task["product_href"])
        grid = product_grid(product)
        radiometry = kernels.radiometry_for(task.get("processing_baseline"), product.scale_factor, product.add_offset)
        counts = kernels.classify_count(
            b03, b04, b08, scl, labels, len(self.areas.ids), radiometry, self.params, threads=self.threads
        )
        if self.maps is not None:
            class_map, canopy = kernels.classify(b03, b04, b08, scl, radiometry, self.params, threads=self.threads)
            self.maps.write(task, grid, product.chunks, class_map, canopy)
        self._buffers.give_back([b03, b04, b08])  # decoded into again by the next tasks' reads
        return counts, grid

    def handle(self, event: Event) -> list[Outgoing]:
        if event["type"] != TILE_TASK.type:
            return []
        task = event["data"]
        if not self._runs(task):
            raise PermanentError(
                f"task made for kernel {task['kernel_version']} / areas {task['area_set_version']}, "
                f"this worker runs {self.kernel_version} / {self.areas.version}: re-run the scene"
            )
        counts, grid = self.count(task)
        core = core_key(_counted_tile(task), grid)  # the core the task's labels were restricted to
        area_pixels = counts.class_counts.sum(axis=1)  # every labelled pixel has a class, INVALID included
        out: list[Outgoing] = []
        for gi in np.nonzero(area_pixels)[0]:
            area_id = self.areas.ids[int(gi)]
            cc = counts.class_counts[gi]
            data = {
                "task_id": task["task_id"],
                "scene_id": task["scene_id"],
                "date": task["date"],
                "tile": task["tile"],
                "area_id": area_id,
                "area_tiles": task["area_tiles"].get(area_id, 1),
                "pixel_area_m2": grid.pixel_area_m2,
                "area_pixels": int(area_pixels[gi]),
                "class_counts": {name: int(cc[k]) for k, name in enumerate(CLASS_NAMES)},
                "valid_count": int(counts.valid[gi]),
                "canopy_fraction_sum": float(counts.canopy_sum[gi]),
                "kernel_version": self.kernel_version,
                "area_set_version": self.areas.version,
                **({} if core is None else {"pixel_domain": core}),
                "provenance": {
                    "product_href": task["product_href"],
                    "software": self._software,
                    "processing_baseline": task.get("processing_baseline"),
                },
            }
            rid = stable_id(task["task_id"], area_id)
            ev = make_event(TILE_RESULT, data, source=SOURCE, subject=area_id, event_id=rid,
                            trace_id=event.get("traceid"))
            out.append(Outgoing(topics.RESULTS, area_id, ev))
        self.ledger.tile_done(task["scene_id"], task["task_id"])
        return out + composite_trigger(self.ledger, task, self.season, trace_id=event.get("traceid"))

    def on_dead_letter(self, event: Event | None, reason: str) -> None:
        if event is not None and event["type"] == TILE_TASK.type:
            self.ledger.tile_failed(event["data"]["scene_id"], event["data"]["task_id"], reason)

    def close(self) -> None:
        self._reads.close()
