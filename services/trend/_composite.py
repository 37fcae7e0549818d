"""Sentinel-2 annual values from the per-pixel season composite (services/composite), where it covers
the area; the area-level median of the season's observations (`_annual.annual_indicators`) elsewhere.

The compositor sends one `annual-composite` per (area, year, tile); the trend service keeps the latest
of each under `composites` (key area/year/tile: a composite recomputed from more scenes replaces the
earlier one). A year's value is the pixel composite (`method` 'pixel-composite') when
* the tiles' contributions cover the area: the pixels they counted x pixel area >= COVERAGE_MIN (99 %)
  of the area's size (`area_m2` of its observations, the polygon's area). Contributions that name a
  pixel domain (a tile's MGRS core: disjoint) add up, one per domain; one without a domain (a whole
  tile, which overlaps its neighbours) counts alone;
* the composite's valid fraction (valid composite pixels / the area's pixels) reaches the trend's
  `min_valid_fraction` (the same bar a single date's observation must pass to be usable);
* and it composites at least `min_observations_per_year` dates (the area median's bar).
Otherwise the year keeps the area-level median (`method` 'area-median'), as before composites.

Figures are scaled to the area as the merger scales an observation: green = (water + tree + other
green) / valid x area_m2; canopy = canopy fraction sum / valid x area_m2. The canopy fraction is the
per-pixel median over the valid dates, summed over every valid pixel: the same definition as the
per-date observations, so that years of either method compare (see the report of issue 6 for what
counting it only on majority-tree pixels, `tree_canopy_fraction_sum`, would change).

Uncertainty: the composite is one value, so its standard error is still the bootstrap over the
season's per-date area figures (the usable observations; fewer than two: every in-season observation
with valid pixels). It is the date-sampling uncertainty of the area figure, not a per-pixel one. `n` is
the number of season dates composited (the fewest among the contributing tiles).
"""

from __future__ import annotations

from collections import Counter
from statistics import median
from typing import Any

from greenwatch.services.trend._annual import PIXEL_COMPOSITE, Annual, annual_indicators, in_season
from greenwatch.services.trend._stats import bootstrap_se_median

Doc = dict[str, Any]
COMPOSITES = "composites"
COVERAGE_MIN = 0.99
SENTINEL2 = "sentinel-2"
GREEN = ("water", "tree", "other_green")


def composite_key(doc: Doc) -> str:
    return f"{doc['area_id']}/{doc['year']}/{doc['tile']}"


def _cover(parts: list[Doc], area_m2: float) -> tuple[float, float]:
    pixels = sum(int(p["area_pixels"]) for p in parts)
    valid = sum(int(p["valid_count"]) for p in parts)
    seen_m2 = sum(int(p["area_pixels"]) * float(p["pixel_area_m2"]) for p in parts)
    return seen_m2 / area_m2, (valid / pixels if pixels else 0.0)


def choose_contributions(docs: list[Doc], area_m2: float) -> list[Doc]:
    """The contributions that make the year's composite: the disjoint cores of one kernel added up, or
    one whole tile; of those candidates the best covered (then the most valid)."""
    candidates: list[list[Doc]] = []
    cores: dict[str, dict[str, Doc]] = {}
    for d in docs:
        if d.get("pixel_domain"):
            cores.setdefault(d["kernel_version"], {}).setdefault(d["pixel_domain"], d)
        else:
            candidates.append([d])
    candidates += [list(by_domain.values()) for by_domain in cores.values()]
    if not candidates:
        return []
    return max(candidates, key=lambda parts: (*_cover(parts, area_m2), sorted(p["tile"] for p in parts)))


def composite_annual(year: int, docs: list[Doc], observations: list[Doc], season: tuple[int, int],
                     min_valid_fraction: float, min_dates: int = 1) -> Annual | None:
    """The year's pixel-composite value of one area, or None where it does not qualify."""
    seasonal = [o for o in observations if o.get("series", SENTINEL2) == SENTINEL2 and int(o["date"][:4]) == year
                 and in_season(int(o["date"][5:7]), season)]
    sizes = [float(o["area_m2"]) for o in seasonal if o.get("area_m2")]
    if not sizes:
        return None  # the area's size comes with its observations: until one arrives, no scaling
    area_m2 = median(sizes)
    parts = choose_contributions(docs, area_m2)
    if not parts:
        return None
    coverage, valid_fraction = _cover(parts, area_m2)
    n_dates = min(int(p["n_dates"]) for p in parts)
    if coverage < COVERAGE_MIN or valid_fraction < min_valid_fraction or n_dates < min_dates:
        return None
    valid = sum(int(p["valid_count"]) for p in parts)
    green = sum(int(p["class_counts"][k]) for p in parts for k in GREEN) / valid * area_m2
    canopy = sum(float(p["canopy_fraction_sum"]) for p in parts) / valid * area_m2
    usable = [o for o in seasonal if o["usable"]]
    dated = usable if len(usable) >= 2 else [o for o in seasonal if float(o.get("valid_fraction", 0.0)) > 0]
    return Annual(year, green, canopy, n_dates,
                  bootstrap_se_median([float(o["green_area_m2"]) for o in dated]),
                  bootstrap_se_median([float(o["canopy_area_m2"]) for o in dated]), area_m2, method=PIXEL_COMPOSITE)


def sentinel2_annuals(observations: list[Doc], composites: list[Doc], season: tuple[int, int], min_per_year: int,
                      min_valid_fraction: float) -> dict[int, Annual]:
    """Per year, the pixel composite where it qualifies, else the area-level median (if that qualifies)."""
    out = annual_indicators(observations, season, min_per_year, series=SENTINEL2)
    by_year: dict[int, list[Doc]] = {}
    for d in composites:
        by_year.setdefault(int(d["year"]), []).append(d)
    for year, docs in by_year.items():
        pixel = composite_annual(year, docs, observations, season, min_valid_fraction, min_per_year)
        if pixel is not None:
            out[year] = pixel
    return dict(sorted(out.items()))


def method_figures(figures: Doc, annual_by_area: dict[str, dict[int, Annual]], years: dict[str, int | None], *,
                   total: bool = False) -> Doc:
    """`figures` plus which method gave the annual values of `years` ({'baseline': 2024, 'latest': ...}):
    for one area its method (`baseline_method`; None for the official layers), for a `total` over the
    areas the number of areas per method (`baseline_methods`)."""
    out = dict(figures)
    for name, year in years.items():
        methods = [a[year].method for a in annual_by_area.values() if year is not None and year in a]
        if total:
            out[f"{name}_methods"] = dict(sorted(Counter(m for m in methods if m).items()))
        else:
            out[f"{name}_method"] = methods[0] if methods else None
    return out


__all__ = ["COMPOSITES", "COVERAGE_MIN", "choose_contributions", "composite_annual", "composite_key",
           "method_figures", "sentinel2_annuals"]
