"""Article 8 rules as pure functions over annual indicators (no I/O), driven by `Rules`.

* Baseline: the indicator of `baseline_year` (2024), per area and as the national total.
* Through 2030: no net loss of the national totals; per area, the change against baseline is shown
  as that area's contribution (losses in one area can be compensated by gains in another).
* State per area and national: insufficient-data (no baseline or no later year); net-loss when green
  space or canopy is below baseline by more than `net_loss_pct` AND the loss is significant (more
  than `z_net_loss` standard errors of the difference of the two annual medians, so that one cloudy
  date cannot condemn an area); at-risk when a loss is beyond `at_risk_pct` (or beyond
  `net_loss_pct` but not yet significant); on-track otherwise.
* The annual value is the median of the usable observations in the season window, with the standard
  error of a median (1.2533 x sd / sqrt(n)) as its uncertainty.
The post-2031 increasing-trend test, the exclusion rule and the satisfactory level are issue 6.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import sqrt
from statistics import median, stdev
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
    z_net_loss: float = 2.0


@dataclass(frozen=True)
class Annual:
    year: int
    green_m2: float
    canopy_m2: float
    n: int
    green_se: float = 0.0
    canopy_se: float = 0.0


def _se_median(values: list[float]) -> float:
    return 1.2533 * stdev(values) / sqrt(len(values)) if len(values) > 1 else 0.0


def annual_indicators(observations: list[Doc], rules: Rules) -> dict[int, Annual]:
    """Per year, the median of the usable in-season observations (at least `min_observations_per_year`)."""
    by_year: dict[int, list[Doc]] = {}
    for o in observations:
        year, month = int(o["date"][:4]), int(o["date"][5:7])
        if o["usable"] and rules.season_start_month <= month <= rules.season_end_month:
            by_year.setdefault(year, []).append(o)
    out: dict[int, Annual] = {}
    for y, obs in sorted(by_year.items()):
        if len(obs) < rules.min_observations_per_year:
            continue
        green = [float(o["green_area_m2"]) for o in obs]
        canopy = [float(o["canopy_area_m2"]) for o in obs]
        out[y] = Annual(y, median(green), median(canopy), len(obs), _se_median(green), _se_median(canopy))
    return out


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
    state = "on-track"
    for label, change, diff, se in (
        ("green space", g, latest.green_m2 - base.green_m2, sqrt(latest.green_se**2 + base.green_se**2)),
        ("tree canopy", c, latest.canopy_m2 - base.canopy_m2, sqrt(latest.canopy_se**2 + base.canopy_se**2)),
    ):
        if change is None:
            continue
        z = diff / se if se > 0 else (0.0 if diff == 0 else float("-inf") if diff < 0 else float("inf"))
        key = "green_z" if label == "green space" else "canopy_z"
        figures[key] = None if abs(z) == float("inf") else round(z, 2)
        reasons.append(f"{label} {change:+.1f} % in {latest.year} against {rules.baseline_year} (z {z:+.1f})")
        if change < -rules.net_loss_pct and z < -rules.z_net_loss:
            state = "net-loss"
        elif change < -rules.at_risk_pct and state != "net-loss":
            state = "at-risk"
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
        return {b: _total(base_areas, b)}, len(base_areas)
    latest = max(later)
    common = [a for a in annual_by_area.values() if b in a and latest in a]
    return {y: _total(common, y) for y in (b, latest)}, len(common)


def _total(areas: list[dict[int, Annual]], y: int) -> Annual:
    """Sum of areas' annual values; standard errors add in quadrature (areas measured independently)."""
    return Annual(
        y,
        sum(a[y].green_m2 for a in areas),
        sum(a[y].canopy_m2 for a in areas),
        min(a[y].n for a in areas),
        sqrt(sum(a[y].green_se ** 2 for a in areas)),
        sqrt(sum(a[y].canopy_se ** 2 for a in areas)),
    )
