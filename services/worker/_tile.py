"""One tile task -> per-area class counts (one tile-result message per area, keyed by area id)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from greenwatch import kernels
from greenwatch.schemas import TILE_RESULT, TILE_TASK, Event, make_event, stable_id
from greenwatch.services import topics
from greenwatch.services.areas import AreaSet
from greenwatch.services.errors import PermanentError
from greenwatch.services.ledger import Ledger
from greenwatch.services.runtime import Outgoing
from greenwatch.services.worker._common import ProductOpener, area_labels

SOURCE = "greenwatch/worker"
CLASS_NAMES = ("invalid", "water", "tree", "other_green", "not_green")


def software() -> str:
    from importlib.metadata import version  # noqa: PLC0415

    return f"greenwatch {version('greenwatch')}"


class TileWorker:
    name = "worker"
    topics = (topics.TASKS,)

    def __init__(self, *, areas: AreaSet, ledger: Ledger, opener: ProductOpener,
                 params: kernels.ClassifyParams, cache_dir: Path | None = None, threads: int | None = None) -> None:
        self.areas = areas
        self.ledger = ledger
        self.opener = opener
        self.params = params
        self.kernel_version = kernels.kernel_version(params)
        self.cache_dir = cache_dir
        self.threads = threads
        self._software = software()

    def handle(self, event: Event) -> list[Outgoing]:
        if event["type"] != TILE_TASK.type:
            return []
        task = event["data"]
        if task["kernel_version"] != self.kernel_version or task["area_set_version"] != self.areas.version:
            raise PermanentError(
                f"task made for kernel {task['kernel_version']} / areas {task['area_set_version']}, "
                f"this worker runs {self.kernel_version} / {self.areas.version}: re-run the scene"
            )
        product = self.opener(task["product_href"])
        grid, labels = area_labels(self.areas, product, self.cache_dir)
        win = task["window"]
        r, c, h, w = win["row"], win["col"], win["height"], win["width"]
        b03, b04, b08, scl = product.read_window(r, c, h, w)  # ProductReadError: dead-lettered at once
        window_labels = labels[r : r + h, c : c + w]
        present = np.unique(window_labels)
        present = present[present >= 0]
        lut = np.full(len(self.areas.ids) + 1, -1, dtype=np.int32)
        lut[present + 1] = np.arange(len(present), dtype=np.int32)
        local = lut[window_labels + 1]
        radiometry = kernels.radiometry_for(task.get("processing_baseline"), product.scale_factor, product.add_offset)
        counts = kernels.classify_count(
            b03, b04, b08, scl, local, len(present), radiometry, self.params, threads=self.threads
        )
        area_pixels = np.bincount(local[local >= 0].ravel(), minlength=len(present))
        out: list[Outgoing] = []
        for j, gi in enumerate(present):
            area_id = self.areas.ids[int(gi)]
            cc = counts.class_counts[j]
            data = {
                "task_id": task["task_id"],
                "scene_id": task["scene_id"],
                "date": task["date"],
                "tile": task["tile"],
                "area_id": area_id,
                "area_tiles": task["area_tiles"].get(area_id, 1),
                "pixel_area_m2": grid.pixel_area_m2,
                "area_pixels": int(area_pixels[j]),
                "class_counts": {name: int(cc[k]) for k, name in enumerate(CLASS_NAMES)},
                "valid_count": int(counts.valid[j]),
                "canopy_fraction_sum": float(counts.canopy_sum[j]),
                "kernel_version": self.kernel_version,
                "area_set_version": self.areas.version,
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
        return out

    def on_dead_letter(self, event: Event | None, reason: str) -> None:
        if event is not None and event["type"] == TILE_TASK.type:
            self.ledger.tile_failed(event["data"]["scene_id"], event["data"]["task_id"], reason)
