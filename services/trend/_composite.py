"""Sentinel-2 annual values from the per-pixel season composite (services/composite), or from the
area-level median of the season's observations (`_annual.annual_indicators`): ONE of the two for
every year of an area, so that its years always compare.

The compositor sends one `annual-composite` per (area, year, tile); the trend service keeps the latest
of each under `composites` (key area/year/tile: a composite recomputed from more scenes replaces the
earlier one). A year's composite qualifies when
* the tiles' contributions cover the area: the pixels they counted x pixel area >= COVERAGE_MIN (99 %)
  of the area's size (`area_m2` of its observations, the polygon's area). Contributions that name a
  pixel domain (a tile's MGRS core: disjoint) add up, one per domain; one without a domain (a whole
  tile, which overlaps its neighbours) counts alone;
* the composite's valid fraction (valid composite pixels / the area's pixels) reaches the trend's
  `min_valid_fraction` (the same bar a single date's observation must pass to be usable);
* and it composites at least `min_observations_per_year` dates (the area median's bar).

The method of an area (`method` of every annual value) is one for all its years. The anchor year is
the baseline year if the area has a value for it, else its earliest year. Every year is a pixel
composite ('pixel-composite') when composites qualify for the anchor year and for every later year
that has an area median, but the newest (whose composite may still be on its way: that year then has
no value until it comes); else every year is an area median ('area-median'). So an area switches to
composites once they give every year the medians give, and a backfill that delivers a year's
composites after its observations does not send the area to insufficient-data in between. The two
must not mix because they define canopy differently:

* area median: the per-date observations' canopy, the kernel's NDVI-linear canopy fraction summed over
  every valid pixel. That fraction gives grass 0.2-0.35 of canopy (one date's NDVI separates tree
  crowns from grass poorly), so canopy is some 12 pp too high on the synthetic truth;
* pixel composite: the per-pixel median canopy fraction summed over the pixels whose majority class
  over the season is tree (`tree_canopy_fraction_sum`): within 0.4 pp of the synthetic truth
  (tests/composite/test_pipeline_composite.py). A year of one method against a year of the other
  would show a canopy change of some 40 % that never happened.

Figures are scaled to the area as the merger scales an observation: green = (water + tree + other
green) / valid x area_m2; canopy = tree canopy fraction sum / valid x area_m2.

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
    canopy = sum(float(p["tree_canopy_fraction_sum"]) for p in parts) / valid * area_m2
    usable = [o for o in seasonal if o["usable"]]
    dated = usable if len(usable) >= 2 else [o for o in seasonal if float(o.get("valid_fraction", 0.0)) > 0]
    return Annual(year, green, canopy, n_dates,
                  bootstrap_se_median([float(o["green_area_m2"]) for o in dated]),
                  bootstrap_se_median([float(o["canopy_area_m2"]) for o in dated]), area_m2, method=PIXEL_COMPOSITE)


def sentinel2_annuals(observations: list[Doc], composites: list[Doc], season: tuple[int, int], min_per_year: int,
                      min_valid_fraction: float, baseline_year: int = 2024) -> dict[int, Annual]:
    """Per year, the area's Sentinel-2 annual value, all years of one method (see the module docstring):
    pixel composites where they give every year the area medians give (but the newest), else medians."""
    medians = annual_indicators(observations, season, min_per_year, series=SENTINEL2)
    by_year: dict[int, list[Doc]] = {}
    for d in composites:
        by_year.setdefault(int(d["year"]), []).append(d)
    pixels = {year: a for year, docs in by_year.items()
              if (a := composite_annual(year, docs, observations, season, min_valid_fraction, min_per_year))}
    years = medians.keys() | pixels.keys()
    if not years:
        return {}
    anchor = baseline_year if baseline_year in years else min(years)
    # every year the medians give from the anchor on, but the newest (its composite may still be on its way)
    need = {y for y in medians if y >= anchor} - {max(medians, default=anchor)}
    use_pixels = anchor in pixels and need <= pixels.keys()
    return dict(sorted((pixels if use_pixels else medians).items()))


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
