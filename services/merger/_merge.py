"""Tile results -> observations. Idempotent per (scene, tile, area): a contribution is stored under its
key before anything else, and every output is recomputed from the stored contributions, so a result
delivered twice changes nothing (the same observation, with the same id, is sent again and
downstream consumers drop or overwrite it).

One product per pixel per day. Neighbouring MGRS tiles overlap (by 9.8 km inside a UTM zone, more
across zone edges), so on one day several products see the same pixels of an area. The workers
count each product only over its tile's *core* (the MGRS 100 km square within its UTM zone's
6-degree strip, `greenwatch.services.areas.domain_for`), and each tile result names that core
(`pixel_domain`). Cores are disjoint and cover the globe, so per (area, day) the merger takes the
best complete product of each core (the most valid pixels: this also settles two products of the
same tile on one day) and ADDS the cores' counts: an area across a tile edge is assembled from
several products, each pixel counted once.

Products without a core (no MGRS tile id, a grid outside the tile's zone, or results from before
cores existed) may overlap anything, so they are never added to another product: each is a
candidate on its own, against the mosaic of the cored products, and the candidate with the most
valid pixels is used (today's "best of" rule, which is what it was for every product). The mosaic
only adds products of one kernel and area-set version (figures of different classifications are not
summed); with several, each is a candidate.

`n_products` says how many products were counted, `used_scene_ids` which, `selected_scene_id` the
one contributing the most valid pixels, and `scene_ids` every complete product of the day (part of
the observation id, which stays deterministic: the same stored contributions give the same id). The
figures are scaled to the whole area (the polygon's area, `area_m2`, the same on every date), and
`valid_fraction` is measured against the whole area, so products that cover only part of an area
give a low valid fraction and an unusable observation instead of a partial count passed off as the
whole.

A scene re-run with another kernel (or area set, or after cores were introduced) leaves the old
contributions in place under other task ids; each scene's contributions are grouped by (kernel, area
set, core) and one complete group is used: the incoming result's kernel first, a cored group before
one without, else the newest kernel's.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import zarr

from greenwatch.schemas import OBSERVATION, TILE_RESULT, Event, make_event, stable_id
from greenwatch.services import topics
from greenwatch.services.runtime import Outgoing
from greenwatch.services.store import Doc, Store
from greenwatch.services.store.timeseries import TimeSeriesStore

SOURCE = "greenwatch/merger"
CONTRIB = "contributions"
MERGED = "merged"
GREEN = ("tree", "other_green", "water")


def _totals(parts: list[Doc]) -> dict[str, Any]:
    cc = {k: sum(p["class_counts"][k] for p in parts) for k in parts[0]["class_counts"]}
    return {
        "cc": cc,
        "valid": sum(p["valid_count"] for p in parts),
        "canopy": sum(p["canopy_fraction_sum"] for p in parts),
        "pixels": sum(p.get("area_pixels", 0) for p in parts),
        "pixel_area": parts[0]["pixel_area_m2"],
        "kernel": parts[0]["kernel_version"],
        "area_set": parts[0].get("area_set_version", ""),
        "core": parts[0].get("pixel_domain"),
        "scene": parts[0]["scene_id"],
    }


def _candidates(products: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The ways to count the day without counting a pixel twice: per (kernel, area set), the mosaic of
    the best product of each core; and every product without a core on its own."""
    best: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    alone: list[list[dict[str, Any]]] = []
    for t in products:
        if t["core"] is None:
            alone.append([t])
            continue
        cores = best.setdefault((t["kernel"], t["area_set"]), {})
        held = cores.get(t["core"])
        if held is None or (t["valid"], t["scene"]) > (held["valid"], held["scene"]):
            cores[t["core"]] = t
    mosaics = [sorted(cores.values(), key=lambda t: t["scene"]) for _, cores in sorted(best.items())]
    return mosaics + alone


def observation_from(area_id: str, day: str, scenes: list[list[Doc]], min_valid_fraction: float,
                     area_m2: float | None = None) -> Doc | None:
    """The observation of one area on one day from the complete products of that day (each a list of
    its tile results): the candidate (a mosaic of disjoint cores, or one product without a core) with
    the most valid pixels of the area, scaled to `area_m2` (the whole area; without it, the pixels the
    products saw)."""
    if not scenes:
        return None
    products = [_totals(s) for s in scenes]
    used = max(_candidates(products),
               key=lambda c: (sum(t["valid"] for t in c), tuple(t["scene"] for t in c)))
    selected = max(used, key=lambda t: (t["valid"], t["scene"]))
    pixel_area = selected["pixel_area"]

    def total(get: Any) -> Any:  # in pixels of `pixel_area` (10 m Sentinel-2 products: all alike)
        return sum(get(t) * (1 if t["pixel_area"] == pixel_area else t["pixel_area"] / pixel_area) for t in used)

    valid = total(lambda t: t["valid"])
    seen_m2 = total(lambda t: t["pixels"]) * pixel_area
    whole = area_m2 if area_m2 else seen_m2
    share = (lambda n: n / valid) if valid else (lambda n: 0.0)
    valid_fraction = min(1.0, valid * pixel_area / whole) if whole else 0.0
    return {
        "area_id": area_id,
        "date": day,
        "series": "sentinel-2",
        "green_area_m2": share(total(lambda t: sum(t["cc"][k] for k in GREEN))) * whole,
        "canopy_area_m2": share(total(lambda t: t["canopy"])) * whole,
        "water_area_m2": share(total(lambda t: t["cc"]["water"])) * whole,
        "area_m2": whole,
        "valid_fraction": valid_fraction,
        "coverage": min(1.0, seen_m2 / whole) if whole else 0.0,
        "usable": valid_fraction >= min_valid_fraction,
        "n_products": len(used),
        "selected_scene_id": selected["scene"],
        "used_scene_ids": sorted(t["scene"] for t in used),
        "kernel_version": selected["kernel"],
        "scene_ids": sorted({s[0]["scene_id"] for s in scenes}),
    }


def complete_products(contributions: list[Doc], prefer_kernel: str | None) -> list[list[Doc]]:
    """Per scene, one complete group of tile results (all `area_tiles` of one kernel, area set and core):
    of `prefer_kernel` if complete, a cored group before one without, else the newest kernel's."""
    groups: dict[str, dict[tuple[str, str, str], list[Doc]]] = {}
    for doc in contributions:
        key = (doc["kernel_version"], doc["area_set_version"], doc.get("pixel_domain") or "")
        groups.setdefault(doc["scene_id"], {}).setdefault(key, []).append(doc)
    out = []
    for _scene, by_kernel in sorted(groups.items()):
        done = {k: parts for k, parts in by_kernel.items() if len(parts) >= parts[0]["area_tiles"]}
        if not done:
            continue
        out.append(done[max(done, key=lambda k: (k[0] == prefer_kernel, k[2] != "", k))])
    return out


class Merger:
    """Handles tile results (topic `results`, keyed by area: one merger owns each area's contributions,
    merged observations and time-series chunks). An observation identical to the one already written
    (table `merged`, checked against the Zarr cell) is sent again but not rewritten: redelivered
    results cost a store read, not eight chunk rewrites."""

    name = "merger"
    topics = (topics.RESULTS,)

    def __init__(self, *, store: Store, series: TimeSeriesStore, min_valid_fraction: float = 0.6,
                 excluded_scene: Any = None, area_m2: dict[str, float] | None = None) -> None:
        self.store = store
        self.series = series
        self.min_valid_fraction = min_valid_fraction
        self.excluded_scene = excluded_scene or (lambda scene_id: False)
        self.area_m2 = area_m2 or {}

    def _in_series(self, area: str, day: str) -> bool:
        """Whether the time series holds an observation for (area, day): it may have been recreated."""
        t = (date.fromisoformat(day) - self.series.start).days
        arr = self.series.group["n_products"]
        return isinstance(arr, zarr.Array) and int(np.asarray(arr[self.series.area_ids.index(area), t])) > 0

    def handle(self, event: Event) -> list[Outgoing]:
        if event["type"] != TILE_RESULT.type:
            return []
        r = event["data"]
        area, day = r["area_id"], r["date"]
        key = f"{area}/{day}/{r['scene_id']}/{r['task_id']}"
        if self.store.get(CONTRIB, key) != r:  # a redelivery costs a read, not a durable write
            self.store.put(CONTRIB, key, r)
        stored = [doc for _, doc in self.store.scan(CONTRIB, f"{area}/{day}/")
                  if not self.excluded_scene(doc["scene_id"])]
        complete = complete_products(stored, r["kernel_version"])
        if r["scene_id"] not in {p[0]["scene_id"] for p in complete}:
            return []  # this area's observation waits for the scene's other tiles
        obs = observation_from(area, day, complete, self.min_valid_fraction, self.area_m2.get(area))
        if obs is None:
            return []
        if self.store.get(MERGED, f"{area}/{day}") != obs or not self._in_series(area, day):
            self.series.write(area, date.fromisoformat(day), {
                "green_area_m2": obs["green_area_m2"], "canopy_area_m2": obs["canopy_area_m2"],
                "water_area_m2": obs["water_area_m2"], "area_m2": obs["area_m2"],
                "valid_fraction": obs["valid_fraction"], "usable": int(obs["usable"]),
                "n_products": obs["n_products"], "kernel_version": obs["kernel_version"],
            })
            self.store.put(MERGED, f"{area}/{day}", obs)  # after the write: a crash in between rewrites
        ev = make_event(OBSERVATION, obs, source=SOURCE, subject=area,
                        event_id=stable_id("obs", area, day, *obs["scene_ids"], obs["kernel_version"]),
                        trace_id=event.get("traceid"))
        return [Outgoing(topics.OBSERVATIONS, area, ev)]
