"""Article 8 rules as pure functions over annual indicators (no I/O), driven by `Rules`.

* Baseline: the indicator of `baseline_year` (2024), per area and as the national total.
* Through 2030: no net loss of the national totals; per area, the change against baseline is shown
  as that area's contribution (losses in one area can be compensated by gains in another).
* State per area and national: insufficient-data (no baseline or no later year), net-loss (green
  space or canopy below baseline by more than `net_loss_pct`), at-risk (more than `at_risk_pct`),
  on-track otherwise.
The post-2031 increasing-trend test, the exclusion rule and the satisfactory level are issue 6.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median
from typing import Any

Doc = dict[str, Any]


@dataclass(frozen=True)
class Rules:
    baseline_year: int = 2024
    season_start_month: int = 5
    season_end_month: int = 9
    min_observations_per_year: int = 2
    at_risk_pct: float = 1.0
    net_loss_pct: float = 3.0
    canopy_loss_alert_pct: float = 10.0


@dataclass(frozen=True)
class Annual:
    year: int
    green_m2: float
    canopy_m2: float
    n: int


def annual_indicators(observations: list[Doc], rules: Rules) -> dict[int, Annual]:
    """Per year, the median of the usable in-season observations (at least `min_observations_per_year`)."""
    by_year: dict[int, list[Doc]] = {}
    for o in observations:
        year, month = int(o["date"][:4]), int(o["date"][5:7])
        if o["usable"] and rules.season_start_month <= month <= rules.season_end_month:
            by_year.setdefault(year, []).append(o)
    return {
        y: Annual(y, median(o["green_area_m2"] for o in obs), median(o["canopy_area_m2"] for o in obs), len(obs))
        for y, obs in sorted(by_year.items())
        if len(obs) >= rules.min_observations_per_year
    }


def _pct(new: float, old: float) -> float | None:
    return None if old <= 0 else 100.0 * (new - old) / old


def evaluate(annual: dict[int, Annual], rules: Rules) -> tuple[str, Doc, list[str], int | None]:
    """State, figures, reasons and the latest year, from annual indicators."""
    base = annual.get(rules.baseline_year)
    later = [y for y in annual if y > rules.baseline_year]
    latest = annual[max(later)] if later else None
    figures: Doc = {
        "baseline_green_m2": base.green_m2 if base else None,
        "baseline_canopy_m2": base.canopy_m2 if base else None,
        "latest_green_m2": latest.green_m2 if latest else None,
        "latest_canopy_m2": latest.canopy_m2 if latest else None,
        "green_change_pct": None,
        "canopy_change_pct": None,
        "n_usable_baseline": base.n if base else 0,
        "n_usable_latest": latest.n if latest else 0,
    }
    if base is None:
        return "insufficient-data", figures, [f"no usable {rules.baseline_year} baseline"], None
    if latest is None:
        return "insufficient-data", figures, [f"no usable year after {rules.baseline_year}"], None
    g = _pct(latest.green_m2, base.green_m2)
    c = _pct(latest.canopy_m2, base.canopy_m2)
    figures["green_change_pct"], figures["canopy_change_pct"] = g, c
    reasons: list[str] = []
    worst = 0.0
    for label, change in (("green space", g), ("tree canopy", c)):
        if change is None:
            continue
        reasons.append(f"{label} {change:+.1f} % in {latest.year} against {rules.baseline_year}")
        worst = min(worst, change)
    if worst < -rules.net_loss_pct:
        state = "net-loss"
    elif worst < -rules.at_risk_pct:
        state = "at-risk"
    else:
        state = "on-track"
    return state, figures, reasons, latest.year


def national(annual_by_area: dict[str, dict[int, Annual]], rules: Rules) -> tuple[dict[int, Annual], int]:
    """National totals for the baseline year and the latest later year, both summed over the same areas
    (those that have both years), so a missing area never looks like a loss or a gain. Returns the
    totals and the number of areas in them."""
    b = rules.baseline_year
    later = {y for a in annual_by_area.values() if b in a for y in a if y > b}
    if not later:
        base_areas = [a for a in annual_by_area.values() if b in a]
        if not base_areas:
            return {}, 0
        return {b: Annual(b, sum(a[b].green_m2 for a in base_areas), sum(a[b].canopy_m2 for a in base_areas),
                          min(a[b].n for a in base_areas))}, len(base_areas)
    latest = max(later)
    common = [a for a in annual_by_area.values() if b in a and latest in a]
    return {
        y: Annual(y, sum(a[y].green_m2 for a in common), sum(a[y].canopy_m2 for a in common),
                  min(a[y].n for a in common))
        for y in (b, latest)
    }, len(common)
