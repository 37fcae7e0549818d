"""The official series: per-area CLMS layer figures and `observation` messages with series 'official'.

Per area and layer-year (TCD 2024, CLC+ 2023, ...), the figure sums the tile results of every
delivered tile: an area that straddles two product tiles gets its pixels from both. As in the
Sentinel-2 merger, a tile's results count once all of that tile's tasks touching the area are in
(`area_tiles`), and if a tile was delivered twice (a reprocessed version) the last scene id wins.

Figures are shares of the valid pixels, scaled to the whole area, like the Sentinel-2 series:
canopy = sum(TCD %)/100 over valid pixels / valid pixels; green space = CLC+ classes 2-6, 8 and 10
(Article 3(20): trees, shrubs, permanent herbaceous, lichens and mosses, water) / valid pixels. The
area is its pixel count on the pan-European 10 m LAEA lattice (pixel-centre rule), computed once
per area from the whole polygon, so `valid_fraction` = valid pixels / area pixels also says how much
of the area the delivered tiles cover.

One official observation per area and TCD year: canopy from that year's TCD, green space from the
CLC+ vintage nearest in time (the earlier one on a tie; CLC+ is biennial: 2023 serves 2024). It is
dated the first day of the reference year (`official_date`) and re-sent, with a new id, whenever
one of its layers changes (a late tile); consumers keep the latest per (area, date, series).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from greenwatch.schemas import OBSERVATION, TILE_RESULT, Event, make_event, stable_id
from greenwatch.services import topics
from greenwatch.services.areas import AreaSet
from greenwatch.services.areas._rasterize import rasterize
from greenwatch.services.clms._common import CLMS_RESULTS, LAEA, RES_M, SERIES, layer_of_kernel, official_date
from greenwatch.services.errors import PermanentError
from greenwatch.services.runtime import Outgoing
from greenwatch.services.store import Doc, Store

SOURCE = "greenwatch/official"
CONTRIB, LAYERS, AREA_PIXELS = "official_contributions", "official_layers", "official_area_pixels"
GREEN = ("tree", "other_green", "water")


def area_pixels_on_lattice(areas: AreaSet, index: int, projected: list[Any] | None = None) -> int:
    """Pixels of area `index` on the 10 m LAEA lattice: the pixel-centre rule over a grid snapped to
    the lattice around the whole polygon, with earlier areas winning overlaps, exactly as the label
    rasters of any LAEA tile count them."""
    geoms = projected if projected is not None else areas.projected(LAEA)
    geom = geoms[index]
    minx, miny, maxx, maxy = geom.bounds
    x0, y1 = np.floor(minx / RES_M) * RES_M, np.ceil(maxy / RES_M) * RES_M
    w, h = int(np.ceil((maxx - x0) / RES_M)) + 1, int(np.ceil((y1 - miny) / RES_M)) + 1
    # every earlier area may take pixels of this one (first wins); later ones cannot
    labels = rasterize(list(geoms[: index + 1]), (RES_M, 0.0, float(x0), 0.0, -RES_M, float(y1)), (h, w))
    return int(np.count_nonzero(labels == index))


def layer_figure(parts: list[Doc], expected_pixels: int) -> Doc | None:
    """One area's figure for one layer-year from its stored tile results (None: no tile complete)."""
    by_tile: dict[str, dict[str, list[Doc]]] = {}
    for p in parts:
        by_tile.setdefault(p["tile"], {}).setdefault(p["scene_id"], []).append(p)
    chosen: list[list[Doc]] = []
    for scenes in by_tile.values():
        complete = [sid for sid, ps in scenes.items() if len(ps) >= ps[0]["area_tiles"]]
        if complete:
            chosen.append(scenes[max(complete)])
    if not chosen:
        return None
    used = [p for ps in chosen for p in ps]
    cc = {k: sum(p["class_counts"][k] for p in used) for k in used[0]["class_counts"]}
    valid = sum(p["valid_count"] for p in used)
    canopy = sum(p["canopy_fraction_sum"] for p in used)
    pixel_area = used[0]["pixel_area_m2"]
    share = (lambda n: n / valid) if valid else (lambda n: 0.0)
    return {
        "class_counts": cc,
        "valid": valid,
        "covered_pixels": sum(p.get("area_pixels", 0) for p in used),
        "area_pixels": expected_pixels,
        "pixel_area_m2": pixel_area,
        "canopy_share": share(canopy),
        "green_share": share(sum(cc[k] for k in GREEN)),
        "water_share": share(cc["water"]),
        "canopy_m2_valid": canopy * pixel_area,  # over valid pixels only, no extrapolation
        "valid_fraction": min(1.0, valid / expected_pixels) if expected_pixels else 0.0,
        "kernel_version": used[0]["kernel_version"],
        "scene_ids": sorted({p["scene_id"] for p in used}),
        "tiles": sorted(by_tile),
    }


def nearest_vintage(vintages: list[int], year: int) -> int | None:
    """The CLC+ vintage that serves `year`: nearest in time, the earlier one on a tie."""
    return min(vintages, key=lambda v: (abs(v - year), v)) if vintages else None


def official_observation(area_id: str, year: int, tcd: Doc, clc: Doc, min_valid_fraction: float) -> Doc:
    """`observation/v1` data of the official series for one area and TCD year."""
    area_m2 = tcd["area_pixels"] * tcd["pixel_area_m2"]
    valid_fraction = min(tcd["valid_fraction"], clc["valid_fraction"])
    scenes = sorted({*tcd["scene_ids"], *clc["scene_ids"]})
    return {
        "area_id": area_id,
        "date": official_date(year),
        "series": SERIES,
        "green_area_m2": clc["green_share"] * area_m2,
        "canopy_area_m2": tcd["canopy_share"] * area_m2,
        "water_area_m2": clc["water_share"] * area_m2,
        "area_m2": area_m2,
        "valid_fraction": valid_fraction,
        # usable only once the delivered tiles cover the whole area in both layers: a figure from the
        # first of two tiles is kept but must not move the state (it flapped before the second came)
        "usable": valid_fraction >= min_valid_fraction and tcd["valid"] > 0 and clc["valid"] > 0
        and all(layer["covered_pixels"] >= layer["area_pixels"] for layer in (tcd, clc)),
        "n_products": len(scenes),
        "kernel_version": f"{tcd['kernel_version']}+{clc['kernel_version']}",
        "scene_ids": scenes,
    }


def official_years(layers: dict[tuple[str, int], Doc], changed: tuple[str, int]) -> list[tuple[int, int]]:
    """(TCD year, CLC+ vintage) pairs whose observation depends on the layer-year that changed."""
    tcd_years = sorted(y for (layer, y) in layers if layer == "tcd")
    vintages = sorted(y for (layer, y) in layers if layer == "clcplus")
    out = []
    for y in tcd_years:
        v = nearest_vintage(vintages, y)
        if v is not None and changed in (("tcd", y), ("clcplus", v)):
            out.append((y, v))
    return out


class OfficialSeries:
    """clms-results -> official observations. Single writer per area: the member that owns the
    area's partition of `clms-results` (keyed by area id) writes that area's tables."""

    name = "official"
    topics = (CLMS_RESULTS,)

    def __init__(self, *, store: Store, areas: AreaSet, min_valid_fraction: float = 0.6) -> None:
        self.store = store
        self.areas = areas
        self.min_valid_fraction = min_valid_fraction
        self._projected: list[Any] | None = None

    def expected_pixels(self, area_id: str) -> int:
        key = f"{self.areas.version}/{area_id}"
        doc = self.store.get(AREA_PIXELS, key)
        if doc is None:
            if self._projected is None:
                self._projected = self.areas.projected(LAEA)
            doc = {"pixels": area_pixels_on_lattice(self.areas, self.areas.index(area_id), self._projected)}
            self.store.put(AREA_PIXELS, key, doc)
        return int(doc["pixels"])

    def handle(self, event: Event) -> list[Outgoing]:
        if event["type"] != TILE_RESULT.type:
            return []
        r = event["data"]
        if r["area_set_version"] != self.areas.version:
            raise PermanentError(f"result for areas {r['area_set_version']}, this service has {self.areas.version}")
        layer, year, area = layer_of_kernel(r["kernel_version"]), int(r["date"][:4]), r["area_id"]
        prefix = f"{area}/{layer}/{year}/"
        self.store.put(CONTRIB, f"{prefix}{r['tile']}/{r['scene_id']}/{r['task_id']}", r)
        parts = [d for _, d in self.store.scan(CONTRIB, prefix)]
        mine = [p for p in parts if p["scene_id"] == r["scene_id"]]
        if len(mine) < r["area_tiles"]:
            return []  # this tile's other windows over the area are still on their way
        figure = layer_figure(parts, self.expected_pixels(area))
        if figure is None:
            return []
        self.store.put(LAYERS, f"{area}/{layer}/{year}", {"area_id": area, "layer": layer, "year": year, **figure})
        layers = {(d["layer"], int(d["year"])): d for _, d in self.store.scan(LAYERS, f"{area}/")}
        out = []
        for y, v in official_years(layers, (layer, year)):
            obs = official_observation(area, y, layers[("tcd", y)], layers[("clcplus", v)], self.min_valid_fraction)
            digest = json.dumps(obs, sort_keys=True)
            ev = make_event(OBSERVATION, obs, source=SOURCE, subject=area, trace_id=event.get("traceid"),
                            event_id=stable_id("official-obs", area, obs["date"], digest))
            out.append(Outgoing(topics.OBSERVATIONS, area, ev))
        return out
