"""Observations -> annual indicators per area and series (pure; no I/O).

Sentinel-2 ('sentinel-2', and issue 7's 'sentinel-2 (calibrated)'): the annual value is the median of
the usable observations inside the season window (`season_start_month`..`season_end_month`, May to
September by default) with a bootstrap standard error, from at least `min_observations_per_year`
observations. This is a season composite at the level of the area (the median over the season's
dates of each date's area totals: `method` 'area-median'). For 'sentinel-2' the trend service
replaces it, in every year of an area, by the per-pixel season composite of the class maps
(services/composite; `method` 'pixel-composite') when that covers the area in its baseline year
(`_composite.sentinel2_annuals`: the two define canopy differently and never mix in one area).

Official ('official', CLMS CLCplus Backbone and Tree Cover Density): one status layer per reference
year, so every usable observation of the year counts, whatever its month, and one is enough. With an
urban centres and clusters layer its observations carry `ucc` figures; usable ones become the
`ucc_*` fields, the basis of the Art. 8(1) exclusion (`_exclusion`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from statistics import median
from typing import Any

from greenwatch.services.trend._stats import bootstrap_se_median

Doc = dict[str, Any]
OFFICIAL = "official"
AREA_MEDIAN, PIXEL_COMPOSITE = "area-median", "pixel-composite"  # Annual.method (Sentinel-2 series)
UCC_FIELDS = ("ucc_green_m2", "ucc_canopy_m2", "ucc_area_m2")


def share_pct(part_m2: float, area_m2: float) -> float | None:
    """`part_m2` in % of `area_m2`; None for an area of unknown (0) size."""
    return 100.0 * part_m2 / area_m2 if area_m2 > 0 else None


@dataclass(frozen=True)
class Annual:
    year: int
    green_m2: float
    canopy_m2: float
    n: int
    green_se: float = 0.0
    canopy_se: float = 0.0
    area_m2: float = 0.0  # the area's size (0 if unknown): shares need it
    # official series with an urban centres and clusters layer: the area's part inside them (the basis
    # of the Art. 8(1) exclusion); None: no UCC figures; area 0: the area has no UCC
    ucc_green_m2: float | None = None
    ucc_canopy_m2: float | None = None
    ucc_area_m2: float | None = None
    method: str | None = None  # AREA_MEDIAN or PIXEL_COMPOSITE; None: official layers, or totals over areas

    @property
    def green_share_pct(self) -> float | None:
        return share_pct(self.green_m2, self.area_m2)

    @property
    def canopy_share_pct(self) -> float | None:
        return share_pct(self.canopy_m2, self.area_m2)

    def to_doc(self) -> Doc:
        doc = {**asdict(self), "green_share_pct": self.green_share_pct, "canopy_share_pct": self.canopy_share_pct}
        for k in UCC_FIELDS:  # only where there are UCC figures (official series with a UCC layer)
            if doc[k] is None:
                del doc[k]
        return doc

    @classmethod
    def from_doc(cls, doc: Doc) -> Annual:
        return cls(int(doc["year"]), float(doc["green_m2"]), float(doc["canopy_m2"]), int(doc["n"]),
                   float(doc.get("green_se", 0.0)), float(doc.get("canopy_se", 0.0)), float(doc.get("area_m2", 0.0)),
                   method=doc.get("method"), **{k: float(doc[k]) for k in UCC_FIELDS if doc.get(k) is not None})


def in_season(month: int, season: tuple[int, int]) -> bool:
    """Whether `month` is inside the season window [first, last] (one across new year, e.g. (11, 2),
    wraps). The one rule of the annual value, the per-pixel composite and its trigger."""
    first, last = season
    return first <= month <= last if first <= last else (month >= first or month <= last)


def annual_indicators(observations: list[Doc], season: tuple[int, int], min_per_year: int, *,
                      series: str = "sentinel-2") -> dict[int, Annual]:
    """Per year, the annual indicator of one series from that series' observations."""
    official = series == OFFICIAL
    by_year: dict[int, list[Doc]] = {}
    for o in observations:
        if o.get("series", "sentinel-2") != series or not o["usable"]:
            continue
        year, month = int(o["date"][:4]), int(o["date"][5:7])
        if official or in_season(month, season):
            by_year.setdefault(year, []).append(o)
    need = 1 if official else min_per_year
    out: dict[int, Annual] = {}
    for y, obs in sorted(by_year.items()):
        if len(obs) < need:
            continue
        green = [float(o["green_area_m2"]) for o in obs]
        canopy = [float(o["canopy_area_m2"]) for o in obs]
        sizes = [float(o["area_m2"]) for o in obs if o.get("area_m2")]
        out[y] = Annual(y, median(green), median(canopy), len(obs), bootstrap_se_median(green),
                        bootstrap_se_median(canopy), median(sizes) if sizes else 0.0,
                        method=None if official else AREA_MEDIAN, **_ucc(obs))
    return out


def _ucc(observations: list[Doc]) -> dict[str, float]:
    """The UCC figures of a year's official observations (usable ones only; the median if several)."""
    parts = [o["ucc"] for o in observations if (o.get("ucc") or {}).get("usable")]
    if not parts:
        return {}
    return {field: median(float(p[key]) for p in parts)
            for field, key in zip(UCC_FIELDS, ("green_area_m2", "canopy_area_m2", "area_m2"), strict=True)}
