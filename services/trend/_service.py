"""Observations in, compliance states and alerts out, with a transactional outbox for alerts.

Each observation is stored under (area, series, date), so a redelivered one overwrites itself; the
area's annual indicators, its state and the national state are then recomputed from everything
stored. Every series is kept: the state rests on the official one when it can be judged on it
(`choose_series`), always says which, and lists the state on every series in `series_states`.

A state document is written (with a history entry) and published only when its content changes.
An alert is written to the outbox (table `outbox`, keyed by its deterministic id; `services/outbox.py`)
before it is sent, and to `outbox_pending` until the bus has acknowledged it (`after_flush`). A crash in between leaves
it pending, and the next message for that area sends it again with the same id; an alert already in
the outbox is never raised twice.

Annual-composite events (services/composite, on the same topic and key) are stored under
(area, year, tile) in `composites`, the latest replacing the earlier, and recompute the area like an
observation: the 'sentinel-2' annual values of an area are then the pixel composites, in every year,
once they give every year the area medians give (but the newest), else the area medians, never a mix
(`_composite.sentinel2_annuals`); every annual value and the state's figures say which `method`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from greenwatch.schemas import ANNUAL_COMPOSITE, COMPLIANCE_STATE, OBSERVATION, Event, make_event, stable_id
from greenwatch.services import topics
from greenwatch.services.outbox import AlertOutbox
from greenwatch.services.runtime import Outgoing
from greenwatch.services.store import Doc, Store
from greenwatch.services.trend._alerts import Alert, alerting_change, gap_alert, state_alerts
from greenwatch.services.trend._annual import OFFICIAL, Annual, annual_indicators
from greenwatch.services.trend._composite import COMPOSITES, SENTINEL2, composite_key, method_figures, sentinel2_annuals
from greenwatch.services.trend._exclusion import ExclusionBasis, area_exclusion
from greenwatch.services.trend._rules import Evaluation, Rules, choose_series, evaluate_area, evaluate_national

SOURCE = "greenwatch/trend"
NATIONAL = "national"
OBS, ANNUAL, STATES, HISTORY, OUTBOX, PENDING, CHANGES = (
    "obs", "annual", "states", "state_history", "outbox", "outbox_pending", "state_changes",
)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _annual_from(doc: Doc) -> dict[str, dict[int, Annual]]:
    return {s: {int(y): Annual.from_doc(a) for y, a in years.items()} for s, years in doc.items()}


class TrendService:
    name = "trend"
    topics = (topics.OBSERVATIONS,)

    def __init__(self, *, store: Store, rules: Rules, area_names: dict[str, str] | None = None,
                 min_valid_fraction: float = 0.6) -> None:
        """`min_valid_fraction`: the valid fraction a pixel composite needs to give a year's value (the
        merger's bar for a usable observation, `trend.min_valid_fraction`)."""
        self.store = store
        self.rules = rules
        self.min_valid_fraction = min_valid_fraction
        self.area_names = area_names or {}
        self.outbox = AlertOutbox(store, table=OUTBOX, pending_table=PENDING, source=SOURCE)

    # -- handler -------------------------------------------------------------------------------
    def handle(self, event: Event) -> list[Outgoing]:
        if event["type"] == ANNUAL_COMPOSITE.type:
            comp = event["data"]
            area, series = comp["area_id"], SENTINEL2
            if self.store.get(COMPOSITES, composite_key(comp)) != comp:  # the latest of (area, year, tile) wins
                self.store.put(COMPOSITES, composite_key(comp), comp)
        elif event["type"] == OBSERVATION.type:
            obs = event["data"]
            area, series = obs["area_id"], obs["series"]
            if self.store.get(OBS, f"{area}/{series}/{obs['date']}") != obs:  # durable writes only for news
                self.store.put(OBS, f"{area}/{series}/{obs['date']}", obs)
        else:
            return []
        observations = [d for _, d in self.store.scan(OBS, area + "/")]
        r = self.rules
        by_series = self._annuals(area, observations)
        annual_doc = {s: {str(y): a.to_doc() for y, a in ann.items()} for s, ann in by_series.items()}
        if self.store.get(ANNUAL, area) != annual_doc:
            self.store.put(ANNUAL, area, annual_doc)
        trace = event.get("traceid")
        exclusion = area_exclusion(by_series, r)  # one Art. 8(1) decision for every series of the area
        evaluations = {s: evaluate_area(ann, r, exclusion) for s, ann in by_series.items()}
        evaluations = {s: _with_methods(ev, {area: by_series[s]}, r) for s, ev in evaluations.items()}
        out = self._update(area, evaluations, choose_series(evaluations, r), trace)
        gap = gap_alert(area, self._label(area), series, observations, r)
        if gap is not None:
            self._raise(area, series, gap, {})
        out += self._national(trace)
        return out + self.outbox.pending(area) + self.outbox.pending(NATIONAL)

    def after_flush(self) -> None:
        self.outbox.after_flush()

    # -- internals -----------------------------------------------------------------------------
    def _annuals(self, area: str, observations: list[Doc]) -> dict[str, dict[int, Annual]]:
        """Per series, the area's annual values ('sentinel-2': pixel composites where they qualify)."""
        r = self.rules
        season = (r.season_start_month, r.season_end_month)
        composites = [d for _, d in self.store.scan(COMPOSITES, area + "/")]
        return {
            s: sentinel2_annuals(observations, composites, season, r.min_observations_per_year,
                                 self.min_valid_fraction, r.baseline_year) if s == SENTINEL2
            else annual_indicators(observations, season, r.min_observations_per_year, series=s)
            for s in sorted({o["series"] for o in observations})
        }

    def _national(self, trace: Any) -> list[Outgoing]:
        by_series: dict[str, dict[str, dict[int, Annual]]] = {}
        exclusions: dict[str, ExclusionBasis] = {}
        for area, doc in self.store.scan(ANNUAL):
            annual = _annual_from(doc)
            for s, ann in annual.items():
                by_series.setdefault(s, {})[area] = ann
            if (decision := area_exclusion(annual, self.rules)) is not None:
                exclusions[area] = decision
        if not by_series:
            return []
        # a year the national state was judged on stays judged (no flapping while a later area catches
        # up); on Sentinel-2 a later year closes the earlier one (`_rules`: national completeness)
        previous = (self.store.get(STATES, NATIONAL) or {}).get("series_states", {})
        evaluations = {s: evaluate_national(areas, self.rules, exclusions,
                                            held_year=previous.get(s, {}).get("latest_year"),
                                            closed_by_later=s != OFFICIAL)
                       for s, areas in by_series.items()}
        evaluations = {s: _with_methods(ev, {a: by_series[s][a] for a in ev.figures.get("areas", [])}, self.rules,
                                        total=True) for s, ev in evaluations.items()}
        return self._update(NATIONAL, evaluations, choose_series(evaluations, self.rules), trace)

    def _update(self, area: str, evaluations: dict[str, Evaluation], series: str, trace: Any) -> list[Outgoing]:
        ev = evaluations[series]
        previous = self.store.get(STATES, area)
        prev_state = previous["state"] if previous else None
        doc = {
            "area_id": area, "state": ev.state, "series": series, "regime": ev.regime,
            "baseline_year": self.rules.baseline_year, "latest_year": ev.latest_year, "figures": ev.figures,
            "reasons": ev.reasons, "previous_state": prev_state,
            "series_states": {s: {"state": e.state, "latest_year": e.latest_year, "regime": e.regime}
                              for s, e in sorted(evaluations.items())},
        }
        out: list[Outgoing] = []
        content = None
        if previous is None or any(previous.get(k) != doc[k] for k in doc if k != "previous_state"):
            if previous is not None and previous["state"] == ev.state:
                doc["previous_state"] = previous.get("previous_state")  # the last *different* state
            content = stable_id("state", area, repr(sorted((k, repr(v)) for k, v in doc.items())))
        # alerts before the state document: a crash in between re-evaluates to the same content, and so
        # to the same alert ids, which the outbox holds already
        change = self._change_number(area, content) if content is not None and alerting_change(prev_state,
                                                                                                ev.state) else 0
        for alert in state_alerts(area, self._label(area), series, prev_state, ev, self.rules, change=change):
            self._raise(area, series, alert, ev.figures)
        if content is not None:
            doc["evaluated_at"] = _now()
            self.store.put(STATES, area, doc)
            self.store.put(HISTORY, f"{area}/{doc['evaluated_at']}/{content[:8]}", doc)
            ev_out = make_event(COMPLIANCE_STATE, doc, source=SOURCE, subject=area, trace_id=trace,
                                event_id=content)
            out.append(Outgoing(topics.STATES, area, ev_out))
        return out

    def _change_number(self, area: str, content: str) -> int:
        """The ordinal of this alerting change of `area`'s state (part of the state-change alert id), so
        that a state that comes back (net-loss -> on-track -> net-loss) alerts again, while the same
        change evaluated again (a redelivery after a crash) keeps its number and its alert id."""
        rec = self.store.get(CHANGES, area) or {"n": 0, "content": None}
        if rec["content"] == content:
            return int(rec["n"])
        n = int(rec["n"]) + 1
        self.store.put(CHANGES, area, {"n": n, "content": content})
        return n

    def _label(self, area: str) -> str:
        if area == NATIONAL:
            return "national total"
        name = self.area_names.get(area)
        return f"{name} ({area})" if name else area

    def _raise(self, area: str, series: str, alert: Alert, figures: Doc) -> None:
        if self.outbox.raised(alert.alert_id):
            return  # raised before: never twice (and no new raised_at)
        self.outbox.put({
            "alert_id": alert.alert_id, "area_id": area, "area_name": self.area_names.get(area),
            "alert_type": alert.alert_type, "severity": alert.severity, "message": alert.message,
            "series": series, "from_state": None, "to_state": None, "figures": _alert_figures(figures),
            "raised_at": _now(), **alert.extra,
        })


def _with_methods(ev: Evaluation, annual_by_area: dict[str, dict[int, Annual]], rules: Rules, *,
                  total: bool = False) -> Evaluation:
    """The evaluation with the method of its baseline and latest annual values in its figures."""
    years = {"baseline": rules.baseline_year, "latest": ev.latest_year}
    return replace(ev, figures=method_figures(ev.figures, annual_by_area, years, total=total))


def _alert_figures(figures: Doc) -> Doc:
    """The headline figures only (an alert is a notification, the state holds the rest)."""
    keep = ("baseline_green_m2", "latest_green_m2", "baseline_canopy_m2", "latest_canopy_m2", "green_change_pct",
            "canopy_change_pct", "green_z", "canopy_z", "n_usable_baseline", "n_usable_latest", "n_areas")
    return {k: figures[k] for k in keep if k in figures}
