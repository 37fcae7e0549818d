"""Which alerts a new evaluation raises (pure): state changes, canopy loss against the baseline and
data gaps. Each alert id is deterministic (ADR 0003), so raising the same alert twice is recognised
by the outbox and subscribers can drop copies by id."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from greenwatch.schemas import stable_id
from greenwatch.services.trend._annual import OFFICIAL
from greenwatch.services.trend._rules import Evaluation, Rules

Doc = dict[str, Any]
SEVERITY = {"net-loss": "critical", "at-risk": "warning", "on-track": "info",
            "insufficient-data": "info", "excluded": "info"}
DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class Alert:
    alert_id: str
    alert_type: str
    severity: str
    message: str
    extra: Doc = field(default_factory=dict)


def alerting_change(previous: str | None, state: str) -> bool:
    """Every change of state raises an alert except the first evaluation of an area (no previous
    state) and the arrival of enough data to show it fine (insufficient-data -> on-track or
    excluded), which is news to nobody."""
    if previous is None or previous == state:
        return False
    return not (previous == "insufficient-data" and state in ("on-track", "excluded"))


def state_alerts(area: str, label: str, series: str, previous: str | None, ev: Evaluation,
                 rules: Rules, *, change: int = 0) -> list[Alert]:
    """`change`: the ordinal of this change of the area's state (the service counts them), part of the
    state-change alert's id: the same change again is the same alert, a state that comes back is news."""
    out = []
    if alerting_change(previous, ev.state):
        out.append(Alert(
            stable_id(area, "state-change", series, previous, ev.state, ev.latest_year, change), "state-change",
            SEVERITY[ev.state], f"{label}: {previous} -> {ev.state} ({series}); " + "; ".join(ev.reasons),
            {"from_state": previous, "to_state": ev.state, "year": ev.latest_year, "regime": ev.regime}))
    canopy = ev.figures.get("canopy_change_pct")
    if canopy is not None and canopy < -rules.canopy_loss_alert_pct:
        out.append(Alert(
            stable_id(area, "canopy-loss", series, None, None, ev.latest_year), "canopy-loss", "critical",
            f"{label}: tree canopy {canopy:+.1f} % in {ev.latest_year} against {rules.baseline_year} "
            f"({series}; threshold -{rules.canopy_loss_alert_pct:g} %)",
            {"year": ev.latest_year, "regime": ev.regime}))
    return out


def data_gap(observations: list[Doc], series: str, months: float) -> tuple[str, str, float, bool] | None:
    """The gap that ends at the series' latest observation: from the last usable observation before
    it (or, if there is none, the first observation) to it. Returns (start, end, months, open) when
    longer than `months`; open means the latest observation is itself unusable, so the gap goes on.
    Official layers are published every few years and are never 'in a gap'."""
    if series == OFFICIAL:
        return None
    mine = [o for o in observations if o.get("series", "sentinel-2") == series]
    if not mine:
        return None
    dates = sorted(o["date"] for o in mine)
    last = dates[-1]
    prior = sorted(o["date"] for o in mine if o["usable"] and o["date"] < last)
    start = prior[-1] if prior else dates[0]
    length = (date.fromisoformat(last) - date.fromisoformat(start)).days / DAYS_PER_MONTH
    if length <= months:
        return None
    still_open = not any(o["usable"] for o in mine if o["date"] == last)
    return start, last, length, still_open


def gap_alert(area: str, label: str, series: str, observations: list[Doc], rules: Rules) -> Alert | None:
    gap = data_gap(observations, series, rules.data_gap_months)
    if gap is None:
        return None
    start, end, months, still_open = gap
    how = "still open" if still_open else "closed"
    return Alert(stable_id(area, "data-gap", series, start), "data-gap", "warning",
                 f"{label}: no usable {series} observation from {start} to {end} ({months:.1f} months, {how}; "
                 f"threshold {rules.data_gap_months:g} months)",
                 {"gap": {"from": start, "to": end, "months": round(months, 2), "open": still_open}})
