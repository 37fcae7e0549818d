"""How one indicator (green space or tree canopy) of one series is judged: against the baseline
(no net loss, through `no_net_loss_until`), on six-yearly measurements (increasing trend, from the
year after), and by the Mann-Kendall early warning on annual values. Pure functions over `Annual`."""

from __future__ import annotations

from dataclasses import dataclass, field
from math import inf, isfinite, sqrt
from typing import TYPE_CHECKING, Any

from greenwatch.services.trend._annual import Annual
from greenwatch.services.trend._stats import mann_kendall

if TYPE_CHECKING:
    from greenwatch.services.trend._rules import Rules

Doc = dict[str, Any]
LABEL = {"green": "green space", "canopy": "tree canopy"}
SEVERITY_RANK = {"on-track": 0, "insufficient-data": 1, "at-risk": 2, "net-loss": 3}


@dataclass(frozen=True)
class Verdict:
    state: str  # on-track, at-risk, net-loss or insufficient-data
    reasons: list[str] = field(default_factory=list)
    figures: Doc = field(default_factory=dict)


def value(a: Annual, ind: str) -> tuple[float, float]:
    return (a.green_m2, a.green_se) if ind == "green" else (a.canopy_m2, a.canopy_se)


def share(a: Annual, ind: str) -> float | None:
    return a.green_share_pct if ind == "green" else a.canopy_share_pct


def _pct(new: float, old: float) -> float | None:
    return None if old <= 0 else 100.0 * (new - old) / old


def _z(diff: float, se: float) -> float:
    if se > 0:
        return diff / se
    return 0.0 if diff == 0 else (-inf if diff < 0 else inf)


def z_figure(z: float) -> float | None:
    return round(z, 2) if isfinite(z) else None


def z_text(z: float) -> str:
    """The z score as the reasons print it; figures without a standard error (official layers) have none."""
    return f"z {z:+.1f}" if isfinite(z) else "no standard error"


def change(old: Annual, new: Annual, ind: str) -> tuple[float | None, float]:
    """Change in % of `old` and its z score (difference over the combined standard error)."""
    (v0, s0), (v1, s1) = value(old, ind), value(new, ind)
    return _pct(v1, v0), _z(v1 - v0, sqrt(s0 * s0 + s1 * s1))


def loss_state(pct: float, z: float, rules: Rules) -> str:
    """net-loss: beyond `net_loss_pct` and `z_net_loss` standard errors (one cloudy date cannot
    condemn an area); at-risk: beyond `at_risk_pct` and `z_at_risk` standard errors."""
    if pct < -rules.net_loss_pct and z < -rules.z_net_loss:
        return "net-loss"
    if pct < -rules.at_risk_pct and z < -rules.z_at_risk:
        return "at-risk"
    return "on-track"


def no_net_loss(series: dict[int, Annual], ind: str, base_year: int, year: int, rules: Rules) -> Verdict:
    pct, z = change(series[base_year], series[year], ind)
    figs = {f"{ind}_change_pct": pct, f"{ind}_z": z_figure(z)}
    if pct is None:
        return Verdict("on-track", [f"{LABEL[ind]}: no {base_year} {LABEL[ind]} to lose"], figs)
    return Verdict(loss_state(pct, z, rules),
                   [f"{LABEL[ind]} {pct:+.1f} % in {year} against {base_year} ({z_text(z)})"], figs)


def six_yearly(series: dict[int, Annual], ind: str, year: int, rules: Rules) -> Verdict | None:
    """The latest completed six-yearly measurement: the value of measurement year m_k against m_(k-1),
    with m_0 = `no_net_loss_until` (2030); None before the first one (m_1 = 2036) is due."""
    done = [m for m in rules.measurement_years(year) if m <= year]
    if len(done) < 2:
        return None
    prev, last = done[-2], done[-1]
    missing = [m for m in (prev, last) if m not in series]
    if missing:
        return Verdict("insufficient-data", [f"{LABEL[ind]}: no usable value for the six-yearly measurement "
                                             f"year {', '.join(map(str, missing))}"],
                       {"from_year": prev, "to_year": last, "change_pct": None, "z": None})
    pct, z = change(series[prev], series[last], ind)
    figs = {"from_year": prev, "to_year": last, "change_pct": pct, "z": z_figure(z)}
    diff = value(series[last], ind)[0] - value(series[prev], ind)[0]
    text = f"{LABEL[ind]} {'n/a' if pct is None else f'{pct:+.1f} %'} from {prev} to {last} ({z_text(z)})"
    if pct is not None and pct < -rules.net_loss_pct and z < -rules.z_net_loss:
        return Verdict("net-loss", [f"six-yearly measurement: {text}: decreasing"], figs)
    if diff <= 0:
        return Verdict("at-risk", [f"six-yearly measurement: {text}: no increasing trend"], figs)
    return Verdict("on-track", [f"six-yearly measurement: {text}: increasing"], figs)


def early_warning(series: dict[int, Annual], ind: str, year: int, rules: Rules) -> tuple[Verdict | None, Doc]:
    """Mann-Kendall with the Theil-Sen slope on the annual values from `mk_from_year` (default the
    baseline) to `year`; at-risk on a significant decrease. None with fewer than `mk_min_years`."""
    start = rules.baseline_year if rules.mk_from_year is None else rules.mk_from_year
    years = sorted(y for y in series if start <= y <= year)
    if len(years) < rules.mk_min_years:
        return None, {"n_years": len(years), "from_year": start, "computed": False}
    mk = mann_kendall([float(y) for y in years], [value(series[y], ind)[0] for y in years], rules.mk_alpha)
    figs = {"n_years": mk.n, "from_year": years[0], "to_year": years[-1], "computed": True, "s": mk.s,
            "z": round(mk.z, 4), "p": round(mk.p, 6), "tau": round(mk.tau, 4), "alpha": rules.mk_alpha,
            "slope_m2_per_year": mk.slope, "intercept_m2": mk.intercept, "trend": mk.trend}
    text = (f"{LABEL[ind]}: Mann-Kendall {years[0]}-{years[-1]} {mk.trend} (S {mk.s:+d}, p {mk.p:.3f}, "
            f"Theil-Sen {mk.slope:+,.0f} m2/year)")
    return Verdict("at-risk" if mk.trend == "decreasing" else "on-track", [text], figs), figs


def increasing_trend(series: dict[int, Annual], ind: str, year: int, rules: Rules, *, legal: bool) -> Verdict:
    """From the year after `no_net_loss_until`. A legal indicator (national green space, each area's
    tree canopy) needs the six-yearly measurement or, before the first one, the early warning; an
    early-warning-only indicator can at most be at-risk and is never insufficient."""
    ew, ew_figs = early_warning(series, ind, year, rules)
    level = rules.satisfactory_green_pct if ind == "green" else rules.satisfactory_canopy_pct
    now = share(series[year], ind) if year in series else None
    figs: Doc = {"early_warning": ew_figs, "six_yearly": None, "satisfactory_level_pct": level}
    if legal and level is not None and now is not None and now >= level:
        return Verdict("on-track", [f"{LABEL[ind]} {now:.1f} % of the area reaches the satisfactory level "
                                    f"{level:g} %: the increasing-trend obligation is met"], figs)
    if not legal:
        return Verdict(ew.state if ew else "on-track", ew.reasons if ew else [], figs)
    six = six_yearly(series, ind, year, rules)
    figs["six_yearly"] = six.figures if six else None
    reasons = (six.reasons if six else [f"{LABEL[ind]}: first six-yearly measurement due in "
                                         f"{rules.measurement_years(year)[1]}"]) + (ew.reasons if ew else [])
    if six is None and ew is None:
        return Verdict("insufficient-data", [*reasons, f"{LABEL[ind]}: {ew_figs['n_years']} annual values, the "
                                             f"early warning needs {rules.mk_min_years}"], figs)
    if six is not None and six.state == "insufficient-data":
        return Verdict("at-risk" if ew and ew.state == "at-risk" else "insufficient-data", reasons, figs)
    return Verdict(worst([v.state for v in (six, ew) if v is not None]), reasons, figs)


def worst(states: list[str]) -> str:
    return max(states, key=lambda s: SEVERITY_RANK[s]) if states else "on-track"
