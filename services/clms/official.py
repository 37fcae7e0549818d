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

Urban centres and clusters (with a UCC area set, `services/areas/_ucc.py`): tile results marked
`"part": "ucc"` count the area's part inside the urban centres and clusters. They are kept apart
(own tables), summed the same way against the UCC part's own lattice pixel count, and added to the
observation as `ucc` {green_area_m2, canopy_area_m2, area_m2, valid_fraction, usable}: the figures the
Art. 8(1) exclusion is decided on. An area with no UCC at all gets `ucc` with area 0 (usable: nothing
of it is missing) so the trend knows the layer says "none" rather than "not in yet".
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
UCC_CONTRIB, UCC_LAYERS = "official_ucc_contributions", "official_ucc_layers"
UCC = "ucc"
GREEN = ("tree", "other_green", "water")


def area_pixels_on_lattice(areas: AreaSet, index: int, projected: list[Any] | None = None) -> int:
    """Pixels of area `index` on the 10 m LAEA lattice: the pixel-centre rule over a grid snapped to
    the lattice around the whole polygon, with earlier areas winning overlaps, exactly as the label
    rasters of any LAEA tile count them."""
    geoms = projected if projected is not None else areas.projected(LAEA)
    geom = geoms[index]
    if geom.is_empty:
        return 0  # an area outside every urban centre and cluster (its UCC part is empty)
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


def _layer_pair(tcd: Doc, clc: Doc, area_m2: float, min_valid_fraction: float) -> Doc:
    """Green (CLC+) and canopy (TCD) of `area_m2` from one TCD year and its CLC+ vintage, and whether
    the pair is usable: only once the delivered tiles cover the whole area in both layers (a figure
    from the first of two tiles is kept but must not move the state: it flapped before the second came)."""
    valid_fraction = min(tcd["valid_fraction"], clc["valid_fraction"])
    return {
        "green_area_m2": clc["green_share"] * area_m2,
        "canopy_area_m2": tcd["canopy_share"] * area_m2,
        "area_m2": area_m2,
        "valid_fraction": valid_fraction,
        "usable": valid_fraction >= min_valid_fraction and tcd["valid"] > 0 and clc["valid"] > 0
        and all(layer["covered_pixels"] >= layer["area_pixels"] for layer in (tcd, clc)),
    }


def official_observation(area_id: str, year: int, tcd: Doc, clc: Doc, min_valid_fraction: float) -> Doc:
    """`observation/v1` data of the official series for one area and TCD year."""
    area_m2 = tcd["area_pixels"] * tcd["pixel_area_m2"]
    scenes = sorted({*tcd["scene_ids"], *clc["scene_ids"]})
    return {
        "area_id": area_id,
        "date": official_date(year),
        "series": SERIES,
        **_layer_pair(tcd, clc, area_m2, min_valid_fraction),
        "water_area_m2": clc["water_share"] * area_m2,
        "n_products": len(scenes),
        "kernel_version": f"{tcd['kernel_version']}+{clc['kernel_version']}",
        "scene_ids": scenes,
    }


def ucc_figures(tcd: Doc | None, clc: Doc | None, expected_pixels: int, pixel_area_m2: float,
                min_valid_fraction: float) -> Doc | None:
    """The `ucc` object of an official observation from the UCC part's layer figures; None while one
    of them is missing (an area with no UCC needs none: its part is known to be empty)."""
    if expected_pixels == 0:
        return {"green_area_m2": 0.0, "canopy_area_m2": 0.0, "area_m2": 0.0, "valid_fraction": 1.0, "usable": True}
    if tcd is None or clc is None:
        return None
    return _layer_pair(tcd, clc, expected_pixels * pixel_area_m2, min_valid_fraction)


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

    def __init__(self, *, store: Store, areas: AreaSet, min_valid_fraction: float = 0.6,
                 ucc: AreaSet | None = None) -> None:
        if ucc is not None and ucc.ids != areas.ids:
            raise ValueError(f"the UCC set {ucc.name} is not derived from {areas.name} (ids differ)")
        self.store = store
        self.areas = areas
        self.ucc = ucc
        self.min_valid_fraction = min_valid_fraction
        self._projected: dict[str, list[Any]] = {}

    def expected_pixels(self, area_id: str, areas: AreaSet | None = None) -> int:
        """The area's (or, with the UCC set, its UCC part's) pixels on the LAEA lattice, stored once."""
        areas = areas or self.areas
        key = f"{areas.version}/{area_id}"
        doc = self.store.get(AREA_PIXELS, key)
        if doc is None:
            if areas.version not in self._projected:
                self._projected[areas.version] = areas.projected(LAEA)
            doc = {"pixels": area_pixels_on_lattice(areas, areas.index(area_id), self._projected[areas.version])}
            self.store.put(AREA_PIXELS, key, doc)
        return int(doc["pixels"])

    def handle(self, event: Event) -> list[Outgoing]:
        if event["type"] != TILE_RESULT.type:
            return []
        r = event["data"]
        part = r.get("part")
        areas = self.areas if part is None else self.ucc
        if areas is None:
            raise PermanentError(f"a result for the {part!r} part of {r['area_id']}, but no urban centres and "
                                 "clusters layer is configured here (areas.urban_centres_path)")
        if r["area_set_version"] != areas.version:
            raise PermanentError(f"result for areas {r['area_set_version']}, this service has {areas.version}")
        contrib, table = (CONTRIB, LAYERS) if part is None else (UCC_CONTRIB, UCC_LAYERS)
        layer, year, area = layer_of_kernel(r["kernel_version"]), int(r["date"][:4]), r["area_id"]
        prefix = f"{area}/{layer}/{year}/"
        self.store.put(contrib, f"{prefix}{r['tile']}/{r['scene_id']}/{r['task_id']}", r)
        parts = [d for _, d in self.store.scan(contrib, prefix)]
        mine = [p for p in parts if p["scene_id"] == r["scene_id"]]
        if len(mine) < r["area_tiles"]:
            return []  # this tile's other windows over the area are still on their way
        figure = layer_figure(parts, self.expected_pixels(area, areas))
        if figure is None:
            return []
        self.store.put(table, f"{area}/{layer}/{year}", {"area_id": area, "layer": layer, "year": year, **figure})
        layers = {(d["layer"], int(d["year"])): d for _, d in self.store.scan(LAYERS, f"{area}/")}
        ucc_layers = ({(d["layer"], int(d["year"])): d for _, d in self.store.scan(UCC_LAYERS, f"{area}/")}
                      if self.ucc is not None else {})
        out = []
        for y, v in official_years(layers, (layer, year)):
            obs = official_observation(area, y, layers[("tcd", y)], layers[("clcplus", v)], self.min_valid_fraction)
            if self.ucc is not None:
                ucc = ucc_figures(ucc_layers.get(("tcd", y)), ucc_layers.get(("clcplus", v)),
                                  self.expected_pixels(area, self.ucc), layers[("tcd", y)]["pixel_area_m2"],
                                  self.min_valid_fraction)
                if ucc is not None:
                    obs[UCC] = ucc
            digest = json.dumps(obs, sort_keys=True)
            ev = make_event(OBSERVATION, obs, source=SOURCE, subject=area, trace_id=event.get("traceid"),
                            event_id=stable_id("official-obs", area, obs["date"], digest))
            out.append(Outgoing(topics.OBSERVATIONS, area, ev))
        return out
