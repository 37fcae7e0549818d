"""Scene -> tile tasks aligned to the product's chunk grid, only for chunks that touch an area.

"Touch" is judged on the labels restricted to the scene's tile core (see `_common.py`): a chunk of
the tile's overlap with a neighbour that holds no pixel of the core gets no task. The core is part of
the task id, so tasks planned before cores existed (whole-product labels) never share ids, results or
contributions with tasks planned with them.
"""

from __future__ import annotations

from pathlib import Path

from greenwatch.schemas import SCENE_DISCOVERED, SCENE_SUPERSEDED, TILE_TASK, Event, make_event, stable_id
from greenwatch.services import topics
from greenwatch.services.areas import AreaSet
from greenwatch.services.ledger import Ledger
from greenwatch.services.runtime import Outgoing
from greenwatch.services.worker._common import ProductOpener, label_raster, product_grid

SOURCE = "greenwatch/planner"


class Planner:
    name = "planner"
    topics = (topics.SCENES,)

    def __init__(self, *, areas: AreaSet, ledger: Ledger, opener: ProductOpener, kernel_version: str,
                 cache_dir: Path | None = None) -> None:
        self.areas = areas
        self.ledger = ledger
        self.opener = opener
        self.kernel_version = kernel_version
        self.cache_dir = cache_dir

    def handle(self, event: Event) -> list[Outgoing]:
        if event["type"] == SCENE_SUPERSEDED.type:
            self.ledger.superseded(event["data"]["scene_id"], event["data"]["superseded_by"])
            return []
        if event["type"] != SCENE_DISCOVERED.type:
            return []
        scene = event["data"]
        if scene["product_kind"] != "s2-l2a-eopf-zarr":
            return []  # the official CLMS layers are planned by their own ingest step
        doc = self.ledger.get(scene["scene_id"])
        if doc is not None and doc.get("state") == "superseded":
            return []
        if doc is None:
            self.ledger.discovered(scene)
        product = self.opener(scene["product_href"])
        tile = scene.get("mgrs_tile") or product_grid(product).key
        raster = label_raster(self.areas, product, self.cache_dir, tile)
        grid = raster.grid
        ch, cw = product.chunks
        height, width = grid.shape
        windows: list[tuple[int, int, int, int, list[str]]] = []
        area_tiles: dict[str, int] = {}
        for row in range(0, height, ch):
            for col in range(0, width, cw):
                h, w = min(ch, height - row), min(cw, width - col)
                ids = [self.areas.ids[i] for i in raster.areas_in(row, col, h, w)]
                if not ids:
                    continue
                windows.append((row, col, h, w, ids))
                for a in ids:
                    area_tiles[a] = area_tiles.get(a, 0) + 1
        out: list[Outgoing] = []
        date = scene["datetime"][:10]
        core = () if raster.pixel_domain is None else (raster.pixel_domain,)
        for row, col, h, w, ids in windows:
            task_id = stable_id(scene["scene_id"], row, col, h, w, self.kernel_version, self.areas.version, *core)
            data = {
                "task_id": task_id,
                "scene_id": scene["scene_id"],
                "product_href": scene["product_href"],
                "product_kind": scene["product_kind"],
                "processing_baseline": scene.get("processing_baseline"),
                "date": date,
                "tile": tile,
                "crs": grid.crs,
                "window": {"row": row, "col": col, "height": h, "width": w},
                "kernel_version": self.kernel_version,
                "area_set": self.areas.name,
                "area_set_version": self.areas.version,
                "n_tiles": len(windows),
                "area_tiles": {a: area_tiles[a] for a in ids},
            }
            ev = make_event(TILE_TASK, data, source=SOURCE, subject=task_id, event_id=task_id,
                            trace_id=event.get("traceid"))
            out.append(Outgoing(topics.TASKS, scene["scene_id"], ev))
        self.ledger.planned(scene["scene_id"], len(windows), self.kernel_version)
        return out

    def on_dead_letter(self, event: Event | None, reason: str) -> None:
        if event is not None and event["type"] == SCENE_DISCOVERED.type:
            scene_id = event["data"]["scene_id"]
            if self.ledger.get(scene_id) is None:
                self.ledger.discovered(event["data"])
            self.ledger.failed(scene_id, reason)
