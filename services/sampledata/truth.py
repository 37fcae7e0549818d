"""The known land-cover truth behind a synthetic scenario, and its per-area statistics.

The map is fixed across dates except for the scripted change: from `Scenario.change_date` on,
`change_fraction` of the tree pixels of `Scenario.change_area` (chosen as spatially coherent
clearings) become bare/sealed ground.

Class table (`LandCover`, uint8):

| code | name         | meaning                              | summer NDVI | NDWI |
|------|--------------|--------------------------------------|-------------|------|
| 0    | NO_DATA      | never in the truth; fill in outputs  |             |      |
| 1    | NOT_GREEN    | sealed (roads, roofs) or bare soil   | < 0.2       | < 0  |
| 2    | OTHER_GREEN  | grass and other low vegetation       | 0.25-0.5    | < 0  |
| 3    | TREE_CANOPY  | tree crowns                          | > 0.5       | < 0  |
| 4    | WATER        | canals, rivers, ponds                | < 0         | > 0  |

The per-pixel canopy fraction is 0.75-1.0 on tree pixels and 0-0.1 on their non-tree
neighbours (crowns overhanging; 0 on water): the fraction a tree-cover-density product would see.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from enum import IntEnum
from functools import cached_property
from typing import Any

import numpy as np
import shapely

from ._areas import Area, AreaMask, area_masks, default_areas_path, load_areas
from ._grid import Grid
from ._noise import box3_neighbours, interpolate_lattice, to_uniform, value_noise
from ._scenario import Scenario


class LandCover(IntEnum):
    NO_DATA = 0
    NOT_GREEN = 1
    OTHER_GREEN = 2
    TREE_CANOPY = 3
    WATER = 4


CLASS_KEYS: tuple[str, ...] = ("not_green", "other_green", "tree_canopy", "water")
_STRIPE = 1024  # rows computed at once (bounds memory for a full 10980 x 10980 tile)


@dataclass(frozen=True)
class AreaTruth:
    """True pixel counts of one area: the window pixels whose centre lies in it (in overlaps of the
    simplified polygons the first area in file order wins, as in greenwatch.services.areas)."""

    code: str
    name: str
    pixels: int
    counts: dict[str, int]  # by CLASS_KEYS, all pixels
    canopy_fraction: float  # mean per-pixel canopy fraction
    window_fraction: float  # share of the polygon inside the window
    observed_pixels: int | None = None  # valid (not fill) and clear (SCL not 0/1/3/8/9/10)
    observed_counts: dict[str, int] | None = None

    @property
    def tree_share(self) -> float:
        return self.counts["tree_canopy"] / self.pixels if self.pixels else math.nan

    @property
    def green_share(self) -> float:
        green = self.counts["tree_canopy"] + self.counts["other_green"]
        return green / self.pixels if self.pixels else math.nan

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "pixels": self.pixels,
            "counts": self.counts,
            "canopy_fraction": self.canopy_fraction,
            "window_fraction": self.window_fraction,
            "observed_pixels": self.observed_pixels,
            "observed_counts": self.observed_counts,
        }


@dataclass(frozen=True, eq=False)
class Truth:
    """Truth rasters on the scenario grid (row 0 = north)."""

    scenario: Scenario
    grid: Grid
    areas: tuple[Area, ...]
    masks: tuple[AreaMask, ...]
    landcover_before: np.ndarray  # uint8 LandCover
    removed: np.ndarray  # bool: trees cleared from the change date on

    @cached_property
    def landcover_after(self) -> np.ndarray:
        after = self.landcover_before.copy()
        after[self.removed] = LandCover.NOT_GREEN
        return after

    def landcover(self, when: datetime | date) -> np.ndarray:
        return self.landcover_after if self.scenario.changed(when) else self.landcover_before

    def canopy_percent(self, when: datetime | date) -> np.ndarray:
        """Per-pixel canopy cover in percent (uint8 0..100)."""
        return self.canopy_percent_after if self.scenario.changed(when) else self.canopy_percent_before

    def canopy_fraction(self, when: datetime | date) -> np.ndarray:
        return self.canopy_percent(when).astype(np.float32) / np.float32(100.0)

    @cached_property
    def canopy_percent_before(self) -> np.ndarray:
        return _canopy_percent(self.landcover_before)

    @cached_property
    def canopy_percent_after(self) -> np.ndarray:
        return _canopy_percent(self.landcover_after)

    def area(self, code: str) -> Area:
        for a in self.areas:
            if a.code == code:
                return a
        raise KeyError(code)

    def area_truth(self, when: datetime | date, observed: np.ndarray | None = None) -> dict[str, AreaTruth]:
        """True statistics per area at `when`; `observed` (bool, grid shape) adds observed counts."""
        lc, pct = self.landcover(when), self.canopy_percent(when)
        by_code = {a.code: a for a in self.areas}
        out: dict[str, AreaTruth] = {}
        for m in self.masks:
            sub = lc[m.rows, m.cols][m.mask]
            counts = _counts(sub)
            obs_pixels: int | None = None
            obs_counts: dict[str, int] | None = None
            if observed is not None:
                seen = observed[m.rows, m.cols][m.mask]
                obs_pixels, obs_counts = int(seen.sum()), _counts(sub[seen])
            area = by_code[m.code]
            out[m.code] = AreaTruth(
                code=m.code,
                name=area.name,
                pixels=int(sub.size),
                counts=counts,
                canopy_fraction=float(pct[m.rows, m.cols][m.mask].mean(dtype=np.float64) / 100.0),
                window_fraction=area.window_fraction,
                observed_pixels=obs_pixels,
                observed_counts=obs_counts,
            )
        return out


def _counts(classes: np.ndarray) -> dict[str, int]:
    bins = np.bincount(classes.ravel(), minlength=len(LandCover))
    return {key: int(bins[i + 1]) for i, key in enumerate(CLASS_KEYS)}


def _canopy_percent(landcover: np.ndarray) -> np.ndarray:
    tree = landcover == LandCover.TREE_CANOPY
    near = box3_neighbours(tree)
    pct = np.where(tree, 75.0 + 25.0 * near, 10.0 * near)
    pct[landcover == LandCover.WATER] = 0.0
    return np.rint(pct).astype(np.uint8)


def build_truth(scenario: Scenario) -> Truth:
    """Compute the land-cover truth of `scenario` (deterministic in `scenario.seed`)."""
    grid = scenario.grid()
    areas = tuple(load_areas(scenario.areas_path or default_areas_path(), grid, scenario.id_property))
    masks = tuple(area_masks(list(areas), grid))
    landcover = np.empty(grid.shape, dtype=np.uint8)
    urban_lattice = _urban_lattice(grid, list(areas), scenario.seed)
    lines = _lines(grid, scenario.seed)
    for r0 in range(0, grid.height, _STRIPE):
        rows = slice(r0, min(r0 + _STRIPE, grid.height))
        landcover[rows] = _classify_stripe(grid, scenario.seed, rows, urban_lattice, lines)
    removed = np.zeros(grid.shape, dtype=bool)
    if scenario.change_area is not None:
        removed = _clearings(scenario, grid, masks, landcover)
    return Truth(scenario=scenario, grid=grid, areas=areas, masks=masks, landcover_before=landcover, removed=removed)


_URBAN_SPACING = 10  # px between urban-intensity lattice points


def _urban_lattice(grid: Grid, areas: list[Area], seed: int) -> np.ndarray:
    """Urban intensity 0..1 on a coarse lattice: a Gaussian core around each municipality centre,
    stronger where the address density is higher, plus some large-scale noise."""
    gh, gw = grid.height // _URBAN_SPACING + 3, grid.width // _URBAN_SPACING + 3
    ys = grid.y1 - (np.arange(gh) * _URBAN_SPACING + 0.5) * grid.res
    xs = grid.x0 + (np.arange(gw) * _URBAN_SPACING + 0.5) * grid.res
    xx, yy = np.meshgrid(xs, ys)
    free = np.ones((gh, gw), dtype=np.float64)
    for area in areas:
        centre = area.geometry.centroid
        if not area.geometry.contains(centre):
            centre = shapely.point_on_surface(area.geometry)
        density = float(area.properties.get("omgevingsadressendichtheid") or 1000.0)
        weight = min(max(density / 2500.0, 0.2), 1.0)
        radius = 0.35 * math.sqrt(area.geometry.area)
        d2 = (xx - centre.x) ** 2 + (yy - centre.y) ** 2
        free *= 1.0 - weight * np.exp(-d2 / (2.0 * radius**2))
    rng = np.random.default_rng([seed, 10])
    wobble = 0.12 * rng.standard_normal((gh, gw))
    return np.clip(1.0 - free + wobble, 0.0, 1.0)


@dataclass(frozen=True)
class _Line:
    x: float
    y: float
    angle: float
    amplitude: float  # m
    wavelength: float  # m
    phase: float
    half_width: float  # m
    kind: int  # LandCover.WATER or LandCover.NOT_GREEN (motorway)


def _lines(grid: Grid, seed: int) -> list[_Line]:
    rng = np.random.default_rng([seed, 20])
    xmin, ymin, xmax, ymax = grid.bounds
    n_rivers = 2 + grid.width // 1830
    n_canals = 3 + grid.width // 915
    n_roads = 2 + grid.width // 1830
    lines: list[_Line] = []
    for kind, n, width_range, amp in (
        (LandCover.WATER, n_rivers, (25.0, 60.0), (100.0, 400.0)),
        (LandCover.WATER, n_canals, (8.0, 18.0), (0.0, 60.0)),
        (LandCover.NOT_GREEN, n_roads, (12.0, 22.0), (0.0, 0.0)),
    ):
        for _ in range(n):
            lines.append(
                _Line(
                    x=float(rng.uniform(xmin, xmax)),
                    y=float(rng.uniform(ymin, ymax)),
                    angle=float(rng.uniform(0.0, math.pi)),
                    amplitude=float(rng.uniform(*amp)),
                    wavelength=float(rng.uniform(1500.0, 5000.0)),
                    phase=float(rng.uniform(0.0, 2 * math.pi)),
                    half_width=float(rng.uniform(*width_range)) / 2.0,
                    kind=int(kind),
                )
            )
    return lines


def _classify_stripe(grid: Grid, seed: int, rows: slice, urban_lattice: np.ndarray, lines: list[_Line]) -> np.ndarray:
    shape = grid.shape
    urban = interpolate_lattice(urban_lattice, _URBAN_SPACING, rows, grid.width)
    x = grid.x_centres() - grid.x0
    y = grid.y_centres()[rows] - grid.y1
    water = np.zeros(urban.shape, dtype=bool)
    roads = np.zeros(urban.shape, dtype=bool)
    for line in lines:
        # |across - amplitude * sin(k * along + phase)| < half width, with along/across split into
        # x and y parts so that no transcendental function runs over the full stripe
        c, s = math.cos(line.angle), math.sin(line.angle)
        dx, dy = x - (line.x - grid.x0), y - (line.y - grid.y1)
        across = (dy * c)[:, None].astype(np.float32) - (dx * s)[None, :].astype(np.float32)
        if line.amplitude > 0:
            k = 2 * math.pi / line.wavelength
            ux, uy = k * dx * c + line.phase, k * dy * s
            sx, cx = (line.amplitude * np.sin(ux)).astype(np.float32), (line.amplitude * np.cos(ux)).astype(np.float32)
            sy, cy = np.cos(uy).astype(np.float32), np.sin(uy).astype(np.float32)
            across -= sx[None, :] * sy[:, None]
            across -= cx[None, :] * cy[:, None]
        hit = np.abs(across) < np.float32(line.half_width)
        (water if line.kind == LandCover.WATER else roads)[...] |= hit
    ponds = to_uniform(value_noise([seed, 21], shape, [30], rows=rows), 0.75) > 0.985
    water |= ponds
    # street grid in built-up parts: 10 m wide streets every 160 m / 140 m
    r_idx = np.arange(rows.start, rows.stop)[:, None]
    c_idx = np.arange(grid.width)[None, :]
    streets = ((r_idx % 16 == 0) | (c_idx % 14 == 0)) & (urban > 0.45)
    roads |= streets
    u_tree = to_uniform(value_noise([seed, 11], shape, [24, 8], rows=rows, gains=[1.0, 0.6]), 0.85)
    tree = (u_tree < 0.26 - 0.12 * urban) & ~water & ~roads
    u_seal = to_uniform(value_noise([seed, 12], shape, [10, 4], rows=rows, gains=[1.0, 0.7]), 0.9)
    sealed = (u_seal < 0.08 + 0.8 * urban) & ~tree
    out = np.full(urban.shape, LandCover.OTHER_GREEN, dtype=np.uint8)
    out[sealed | roads] = LandCover.NOT_GREEN
    out[tree] = LandCover.TREE_CANOPY
    out[water] = LandCover.WATER
    return out


def _clearings(scenario: Scenario, grid: Grid, masks: tuple[AreaMask, ...], landcover: np.ndarray) -> np.ndarray:
    """The tree pixels cleared in the change area: the `change_fraction` of them where a smooth
    noise field is lowest, so the loss comes as coherent clearings rather than salt and pepper."""
    area = next((m for m in masks if m.code == scenario.change_area), None)
    if area is None:
        raise ValueError(f"change area {scenario.change_area} does not intersect the window {grid.bounds} ({grid.crs})")
    removed = np.zeros(grid.shape, dtype=bool)
    trees = (landcover[area.rows, area.cols] == LandCover.TREE_CANOPY) & area.mask
    if not trees.any() or scenario.change_fraction <= 0.0:
        return removed
    noise = value_noise([scenario.seed, 13], grid.shape, [12, 4], rows=area.rows)[:, area.cols]
    cut = np.quantile(noise[trees], scenario.change_fraction)
    removed[area.rows, area.cols] = trees & (noise <= cut)
    return removed
