"""Reconciliation of the Sentinel-2 series with the official CLMS series, as pure functions.

Per area and indicator (tree canopy, green space), over the years where both series have a usable
annual value:

* **difference**: Sentinel-2 share minus official share, in percentage points of the area;
* **calibration** of the Sentinel-2 share x to the official share y. One or a few overlapping years
  cannot tell a constant bias from a proportional one, so the model is chosen, not fitted:
  - `offset` (y = x + a), a = mean(y - x): the default. It keeps Sentinel-2's change in percentage
    points and anchors the level to the official figure, which is right when Sentinel-2 sees the
    canopy with a constant surplus (fractional canopy from NDVI also credits grass and shrubs) and a
    cleared crown changes both series by about the same share of the area;
  - `ratio` (y = b x), b = sum(y) / sum(x) (config `clms.calibration = "ratio"`): right when the bias
    is proportional; with a constant surplus it under-reads relative losses;
  - `linear` (y = a + b x, ordinary least squares) takes over from 4 overlapping years on, where the
    slope is clearly determined (b / se(b) >= 3); with few years and little change a free slope
    amplifies noise, so otherwise the chosen model stays.
  Uncertainty: the standard errors of the Sentinel-2 annual values of the overlapping years
  (offset: var a = sum(se_i^2) / n^2; ratio: var b = b^2 sum(se_i^2) / (sum x)^2) plus, from two
  years on, the scatter of the residuals;
* **calibrated estimate** for any year with a Sentinel-2 value: y = a + b x (never below 0), with its
  standard error sqrt(b^2 se_x^2 + var_a + x^2 var_b + 2 x cov_ab + s^2), which for the linear
  model is the usual prediction error of a regression plus b^2 se_x^2;
* **early warning** between official releases: for Sentinel-2 years after the latest official
  year, the calibrated canopy against the official baseline-year figure; a `canopy-loss` alert
  when it is below the baseline by more than `canopy_loss_alert_pct` and by more than `z_net_loss`
  standard errors (the official figure is the legal value and taken as exact).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from math import isfinite, sqrt
from statistics import median, stdev
from typing import Any, Literal

from greenwatch.services.clms._common import CALIBRATED, SERIES

Doc = dict[str, Any]
MIN_LINEAR_YEARS = 4
MIN_SLOPE_T = 3.0


@dataclass(frozen=True)
class Annual:
    """An annual share of the area (0..1) with its standard error and number of observations."""

    share: float
    se: float = 0.0
    n: int = 1


@dataclass(frozen=True)
class Calibration:
    model: Literal["none", "offset", "ratio", "linear"]
    a: float = 0.0
    b: float = 1.0
    var_a: float = 0.0
    var_b: float = 0.0
    cov_ab: float = 0.0
    residual_sd: float | None = None
    years: tuple[int, ...] = ()

    def apply(self, x: Annual) -> Annual | None:
        """The calibrated share for a Sentinel-2 annual value, with its standard error."""
        if self.model == "none":
            return None
        value = max(0.0, self.a + self.b * x.share)
        var = self.b**2 * x.se**2 + self.var_a + x.share**2 * self.var_b + 2 * x.share * self.cov_ab
        var += (self.residual_sd or 0.0) ** 2
        return Annual(value, sqrt(max(var, 0.0)), x.n)


def calibrate(pairs: dict[int, tuple[Annual, float]], model: Literal["offset", "ratio"] = "offset") -> Calibration:
    """Fit official share ~ Sentinel-2 share over overlapping years ({year: (s2, official)})."""
    years = tuple(sorted(pairs))
    xs = [pairs[y][0].share for y in years]
    ses = [pairs[y][0].se for y in years]
    ys = [pairs[y][1] for y in years]
    n = len(years)
    if n == 0 or (model == "ratio" and sum(xs) <= 0):
        return Calibration("none", years=years)
    if n >= MIN_LINEAR_YEARS:
        lin = _linear(xs, ys, years)
        if lin is not None:
            return lin
    if model == "offset":
        a = sum(y - x for x, y in zip(xs, ys, strict=True)) / n
        var_a = sum(s**2 for s in ses) / n**2
        resid_sd = None
        if n >= 2:
            resid_sd = sqrt(sum((y - x - a) ** 2 for x, y in zip(xs, ys, strict=True)) / (n - 1))
            var_a += resid_sd**2 / n
        return Calibration("offset", a, 1.0, var_a, 0.0, 0.0, resid_sd, years)
    b = sum(ys) / sum(xs)
    var_b = b**2 * sum(s**2 for s in ses) / sum(xs) ** 2
    resid_sd = None
    if n >= 2:
        resid = [y - b * x for x, y in zip(xs, ys, strict=True)]
        resid_sd = sqrt(sum(r**2 for r in resid) / (n - 1))
        var_b += n * resid_sd**2 / sum(xs) ** 2
    return Calibration("ratio", 0.0, b, 0.0, var_b, 0.0, resid_sd, years)


def _linear(xs: list[float], ys: list[float], years: tuple[int, ...]) -> Calibration | None:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx <= 0:
        return None
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    a = my - b * mx
    s2 = sum((y - a - b * x) ** 2 for x, y in zip(xs, ys, strict=True)) / (n - 2)
    var_b = s2 / sxx
    if var_b > 0 and abs(b) / sqrt(var_b) < MIN_SLOPE_T:
        return None
    # prediction variance s2 (1 + 1/n + (x0 - mx)^2 / sxx) = s2 + var_a + x0^2 var_b + 2 x0 cov_ab
    var_a, cov_ab = s2 / n + mx**2 * var_b, -mx * var_b
    return Calibration("linear", a, b, var_a, var_b, cov_ab, sqrt(s2), years)


def _pct(new: float, old: float) -> float | None:
    return None if old <= 0 else 100.0 * (new - old) / old


@dataclass(frozen=True)
class Thresholds:
    """The trend's settings that the reconciliation uses (config section `trend`)."""

    baseline_year: int = 2024
    canopy_loss_alert_pct: float = 10.0
    z_net_loss: float = 2.0
    season_start_month: int = 5
    season_end_month: int = 9
    min_observations_per_year: int = 2
    calibration: Literal["offset", "ratio"] = "offset"


def annual_shares(observations: list[Doc], th: Thresholds) -> dict[str, dict[int, Annual]]:
    """Annual Sentinel-2 canopy and green shares of the area: the median of the usable in-season
    observations' shares (at least `min_observations_per_year`), with the standard error of a median
    (1.2533 sd / sqrt(n)). The trend's definition of the annual value, applied to shares so that the
    area each observation was counted over (its UTM pixels) drops out."""
    by_year: dict[int, list[Doc]] = {}
    first, last = th.season_start_month, th.season_end_month
    for o in observations:
        month = int(o["date"][5:7])
        in_season = first <= month <= last if first <= last else (month >= first or month <= last)
        if o["usable"] and in_season and o.get("area_m2"):
            by_year.setdefault(int(o["date"][:4]), []).append(o)
    out: dict[str, dict[int, Annual]] = {"canopy": {}, "green": {}}
    for y, obs in sorted(by_year.items()):
        if len(obs) < th.min_observations_per_year:
            continue
        for ind, key in (("canopy", "canopy_area_m2"), ("green", "green_area_m2")):
            shares = [float(o[key]) / float(o["area_m2"]) for o in obs]
            se = 1.2533 * stdev(shares) / sqrt(len(shares)) if len(shares) > 1 else 0.0
            out[ind][y] = Annual(median(shares), se, len(shares))
    return out


def reconcile(area_id: str, s2: dict[str, dict[int, Annual]], official: dict[str, dict[int, float]],
              area_m2: float | None, th: Thresholds) -> Doc:
    """The reconciliation document of one area. `s2` and `official` map indicator ('canopy',
    'green') to {year: share}; `area_m2` (the official area) turns shares into m2."""
    cal = {ind: calibrate({y: (s2[ind][y], official[ind][y]) for y in s2.get(ind, {}) if y in official.get(ind, {})},
                          th.calibration)
           for ind in ("canopy", "green")}
    years = sorted({y for series in (s2, official) for ind in ("canopy", "green") for y in series.get(ind, {})})
    rows = []
    for y in years:
        row: Doc = {"year": y}
        for ind in ("canopy", "green"):
            x, off = s2.get(ind, {}).get(y), official.get(ind, {}).get(y)
            est = cal[ind].apply(x) if x is not None else None
            row.update({
                f"s2_{ind}_share": x.share if x else None, f"s2_{ind}_se": x.se if x else None,
                f"s2_{ind}_n": x.n if x else 0, f"official_{ind}_share": off,
                f"{ind}_diff_pp": 100.0 * (x.share - off) if x is not None and off is not None else None,
                f"calibrated_{ind}_share": est.share if est else None, f"calibrated_{ind}_se": est.se if est else None,
            })
        rows.append(row)
    latest_official = max(official.get("canopy", {}), default=None)
    basis = SERIES if latest_official is not None and latest_official == max(years, default=None) else (
        CALIBRATED if cal["canopy"].model != "none" else "sentinel-2")
    return {
        "area_id": area_id,
        "area_m2": area_m2,
        "latest_official_year": latest_official,
        "basis": basis,
        "years": rows,
        "calibration": {ind: asdict(c) for ind, c in cal.items()},
        "early_warnings": early_warnings(s2, official, cal, area_m2, th),
    }


def early_warnings(s2: dict[str, dict[int, Annual]], official: dict[str, dict[int, float]],
                   cal: dict[str, Calibration], area_m2: float | None, th: Thresholds) -> list[Doc]:
    """Calibrated Sentinel-2 against the official baseline, for each year after the latest official one."""
    base = official.get("canopy", {}).get(th.baseline_year)
    latest = max(official.get("canopy", {}), default=None)
    if base is None or latest is None or cal["canopy"].model == "none" or not area_m2:
        return []
    out = []
    for y in sorted(s2.get("canopy", {})):
        if y <= latest:
            continue
        est = cal["canopy"].apply(s2["canopy"][y])
        if est is None:
            continue
        change = _pct(est.share, base)
        z = (est.share - base) / est.se if est.se > 0 else None
        green_base = official.get("green", {}).get(th.baseline_year)
        green = cal["green"].apply(s2["green"][y]) if y in s2.get("green", {}) else None
        alert = change is not None and change < -th.canopy_loss_alert_pct and (
            (z is None and est.share < base) or (z is not None and z < -th.z_net_loss))
        out.append({
            "year": y, "series": CALIBRATED, "baseline_year": th.baseline_year, "official_year": latest,
            "baseline_canopy_m2": base * area_m2, "latest_canopy_m2": est.share * area_m2,
            "canopy_se_m2": est.se * area_m2, "canopy_change_pct": change,
            "canopy_z": round(z, 2) if z is not None and isfinite(z) else None,
            "baseline_green_m2": green_base * area_m2 if green_base is not None else None,
            "latest_green_m2": green.share * area_m2 if green else None,
            "green_change_pct": _pct(green.share, green_base) if green and green_base is not None else None,
            "calibration": cal["canopy"].model, "calibration_years": list(cal["canopy"].years),
            "alert": bool(alert),
        })
    return out
