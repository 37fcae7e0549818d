"""Article 8 of Regulation (EU) 2024/1991 as pure functions over annual indicators, driven by `Rules`.

* Baseline: the annual value of `baseline_year` (2024), per area and as the national total.
* Through `no_net_loss_until` (2030), regime 'no-net-loss' (Art. 8(1)): no net loss of the national
  totals of urban green space and urban tree canopy against the baseline. Losses in one area are
  compensated by gains in another: the national state rests on the totals, and each area's change
  is shown as its contribution. Per area the same test gives an operational state of the area's own
  contribution.
* Optional exclusion (Art. 8(1), second subparagraph; `exclusion`): an area whose share of green
  space is MORE than `exclusion_green_pct` (45 %) AND whose share of canopy is MORE than
  `exclusion_canopy_pct` (10 %) in the baseline year is 'excluded' and left out of the national
  no-net-loss totals, on every series. Exactly 45 % (or 10 %) is not more, so not excluded. The
  shares are over the area's urban centres and urban clusters when the official baseline has those
  figures (a UCC layer is configured), else over the whole area as an approximation; the figures
  (`exclusion`) and the reasons always name the basis (`_exclusion`).
* The national state judges a year only once it is complete enough: at least
  `national_min_area_fraction` (default 1.0: all) of the areas with a baseline (not excluded) have it.
  Until then it rests on the latest complete year and says so ("2026: 120 of 343 areas so far; judged
  on 2025"; `pending_year`, `pending_areas`), so it does not move with every area that arrives. Two
  more rules keep it from flapping or stalling:
  - a year once judged stays complete (`held_year`, the year the previous national state was judged
    on): an area that arrives later with its baseline but not that year (an official layer ingested
    area by area) is left out of that year's totals and named, instead of sending the state back to
    insufficient-data until it catches up;
  - on a series with a season window (Sentinel-2, not the official layers; `closed_by_later`), a year
    is closed once any area has a value of a later year: its season is over, so an area without a
    value for it (permanent cloud, a data gap) will not get one and no longer holds it back; it is
    left out and named. The official series has no such closure (a backfill may deliver two years'
    layers interleaved), so there a missing area holds the year back: `pending_missing_areas`.
* From the year after (2031), regime 'increasing-trend' (Art. 8(2) and (3)): national green space and
  each area's canopy must show an increasing trend, judged on six-yearly measurements (2030 -> 2036
  -> 2042...), with a Mann-Kendall test and Theil-Sen slope on the annual values as early warning
  (at-risk on a significant decrease at `mk_alpha`), until the satisfactory level (Art. 14(5);
  `satisfactory_*_pct`, unset by default) is reached. Per area, green space is an early warning only;
  nationally, canopy is an early warning only (its obligation is per area). Exclusion no longer applies.
* States: insufficient-data (no baseline, no later year, or no six-yearly value where one is due),
  excluded, net-loss, at-risk, on-track; each with its figures and reasons.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from math import sqrt
from typing import Any

from greenwatch.services.trend._annual import Annual
from greenwatch.services.trend._exclusion import ExclusionBasis, exclusion_basis
from greenwatch.services.trend._judge import (
    Verdict,
    change,
    early_warning,
    increasing_trend,
    no_net_loss,
    share,
    worst,
    z_figure,
)

Doc = dict[str, Any]
SERIES_PRIORITY = ("official", "sentinel-2 (calibrated)", "sentinel-2")


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
    z_at_risk: float = 1.0
    no_net_loss_until: int = 2030
    trend_period_years: int = 6
    mk_alpha: float = 0.05
    mk_min_years: int = 5
    mk_from_year: int | None = None
    exclusion: bool = False
    exclusion_green_pct: float = 45.0
    exclusion_canopy_pct: float = 10.0
    satisfactory_green_pct: float | None = None
    satisfactory_canopy_pct: float | None = None
    data_gap_months: float = 12.0
    series_priority: tuple[str, ...] = SERIES_PRIORITY
    ucc_layer: bool = False  # an urban centres and clusters layer is configured (only the wording depends on it)
    national_min_area_fraction: float = 1.0

    def regime(self, year: int) -> str:
        return "no-net-loss" if year <= self.no_net_loss_until else "increasing-trend"

    def measurement_years(self, year: int) -> list[int]:
        """2030, 2036, ... up to the first one after `year` (so the next due one is always listed)."""
        out = [self.no_net_loss_until]
        while out[-1] <= year:
            out.append(out[-1] + self.trend_period_years)
        return out


@dataclass(frozen=True)
class Evaluation:
    state: str
    regime: str | None
    figures: Doc
    reasons: list[str]
    latest_year: int | None


def is_excluded(base: Annual, rules: Rules) -> bool:
    """Both shares strictly above their thresholds, over the urban centres and clusters when `base`
    has those figures, else over the whole area (`_exclusion.exclusion_basis`)."""
    decision = exclusion_basis(base, rules)
    return decision is not None and decision.excluded


def _latest(annual: dict[int, Annual], rules: Rules) -> int | None:
    later = [y for y in annual if y > rules.baseline_year]
    return max(later) if later else None


def _base_figures(annual: dict[int, Annual], rules: Rules, latest: int | None) -> Doc:
    base = annual.get(rules.baseline_year)
    last = annual.get(latest) if latest is not None else None
    either = base or last
    figs: Doc = {
        "area_m2": either.area_m2 if either else None,
        "baseline_green_m2": base.green_m2 if base else None,
        "baseline_canopy_m2": base.canopy_m2 if base else None,
        "latest_green_m2": last.green_m2 if last else None,
        "latest_canopy_m2": last.canopy_m2 if last else None,
        "baseline_green_share_pct": share(base, "green") if base else None,
        "baseline_canopy_share_pct": share(base, "canopy") if base else None,
        "latest_green_share_pct": share(last, "green") if last else None,
        "latest_canopy_share_pct": share(last, "canopy") if last else None,
        "latest_green_se_m2": last.green_se if last else None,
        "latest_canopy_se_m2": last.canopy_se if last else None,
        "green_change_pct": None, "canopy_change_pct": None, "green_z": None, "canopy_z": None,
        "n_usable_baseline": base.n if base else 0,
        "n_usable_latest": last.n if last else 0,
    }
    if base is not None and last is not None:
        for ind in ("green", "canopy"):
            pct, z = change(base, last, ind)
            figs[f"{ind}_change_pct"], figs[f"{ind}_z"] = pct, z_figure(z)
    return figs


def _judge(annual: dict[int, Annual], latest: int, rules: Rules, legal: dict[str, bool], figs: Doc) -> Verdict:
    """Both indicators in the regime of `latest`; a legal indicator that cannot be judged makes the
    state insufficient-data unless another indicator already shows a problem."""
    b = rules.baseline_year
    if rules.regime(latest) == "no-net-loss":
        verdicts = [no_net_loss(annual, ind, b, latest, rules) for ind in ("green", "canopy")]
        for ind in ("green", "canopy"):
            _v, ew_figs = early_warning(annual, ind, latest, rules)
            figs.setdefault("trend", {})[ind] = {"early_warning": ew_figs}
    else:
        verdicts = []
        for ind in ("green", "canopy"):
            v = increasing_trend(annual, ind, latest, rules, legal=legal[ind])
            figs.setdefault("trend", {})[ind] = {**v.figures, "legal": legal[ind]}
            verdicts.append(v)
    states = [v.state for v in verdicts]
    known = [s for s in states if s != "insufficient-data"]
    unknown = "insufficient-data" in states and worst(known) == "on-track"
    state = "insufficient-data" if unknown else worst(known)
    return Verdict(state, [r for v in verdicts for r in v.reasons])


def evaluate_area(annual: dict[int, Annual], rules: Rules, exclusion: ExclusionBasis | None = None) -> Evaluation:
    """An area's state from its annual indicators of one series. `exclusion`: the area's exclusion
    decision when it was taken on better data than this series' own baseline (the official urban
    centres and clusters, `_exclusion.area_exclusion`); None: decided on this series' baseline."""
    b = rules.baseline_year
    latest = _latest(annual, rules)
    figs = _base_figures(annual, rules, latest)
    base = annual.get(b)
    decision = exclusion if exclusion is not None else (exclusion_basis(base, rules) if base is not None else None)
    figs["excluded"] = decision is not None and decision.excluded
    figs["exclusion"] = decision.to_doc() if decision is not None else None
    if latest is None:
        why = f"no usable {b} baseline" if b not in annual else f"no usable year after {b}"
        return Evaluation("insufficient-data", None, figs, [why], None)
    regime = rules.regime(latest)
    excluded = decision is not None and decision.excluded and regime == "no-net-loss"
    if regime == "no-net-loss" and b not in annual:
        if excluded:
            assert decision is not None  # noqa: S101 - excluded implies a decision
            return Evaluation("excluded", regime, figs, [decision.reason(rules), f"no usable {b} baseline on this "
                                                         "series"], latest)
        return Evaluation("insufficient-data", regime, figs, [f"no usable {b} baseline"], latest)
    verdict = _judge(annual, latest, rules, {"green": False, "canopy": True}, figs)
    if excluded:
        assert decision is not None  # noqa: S101 - excluded implies a decision
        return Evaluation("excluded", regime, figs, [decision.reason(rules), *verdict.reasons], latest)
    prefix = "contribution to the national total: " if regime == "no-net-loss" else ""
    note = [decision.reason(rules)] if decision is not None and regime == "no-net-loss" else []
    return Evaluation(verdict.state, regime, figs, [prefix + r for r in verdict.reasons] + note, latest)


def _total(areas: list[dict[int, Annual]], y: int) -> Annual:
    """Sum over areas; standard errors add in quadrature (areas measured independently)."""
    return Annual(y, sum(a[y].green_m2 for a in areas), sum(a[y].canopy_m2 for a in areas), min(a[y].n for a in areas),
                  sqrt(sum(a[y].green_se ** 2 for a in areas)), sqrt(sum(a[y].canopy_se ** 2 for a in areas)),
                  sum(a[y].area_m2 for a in areas))


def _eligible(annual_by_area: dict[str, dict[int, Annual]], y: int, rules: Rules, excluded: set[str]) -> list[str]:
    """The areas a national figure for year `y` must wait for: those with the baseline (and, through
    2030, not excluded); if no area has a baseline (nothing to compare against), every area with a value."""
    out = [a for a, ann in annual_by_area.items() if ann and not (rules.regime(y) == "no-net-loss" and a in excluded)]
    with_base = [a for a in out if rules.baseline_year in annual_by_area[a]]
    return sorted(with_base or out)


def _complete_year(annual_by_area: dict[str, dict[int, Annual]], rules: Rules, excluded: set[str], *,
                   held_year: int | None = None, closed_by_later: bool = False) -> tuple[int | None, Doc]:
    """The latest year after the baseline that at least `national_min_area_fraction` of its eligible
    areas have, that was judged before (`held_year`), or (`closed_by_later`) that a later year of any
    area has closed; and the progress of the newest year if that one is not complete yet."""
    later = sorted({y for ann in annual_by_area.values() for y in ann if y > rules.baseline_year}, reverse=True)
    progress: Doc = {"pending_year": None, "pending_areas": None, "pending_of": None, "pending_missing_areas": []}
    for y in later:
        eligible = _eligible(annual_by_area, y, rules, excluded)
        arrived = [a for a in eligible if y in annual_by_area[a]]
        closed = y == held_year or (closed_by_later and y != later[0])
        if arrived and (closed or len(arrived) >= rules.national_min_area_fraction * len(eligible)):
            return y, progress
        if progress["pending_year"] is None:
            progress = {"pending_year": y, "pending_areas": len(arrived), "pending_of": len(eligible),
                        "pending_missing_areas": [a for a in eligible if y not in annual_by_area[a]]}
    return None, progress


def national_totals(annual_by_area: dict[str, dict[int, Annual]], rules: Rules,
                    exclusions: dict[str, ExclusionBasis] | None = None, *, held_year: int | None = None,
                    closed_by_later: bool = False) -> tuple[dict[int, Annual], Doc]:
    """National totals, each year summed over the SAME areas, so that a missing area never looks like
    a loss or a gain. The year judged is the latest complete one (`_complete_year`); the areas summed
    are those with the baseline and that year (no-net-loss; excluded areas left out) or with that year
    and the six-yearly measurement years (increasing-trend). Years after it, and years in which one of
    those areas has no value, are left out. Also returns who is in and out, each area's contribution
    (its change against the baseline), the exclusion basis of each excluded area and the progress of
    a year not complete yet. `exclusions`: per area, a decision shared by every series (the official
    urban centres and clusters, `_exclusion.area_exclusion`); other areas decide on their baseline."""
    b = rules.baseline_year
    decisions = {a: d for a, ann in annual_by_area.items()
                 if (d := (exclusions or {}).get(a) or (exclusion_basis(ann[b], rules) if b in ann else None))}
    excluded_all = {a for a, d in decisions.items() if d.excluded}
    latest, progress = _complete_year(annual_by_area, rules, excluded_all, held_year=held_year,
                                      closed_by_later=closed_by_later)
    regime = rules.regime(latest) if latest is not None else "no-net-loss"
    excluded = sorted(excluded_all) if regime == "no-net-loss" else []
    if latest is None:
        have = sorted(a for a, ann in annual_by_area.items() if b in ann and a not in excluded)
        totals = {b: _total([annual_by_area[a] for a in have], b)} if have else {}
        return totals, {"n_areas": len(have), "areas": have, "excluded_areas": excluded, "left_out_areas": [],
                        "contributions": [], "judged_year": None, **progress,
                        "exclusion_basis": {a: decisions[a].kind for a in excluded}}
    if regime == "no-net-loss":
        needed = {b, latest}
    else:
        needed = {latest, *[m for m in rules.measurement_years(latest) if m <= latest][-2:]}
    common = sorted(a for a, ann in annual_by_area.items() if needed <= ann.keys() and a not in excluded)
    left_out = sorted(a for a in annual_by_area if a not in common and a not in excluded)
    years = sorted({y for a in common for y in annual_by_area[a] if y <= latest})
    chosen = [annual_by_area[a] for a in common]
    totals = {y: _total(chosen, y) for y in years if chosen and all(y in a for a in chosen)}
    contributions = []
    for a in common:
        ann = annual_by_area[a]
        if b in ann:
            contributions.append({
                "area_id": a, "green_change_m2": ann[latest].green_m2 - ann[b].green_m2,
                "canopy_change_m2": ann[latest].canopy_m2 - ann[b].canopy_m2,
                "green_change_pct": change(ann[b], ann[latest], "green")[0],
                "canopy_change_pct": change(ann[b], ann[latest], "canopy")[0],
            })
    return totals, {"n_areas": len(common), "areas": common, "excluded_areas": excluded, "left_out_areas": left_out,
                    "contributions": contributions, "judged_year": latest, **progress,
                    "exclusion_basis": {a: decisions[a].kind for a in excluded}}


def _who_reasons(who: Doc, rules: Rules) -> list[str]:
    out = []
    if who["pending_year"] is not None:
        on = (f"judged on {who['judged_year']}" if who["judged_year"] is not None
              else f"no complete year after {rules.baseline_year} yet")
        need = ("" if rules.national_min_area_fraction >= 1.0
                else f" (needs {rules.national_min_area_fraction:.0%} of them)")
        out.append(f"{who['pending_year']}: {who['pending_areas']} of {who['pending_of']} areas so far{need}; {on}")
    if who["n_areas"]:
        counts = Counter(who["exclusion_basis"].values())
        basis = " (" + ", ".join(f"{n} on {_KIND[k]}" for k, n in sorted(counts.items())) + ")"
        out.append(f"totals over {who['n_areas']} areas"
                   + (f"; {len(who['excluded_areas'])} excluded{basis}" if who["excluded_areas"] else "")
                   + (f"; {len(who['left_out_areas'])} left out for missing years" if who["left_out_areas"] else ""))
    return out


_KIND = {"ucc": "urban centres and clusters", "whole-area": "the whole area"}


def evaluate_national(annual_by_area: dict[str, dict[int, Annual]], rules: Rules,
                      exclusions: dict[str, ExclusionBasis] | None = None, *, held_year: int | None = None,
                      closed_by_later: bool = False) -> Evaluation:
    """The national state from every area's annual indicators of one series (`exclusions`: see
    `national_totals`; pass the same to every series so excluded areas are left out consistently)."""
    totals, who = national_totals(annual_by_area, rules, exclusions, held_year=held_year,
                                  closed_by_later=closed_by_later)
    ev = evaluate_area_totals(totals, rules)
    figs = {**ev.figures, **who}
    figs.pop("excluded", None)
    figs.pop("exclusion", None)
    reasons = [r.removeprefix("contribution to the national total: ") for r in ev.reasons]
    reasons += _who_reasons(who, rules)
    if ev.regime == "increasing-trend":
        failing = sorted(a for a in who["areas"]
                         if increasing_trend(annual_by_area[a], "canopy", ev.latest_year or 0, rules,
                                             legal=True).state in ("at-risk", "net-loss"))
        figs["areas_canopy_not_increasing"] = failing
        reasons.append(f"tree canopy is judged per area: {len(failing)} of {who['n_areas']} areas not increasing")
    return Evaluation(ev.state, ev.regime, figs, reasons, ev.latest_year)


def evaluate_area_totals(totals: dict[int, Annual], rules: Rules) -> Evaluation:
    """National totals judged as one area whose legal indicator from 2031 is green space."""
    b = rules.baseline_year
    latest = _latest(totals, rules)
    figs = _base_figures(totals, rules, latest)
    if latest is None:
        why = f"no area has a usable {b} baseline" if b not in totals else f"no usable year after {b} in any area"
        return Evaluation("insufficient-data", None, figs, [why], None)
    regime = rules.regime(latest)
    if regime == "no-net-loss" and b not in totals:
        return Evaluation("insufficient-data", regime, figs, [f"no usable {b} baseline"], latest)
    verdict = _judge(totals, latest, rules, {"green": True, "canopy": False}, figs)
    return Evaluation(verdict.state, regime, figs, verdict.reasons, latest)


def choose_series(evaluations: dict[str, Evaluation], rules: Rules) -> str:
    """The series the legal state rests on: the first of `series_priority` (official first) whose
    evaluation is not insufficient-data (an official layer exists for the baseline and a later year);
    else the first with a baseline value; else the first present. The other series stay visible in
    the state's `series_states` (the Sentinel-2 early warning beside the official figure)."""
    present = [s for s in rules.series_priority if s in evaluations] or sorted(evaluations)
    judged = [s for s in present if evaluations[s].state != "insufficient-data"]
    based = [s for s in present if evaluations[s].figures.get("baseline_green_m2") is not None]
    return (judged or based or present or [rules.series_priority[-1]])[0]
