"""CLMS scene -> ingested Zarr -> tile tasks; and one tile task -> per-area counts.

The same shape as the Sentinel-2 planner and tile worker (services/worker): the planner records the
scene in the ledger, rasterizes the areas on the layer's LAEA grid (AreaSet.labels, cached per
grid), and emits one `tile-task` per Zarr chunk that touches an area; the tile worker reads that
window, runs the layer's kernel (`tcd_count` or `clcplus_count`, the fused per-area aggregation
path) and emits one `tile-result` per area. Both run on their own topics (`clms-tasks`,
`clms-results`), so Sentinel-2 services never receive them.

With an urban centres and clusters (UCC) area set (`services/areas/_ucc.py`: each area ∩ UCC, same
ids) the tile worker counts every window a second time with the UCC set's labels and emits those
results marked `"part": "ucc"` (Art. 8(1), second subparagraph: the exclusion shares are over the
UCC). The same kernel counts both parts, so they differ only in which pixels they take. The UCC
results are emitted before the whole-area ones of the same window, so by the time an area's whole
figure completes its UCC figure is complete too (its windows are a subset) and the official
observation goes out once, with both.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from greenwatch import kernels
from greenwatch.schemas import SCENE_DISCOVERED, TILE_RESULT, TILE_TASK, Event, make_event, stable_id
from greenwatch.services import topics
from greenwatch.services.areas import AreaSet, Grid
from greenwatch.services.clms._common import (
    CLMS_RESULTS,
    CLMS_TASKS,
    LAEA,
    LAYER_OF_KIND,
    kernel_version,
    official_date,
)
from greenwatch.services.clms._geotiff import ingest, zarr_dest
from greenwatch.services.clms._items import tile_of
from greenwatch.services.errors import PermanentError
from greenwatch.services.ledger import Ledger
from greenwatch.services.runtime import Outgoing

PLAN_SOURCE = "greenwatch/clms-planner"
TILE_SOURCE = "greenwatch/clms-worker"
CLASS_NAMES = ("invalid", "water", "tree", "other_green", "not_green")  # PixelClass order (tile-result/v1)


def software() -> str:
    from importlib.metadata import version  # noqa: PLC0415

    return f"greenwatch {version('greenwatch')}"


def array_grid(arr: zarr.Array[Any]) -> Grid:
    t = [float(v) for v in arr.attrs["transform"]]  # type: ignore[union-attr, arg-type]
    return Grid(crs=str(arr.attrs.get("crs", LAEA)), transform=(t[0], t[1], t[2], t[3], t[4], t[5]),
                shape=(int(arr.shape[0]), int(arr.shape[1])))


class ClmsPlanner:
    name = "clms-planner"
    topics = (topics.SCENES,)

    def __init__(self, *, areas: AreaSet, ledger: Ledger, zarr_root: str, chunk: int = 1000,
                 tcd_tree_threshold: int = kernels.TCD_TREE_THRESHOLD, cache_dir: Path | None = None,
                 allowed_href_schemes: tuple[str, ...] = ("file", "https", "s3")) -> None:
        self.areas = areas
        self.ledger = ledger
        self.zarr_root = zarr_root
        self.chunk = chunk
        self.tcd_tree_threshold = tcd_tree_threshold
        self.cache_dir = cache_dir
        self.allowed = set(allowed_href_schemes)

    def handle(self, event: Event) -> list[Outgoing]:
        if event["type"] != SCENE_DISCOVERED.type:
            return []
        scene = event["data"]
        layer = LAYER_OF_KIND.get(scene["product_kind"])
        if layer is None:
            return []  # Sentinel-2 scenes are planned by services/worker
        doc = self.ledger.get(scene["scene_id"])
        if doc is not None and doc.get("state") == "superseded":
            return []
        if doc is None:
            self.ledger.discovered(scene)
        href = scene["product_href"]
        scheme = href.split("://", 1)[0] if "://" in href else "file"
        if scheme not in self.allowed:
            raise PermanentError(f"href scheme {scheme!r} not allowed (allowed: {sorted(self.allowed)})")
        dest = zarr_dest(self.zarr_root, layer, scene["scene_id"])
        arr = ingest(href, dest, layer, chunk=self.chunk)
        grid = array_grid(arr)
        ch, cw = arr.chunks
        raster = self.areas.label_raster(grid, (ch, cw), self.cache_dir)  # areas on the LAEA grid, cached
        windows: list[tuple[int, int, int, int, list[str]]] = []
        area_tiles: dict[str, int] = {}
        for (i, j), present in sorted(raster.chunk_areas.items()):
            row, col = i * ch, j * cw
            h, w = min(ch, grid.shape[0] - row), min(cw, grid.shape[1] - col)
            ids = [self.areas.ids[k] for k in present]
            windows.append((row, col, h, w, ids))
            for a in ids:
                area_tiles[a] = area_tiles.get(a, 0) + 1
        version = kernel_version(layer, self.tcd_tree_threshold)
        tile = tile_of(scene, f"X{grid.transform[2]:.0f}Y{grid.transform[5]:.0f}")
        day = official_date(int(scene["datetime"][:4]))
        out: list[Outgoing] = []
        for row, col, h, w, ids in windows:
            task_id = stable_id(scene["scene_id"], row, col, h, w, version, self.areas.version)
            data = {
                "task_id": task_id, "scene_id": scene["scene_id"], "product_href": dest,
                "product_kind": scene["product_kind"], "processing_baseline": None, "date": day, "tile": tile,
                "crs": LAEA, "window": {"row": row, "col": col, "height": h, "width": w},
                "kernel_version": version, "area_set": self.areas.name, "area_set_version": self.areas.version,
                "n_tiles": len(windows), "area_tiles": {a: area_tiles[a] for a in ids},
            }
            ev = make_event(TILE_TASK, data, source=PLAN_SOURCE, subject=task_id, event_id=task_id,
                            trace_id=event.get("traceid"))
            out.append(Outgoing(CLMS_TASKS, scene["scene_id"], ev))
        self.ledger.planned(scene["scene_id"], len(windows), version)
        return out

    def on_dead_letter(self, event: Event | None, reason: str) -> None:
        if event is None or event["type"] != SCENE_DISCOVERED.type:
            return
        scene = event["data"]
        if scene.get("product_kind") not in LAYER_OF_KIND:
            return
        if self.ledger.get(scene["scene_id"]) is None:
            self.ledger.discovered(scene)
        self.ledger.failed(scene["scene_id"], reason)


class ClmsTileWorker:
    name = "clms-worker"
    topics = (CLMS_TASKS,)

    def __init__(self, *, areas: AreaSet, ledger: Ledger, tcd_tree_threshold: int = kernels.TCD_TREE_THRESHOLD,
                 cache_dir: Path | None = None, threads: int | None = None, keep_open: int = 4,
                 ucc: AreaSet | None = None) -> None:
        if ucc is not None and ucc.ids != areas.ids:
            raise ValueError(f"the UCC set {ucc.name} is not derived from {areas.name} (ids differ)")
        self.areas = areas
        self.ucc = ucc
        self.ledger = ledger
        self.tcd_tree_threshold = tcd_tree_threshold
        self.cache_dir = cache_dir
        self.threads = threads
        self._open: OrderedDict[str, zarr.Array[Any]] = OrderedDict()
        self._keep = keep_open
        self._lock = threading.Lock()
        self._software = software()

    def _array(self, href: str) -> zarr.Array[Any]:
        with self._lock:
            if href in self._open:
                self._open.move_to_end(href)
                return self._open[href]
        try:
            arr = zarr.open_array(href, mode="r")
        except FileNotFoundError:
            raise PermanentError(f"{href}: ingested layer not found; re-run the scene") from None
        if not arr.attrs.get("complete"):
            raise PermanentError(f"{href}: ingest did not complete; re-run the scene")
        with self._lock:
            self._open[href] = arr
            while len(self._open) > self._keep:
                self._open.popitem(last=False)
        return arr

    def handle(self, event: Event) -> list[Outgoing]:
        if event["type"] != TILE_TASK.type:
            return []
        task = event["data"]
        layer = LAYER_OF_KIND.get(task["product_kind"])
        if layer is None:
            return []
        version = kernel_version(layer, self.tcd_tree_threshold)
        if task["kernel_version"] != version or task["area_set_version"] != self.areas.version:
            raise PermanentError(
                f"task made for kernel {task['kernel_version']} / areas {task['area_set_version']}, "
                f"this worker runs {version} / {self.areas.version}: re-run the scene"
            )
        arr = self._array(task["product_href"])
        grid = array_grid(arr)
        raster = self.areas.label_raster(grid, (arr.chunks[0], arr.chunks[1]), self.cache_dir)
        win = task["window"]
        r, c, h, w = win["row"], win["col"], win["height"], win["width"]
        values = np.asarray(arr[r : r + h, c : c + w], dtype=np.uint8)
        out: list[Outgoing] = []
        if self.ucc is not None:  # first: see the module docstring
            ucc = self.ucc.label_raster(grid, (arr.chunks[0], arr.chunks[1]), self.cache_dir)
            tiles = part_tiles(raster.chunk_areas, ucc.chunk_areas)
            out += self._results(event, layer, values, ucc.window(r, c, h, w), self.ucc,
                                 {self.ucc.ids[k]: n for k, n in tiles.items()}, grid, part="ucc")
        out += self._results(event, layer, values, raster.window(r, c, h, w), self.areas, task["area_tiles"], grid)
        self.ledger.tile_done(task["scene_id"], task["task_id"])
        return out

    def _results(self, event: Event, layer: str, values: np.ndarray, labels: np.ndarray, areas: AreaSet,
                 area_tiles: dict[str, int], grid: Grid, part: str | None = None) -> list[Outgoing]:
        """One `tile-result` per area present in the window's `labels` (of `areas`)."""
        task = event["data"]
        if not (labels >= 0).any():
            return []  # no UCC in this window (the whole-area labels always have one: a task exists)
        counts, present, area_pixels = _count(layer, values, labels, len(areas.ids), self.tcd_tree_threshold,
                                              self.threads)
        out: list[Outgoing] = []
        for j, gi in enumerate(present):
            area_id = areas.ids[int(gi)]
            cc = counts.class_counts[j]
            data: dict[str, Any] = {
                "task_id": task["task_id"], "scene_id": task["scene_id"], "date": task["date"],
                "tile": task["tile"], "area_id": area_id, "area_tiles": area_tiles.get(area_id, 1),
                "pixel_area_m2": grid.pixel_area_m2, "area_pixels": int(area_pixels[j]),
                "class_counts": {name: int(cc[k]) for k, name in enumerate(CLASS_NAMES)},
                "valid_count": int(counts.valid[j]), "canopy_fraction_sum": float(counts.canopy_sum[j]),
                "kernel_version": counts.version, "area_set_version": areas.version,
                "provenance": {"product_href": task["product_href"], "software": self._software,
                               "processing_baseline": None},
            }
            if part is not None:
                data["part"] = part
            key = (task["task_id"], area_id) if part is None else (task["task_id"], area_id, part, areas.version)
            ev = make_event(TILE_RESULT, data, source=TILE_SOURCE, subject=area_id, event_id=stable_id(*key),
                            trace_id=event.get("traceid"))
            out.append(Outgoing(CLMS_RESULTS, area_id, ev))
        return out

    def on_dead_letter(self, event: Event | None, reason: str) -> None:
        if event is not None and event["type"] == TILE_TASK.type and event["data"]["product_kind"] in LAYER_OF_KIND:
            self.ledger.tile_failed(event["data"]["scene_id"], event["data"]["task_id"], reason)


def part_tiles(planned: dict[tuple[int, int], tuple[int, ...]],
               part: dict[tuple[int, int], tuple[int, ...]]) -> dict[int, int]:
    """Per area index, how many of the scene's tasks touch its part (the UCC piece): the planner
    makes one task per chunk that touches an area (`planned`, the area raster's chunk index), so a
    part is counted in the chunks where its own raster has pixels AND a task exists. A UCC piece
    lies inside its area, so it touches a subset of the area's tasks; counted, never assumed equal.
    The worker counts this itself from the two chunk indexes (the same for every worker of the
    same area-set versions, grid and chunking): tile-task v1 carries one `area_tiles` map."""
    out: dict[int, int] = {}
    for chunk, present in part.items():
        if chunk in planned:
            for k in present:
                out[k] = out.get(k, 0) + 1
    return out


def _count(layer: str, values: np.ndarray, window_labels: np.ndarray, n_areas: int, threshold: int,
           threads: int | None) -> tuple[kernels.AreaCounts, np.ndarray, np.ndarray]:
    """Per-area counts in one window, with labels renumbered to the areas present (as the S2 worker)."""
    present = np.unique(window_labels)
    present = present[present >= 0]
    lut = np.full(n_areas + 1, -1, dtype=np.int32)
    lut[present + 1] = np.arange(len(present), dtype=np.int32)
    local = lut[window_labels + 1]
    if layer == "tcd":
        counts = kernels.tcd_count(values, local, len(present), tree_threshold=threshold, threads=threads)
    else:
        counts = kernels.clcplus_count(values, local, len(present), threads=threads)
    area_pixels = np.bincount(local[local >= 0].ravel(), minlength=len(present))
    return counts, present, area_pixels
