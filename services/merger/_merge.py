"""Tile results -> observations. Idempotent per (scene, tile, area): a contribution is stored under its
key before anything else, and every output is recomputed from the stored contributions, so a result
delivered twice changes nothing."""

from __future__ import annotations

from datetime import date
from typing import Any

from greenwatch.schemas import OBSERVATION, TILE_RESULT, Event, make_event, stable_id
from greenwatch.services import topics
from greenwatch.services.runtime import Outgoing
from greenwatch.services.store import Doc, Store
from greenwatch.services.store.timeseries import TimeSeriesStore

SOURCE = "greenwatch/merger"
CONTRIB = "contributions"
GREEN = ("tree", "other_green", "water")


def observation_from(area_id: str, day: str, scenes: list[list[Doc]], min_valid_fraction: float) -> Doc | None:
    """The observation of one area on one day from the complete scenes of that day (each a list of its
    tile results). Overlapping products of one day (neighbouring MGRS tiles) see the same pixels, so
    rather than adding them up, the product with the most valid pixels is used ("one product per
    pixel per day"; a per-pixel mosaic is future work) and `n_products` says how many there were."""
    if not scenes:
        return None

    def totals(parts: list[Doc]) -> dict[str, Any]:
        cc = {k: sum(p["class_counts"][k] for p in parts) for k in parts[0]["class_counts"]}
        return {
            "cc": cc,
            "valid": sum(p["valid_count"] for p in parts),
            "canopy": sum(p["canopy_fraction_sum"] for p in parts),
            "pixels": sum(p.get("area_pixels", 0) for p in parts),
            "pixel_area": parts[0]["pixel_area_m2"],
            "kernel": parts[0]["kernel_version"],
            "scene": parts[0]["scene_id"],
        }

    best = max((totals(s) for s in scenes), key=lambda t: (t["valid"], t["scene"]))
    area_m2 = best["pixels"] * best["pixel_area"]
    valid = best["valid"]
    share = (lambda n: n / valid) if valid else (lambda n: 0.0)
    valid_fraction = valid / best["pixels"] if best["pixels"] else 0.0
    return {
        "area_id": area_id,
        "date": day,
        "series": "sentinel-2",
        "green_area_m2": share(sum(best["cc"][k] for k in GREEN)) * area_m2,
        "canopy_area_m2": share(best["canopy"]) * area_m2,
        "water_area_m2": share(best["cc"]["water"]) * area_m2,
        "area_m2": area_m2,
        "valid_fraction": min(1.0, valid_fraction),
        "usable": valid_fraction >= min_valid_fraction,
        "n_products": len(scenes),
        "kernel_version": best["kernel"],
        "scene_ids": sorted({s[0]["scene_id"] for s in scenes}),
    }


class Merger:
    name = "merger"
    topics = (topics.RESULTS,)

    def __init__(self, *, store: Store, series: TimeSeriesStore, min_valid_fraction: float = 0.6,
                 excluded_scene: Any = None) -> None:
        self.store = store
        self.series = series
        self.min_valid_fraction = min_valid_fraction
        self.excluded_scene = excluded_scene or (lambda scene_id: False)

    def handle(self, event: Event) -> list[Outgoing]:
        if event["type"] != TILE_RESULT.type:
            return []
        r = event["data"]
        area, day = r["area_id"], r["date"]
        self.store.put(CONTRIB, f"{area}/{day}/{r['scene_id']}/{r['task_id']}", r)
        by_scene: dict[str, list[Doc]] = {}
        for _, doc in self.store.scan(CONTRIB, f"{area}/{day}/"):
            by_scene.setdefault(doc["scene_id"], []).append(doc)
        complete = [
            parts for sid, parts in sorted(by_scene.items())
            if len(parts) >= parts[0]["area_tiles"] and not self.excluded_scene(sid)
        ]
        if r["scene_id"] not in {p[0]["scene_id"] for p in complete}:
            return []  # this area's observation waits for the scene's other tiles
        obs = observation_from(area, day, complete, self.min_valid_fraction)
        if obs is None:
            return []
        self.series.write(area, date.fromisoformat(day), {
            "green_area_m2": obs["green_area_m2"], "canopy_area_m2": obs["canopy_area_m2"],
            "water_area_m2": obs["water_area_m2"], "area_m2": obs["area_m2"],
            "valid_fraction": obs["valid_fraction"], "usable": int(obs["usable"]),
            "n_products": obs["n_products"], "kernel_version": obs["kernel_version"],
        })
        ev = make_event(OBSERVATION, obs, source=SOURCE, subject=area,
                        event_id=stable_id("obs", area, day, *obs["scene_ids"]), trace_id=event.get("traceid"))
        return [Outgoing(topics.OBSERVATIONS, area, ev)]
