"""Observations in, compliance states and alerts out, with a transactional outbox for alerts.

An alert is written to the outbox (table `outbox`, keyed by its deterministic id) before it is sent,
and to `outbox_pending` until the bus has acknowledged it (`after_flush`). A crash in between leaves
it pending, and the next message for that area sends it again with the same id; an alert already in
the outbox is never raised twice.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from greenwatch.schemas import ALERT, COMPLIANCE_STATE, OBSERVATION, Event, make_event, stable_id
from greenwatch.services import metrics, topics
from greenwatch.services.runtime import Outgoing
from greenwatch.services.store import Doc, Store
from greenwatch.services.trend._rules import Annual, Rules, annual_indicators, evaluate, national

SOURCE = "greenwatch/trend"
NATIONAL = "national"
OBS, ANNUAL, STATES, HISTORY, OUTBOX, PENDING = (
    "obs", "annual", "states", "state_history", "outbox", "outbox_pending",
)
SEVERITY = {"net-loss": "critical", "at-risk": "warning", "on-track": "info",
            "insufficient-data": "info", "excluded": "info"}


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _alerting_change(previous: str | None, state: str) -> bool:
    """State changes that raise an alert: every change except the first evaluation of an area (no
    previous state) and the arrival of enough data to show it on track (insufficient-data -> on-track),
    which is news to nobody."""
    if previous is None or previous == state:
        return False
    return not (previous == "insufficient-data" and state == "on-track")


class TrendService:
    name = "trend"
    topics = (topics.OBSERVATIONS,)

    def __init__(self, *, store: Store, rules: Rules, area_names: dict[str, str] | None = None) -> None:
        self.store = store
        self.rules = rules
        self.area_names = area_names or {}
        self._sent: dict[str, None] = {}

    # -- handler -------------------------------------------------------------------------------
    def handle(self, event: Event) -> list[Outgoing]:
        if event["type"] != OBSERVATION.type:
            return []
        obs = event["data"]
        area = obs["area_id"]
        self.store.put(OBS, f"{area}/{obs['date']}", obs)
        observations = [d for _, d in self.store.scan(OBS, area + "/")]
        annual = annual_indicators(observations, self.rules)
        self.store.put(ANNUAL, area, {str(y): asdict(a) for y, a in annual.items()})
        out: list[Outgoing] = []
        out += self._update_state(area, annual, obs["series"], event.get("traceid"))
        all_annual = {
            key: {int(y): Annual(**a) for y, a in doc.items()} for key, doc in self.store.scan(ANNUAL)
        }
        nat, _n_areas = national(all_annual, self.rules)
        out += self._update_state(NATIONAL, nat, obs["series"], event.get("traceid"))
        out += self._pending(area) + self._pending(NATIONAL)
        return out

    def after_flush(self) -> None:
        for key in self._sent:
            self.store.delete(PENDING, key)
        self._sent = {}

    # -- internals -----------------------------------------------------------------------------
    def _update_state(self, area: str, annual: dict[int, Annual], series: str, trace: Any) -> list[Outgoing]:
        state, figures, reasons, latest_year = evaluate(annual, self.rules)
        previous = self.store.get(STATES, area)
        prev_state = previous["state"] if previous else None
        out: list[Outgoing] = []
        if previous is None or previous["state"] != state or previous["figures"] != figures:
            doc = {
                "area_id": area, "state": state, "series": series, "baseline_year": self.rules.baseline_year,
                "latest_year": latest_year, "evaluated_at": _now(), "figures": figures, "reasons": reasons,
                "previous_state": prev_state,
            }
            self.store.put(STATES, area, doc)
            self.store.put(HISTORY, f"{area}/{doc['evaluated_at']}", doc)
            ev = make_event(COMPLIANCE_STATE, doc, source=SOURCE, subject=area, trace_id=trace,
                            event_id=stable_id("state", area, state, repr(sorted(figures.items()))))
            out.append(Outgoing(topics.STATES, area, ev))
        if _alerting_change(prev_state, state):
            self._raise(area, "state-change", SEVERITY[state], series, figures,
                        f"{self._label(area)}: {prev_state} -> {state}; " + "; ".join(reasons),
                        from_state=prev_state, to_state=state, latest_year=latest_year)
        canopy = figures.get("canopy_change_pct")
        if canopy is not None and canopy < -self.rules.canopy_loss_alert_pct:
            self._raise(area, "canopy-loss", "critical", series, figures,
                        f"{self._label(area)}: tree canopy {canopy:+.1f} % in {latest_year} against "
                        f"{self.rules.baseline_year} (threshold -{self.rules.canopy_loss_alert_pct:g} %)",
                        latest_year=latest_year)
        return out

    def _label(self, area: str) -> str:
        name = self.area_names.get(area)
        return f"{name} ({area})" if name else area

    def _raise(self, area: str, alert_type: str, severity: str, series: str, figures: Doc, message: str, *,
               latest_year: int | None, from_state: str | None = None, to_state: str | None = None) -> None:
        alert_id = stable_id(area, alert_type, series, from_state, to_state, latest_year)
        if self.store.get(OUTBOX, alert_id) is not None:
            return  # raised before: never twice
        alert = {
            "alert_id": alert_id, "area_id": area, "area_name": self.area_names.get(area),
            "alert_type": alert_type, "severity": severity, "message": message, "series": series,
            "from_state": from_state, "to_state": to_state, "figures": figures, "raised_at": _now(),
        }
        self.store.put(OUTBOX, alert_id, alert)
        self.store.put(PENDING, f"{area}/{alert_id}", alert)
        metrics.ALERTS.labels(alert_type).inc()

    def _pending(self, area: str) -> list[Outgoing]:
        out = []
        for key, alert in self.store.scan(PENDING, area + "/"):
            if key in self._sent:
                continue
            ev = make_event(ALERT, alert, source=SOURCE, subject=area, event_id=alert["alert_id"])
            out.append(Outgoing(topics.ALERTS, area, ev))
            self._sent[key] = None
        return out
