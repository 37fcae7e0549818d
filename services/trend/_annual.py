"""Observations -> annual indicators per area and series (pure; no I/O).

Sentinel-2 ('sentinel-2', and issue 7's 'sentinel-2 (calibrated)'): the annual value is the median of
the usable observations inside the season window (`season_start_month`..`season_end_month`, May to
September by default) with a bootstrap standard error, from at least `min_observations_per_year`
observations. This is a season composite at the level of the area (the median over the season's
dates of each date's area totals), not a per-pixel composite: a per-pixel season composite
(`greenwatch.kernels.season_composite`) needs the per-date class maps or NDVI, which the tile results
do not carry (they hold per-area counts only). When per-date class maps are kept (issue 5), the
annual value can be recomputed from them without changing anything downstream of `Annual`.

Official ('official', CLMS CLCplus Backbone and Tree Cover Density): one status layer per reference
year, so every usable observation of the year counts, whatever its month, and one is enough.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from statistics import median
from typing import Any

from greenwatch.services.trend._stats import bootstrap_se_median

Doc = dict[str, Any]
OFFICIAL = "official"


@dataclass(frozen=True)
class Annual:
    year: int
    green_m2: float
    canopy_m2: float
    n: int
    green_se: float = 0.0
    canopy_se: float = 0.0
    area_m2: float = 0.0  # the area's size (0 if unknown): shares need it

    @property
    def green_share_pct(self) -> float | None:
        return 100.0 * self.green_m2 / self.area_m2 if self.area_m2 > 0 else None

    @property
    def canopy_share_pct(self) -> float | None:
        return 100.0 * self.canopy_m2 / self.area_m2 if self.area_m2 > 0 else None

    def to_doc(self) -> Doc:
        return {**asdict(self), "green_share_pct": self.green_share_pct, "canopy_share_pct": self.canopy_share_pct}

    @classmethod
    def from_doc(cls, doc: Doc) -> Annual:
        return cls(int(doc["year"]), float(doc["green_m2"]), float(doc["canopy_m2"]), int(doc["n"]),
                   float(doc.get("green_se", 0.0)), float(doc.get("canopy_se", 0.0)), float(doc.get("area_m2", 0.0)))


def annual_indicators(observations: list[Doc], season: tuple[int, int], min_per_year: int, *,
                      series: str = "sentinel-2") -> dict[int, Annual]:
    """Per year, the annual indicator of one series from that series' observations."""
    official = series == OFFICIAL
    first, last = season
    by_year: dict[int, list[Doc]] = {}
    for o in observations:
        if o.get("series", "sentinel-2") != series or not o["usable"]:
            continue
        year, month = int(o["date"][:4]), int(o["date"][5:7])
        in_season = first <= month <= last if first <= last else (month >= first or month <= last)
        if official or in_season:
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
                        bootstrap_se_median(canopy), median(sizes) if sizes else 0.0)
    return out
