"""A model-based (stateful Hypothesis) test of the compliance state machine: observations of two
areas on both series, across the 2030 -> 2031 switch, delivered, redelivered and crashed mid-way in any
order. After every step the service's states, history and alerts must agree with a model kept here:

* the state is the rules' evaluation of exactly the observations delivered (last one per area,
  series and date), on the series the state says, and that series is official whenever the official
  series can be judged;
* the latest year is the last year with a usable in-season observation; no such year, no verdict;
* every change of state raises exactly one state-change alert, numbered, so that a state that comes
  back alerts again (none for a first evaluation or for insufficient-data -> on-track/excluded);
  every canopy loss beyond the threshold one canopy-loss alert; no alert is ever sent twice, and the
  history lists every state in order;
* redelivering an observation changes nothing and sends nothing; a crash before the flush re-sends
  the same alerts, with the same ids, from a new process;
* the national state judges the latest year that every area with a baseline (not excluded, through
  2030) has on its series, or that it judged before, or (Sentinel-2) that a later year has closed;
  and names the newest year still arriving, if any.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from greenwatch.schemas import OBSERVATION, make_event, stable_id
from greenwatch.services import topics
from greenwatch.services.trend import NATIONAL, Rules, TrendService, annual_indicators, evaluate_area, is_excluded

from .conftest import MemoryStore, obs

STATES = {"on-track", "at-risk", "net-loss", "insufficient-data", "excluded"}
RULES = Rules(exclusion=True, min_observations_per_year=1, mk_min_years=4)


def alert_expected(previous: str | None, new: str) -> bool:
    """The model's own statement of which transitions are news."""
    if previous is None or previous == new:
        return False
    return not (previous == "insufficient-data" and new in {"on-track", "excluded"})


class TrendMachine(RuleBasedStateMachine):
    observations = Bundle("observations")

    def __init__(self) -> None:
        super().__init__()
        self.store = MemoryStore()
        self.svc = TrendService(store=self.store, rules=RULES)
        self.delivered: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.sent: dict[str, dict[str, Any]] = {}
        self.state_msgs: dict[str, list[dict[str, Any]]] = {}
        self.judged: dict[str, int | None] = {}  # per series, the year the national state was judged on

    def _accept(self, out: list[Any]) -> None:
        """What the bus delivers once the batch is flushed."""
        for o in out:
            if o.topic == topics.ALERTS:
                data = o.event["data"]
                assert data["alert_id"] not in self.sent, f"alert sent twice: {data['message']}"
                self.sent[data["alert_id"]] = data
            elif o.topic == topics.STATES:
                self.state_msgs.setdefault(o.key, []).append(o.event["data"])

    def _event(self, row: dict[str, Any]) -> dict[str, Any]:
        return make_event(OBSERVATION, row, source="test")

    @rule(target=observations, area=st.sampled_from(["A", "B"]), year=st.integers(2024, 2033),
          month=st.sampled_from([1, 5, 7, 9, 11]), green=st.integers(300, 600), canopy=st.integers(50, 300),
          usable=st.booleans(), official=st.booleans())
    def deliver(self, area: str, year: int, month: int, green: int, canopy: int, usable: bool,
                official: bool) -> dict[str, Any]:
        series = "official" if official else "sentinel-2"
        row = obs(area, f"{year}-{month:02d}-01" if official else f"{year}-{month:02d}-15", float(green),
                  float(canopy), usable=usable, series=series)
        out = self.svc.handle(self._event(row))
        self.svc.after_flush()
        self.delivered[(area, series, row["date"])] = row
        self._accept(out)
        return row

    @rule(row=observations)
    def redeliver(self, row: dict[str, Any]) -> None:
        key = (row["area_id"], row["series"], row["date"])
        if self.delivered[key] != row:
            return  # a later observation of the same date replaced this one: delivering it is new data
        out = self.svc.handle(self._event(row))
        self.svc.after_flush()
        assert out == [], "a redelivered observation changes nothing and sends nothing"

    @rule(area=st.sampled_from(["A", "B"]), year=st.integers(2025, 2033), canopy=st.integers(0, 300))
    def crash_before_flush(self, area: str, year: int, canopy: int) -> None:
        row = obs(area, f"{year}-06-20", 450.0, float(canopy))
        lost = self.svc.handle(self._event(row))  # handled, never flushed: the process dies
        self.svc = TrendService(store=self.store, rules=RULES)
        out = self.svc.handle(self._event(row))  # the input is redelivered to a new process
        self.svc.after_flush()
        lost_alerts = {o.event["id"] for o in lost if o.topic == topics.ALERTS}
        assert lost_alerts <= {o.event["id"] for o in out if o.topic == topics.ALERTS}
        self.delivered[(area, "sentinel-2", row["date"])] = row
        # the lost batch's state messages were never sent either; the new process re-evaluates from the
        # store, so its state document already holds them: take the stored state as delivered
        self._accept([o for o in out if o.topic == topics.ALERTS])
        for key in {o.key for o in lost if o.topic == topics.STATES} | {o.key for o in out if o.topic == topics.STATES}:
            doc = self.store.get("states", key)
            if not self.state_msgs.get(key) or self.state_msgs[key][-1]["evaluated_at"] != doc["evaluated_at"]:
                self.state_msgs.setdefault(key, []).append(doc)

    # -- invariants -------------------------------------------------------------------------------
    def _rows(self, area: str, series: str) -> list[dict[str, Any]]:
        return [r for (a, s, _), r in self.delivered.items() if a == area and s == series]

    @invariant()
    def states_follow_the_rules(self) -> None:
        for area in {a for a, _, _ in self.delivered}:
            doc = self.store.get("states", area)
            assert doc is not None and doc["state"] in STATES
            series = doc["series"]
            ann = annual_indicators(self._rows(area, series), (5, 9), 1, series=series)
            ev = evaluate_area(ann, RULES)
            assert (doc["state"], doc["latest_year"], doc["regime"]) == (ev.state, ev.latest_year, ev.regime)
            # the model's own count of years: a usable observation in season (any month for official)
            years = {int(r["date"][:4]) for r in self._rows(area, series)
                     if r["usable"] and (series == "official" or 5 <= int(r["date"][5:7]) <= 9)}
            later = [y for y in years if y > 2024]
            assert doc["latest_year"] == (max(later) if later else None)
            if doc["latest_year"] is None:
                assert doc["state"] == "insufficient-data"
            if doc["state"] == "excluded":
                assert doc["regime"] == "no-net-loss"
            official = doc["series_states"].get("official")
            if official is not None and official["state"] != "insufficient-data":
                assert series == "official", "the legal state rests on the official series when it can"
            assert doc["series_states"][series]["state"] == doc["state"]
            if doc["state"] == "insufficient-data":  # ... and on another series whenever that one can be judged
                assert {s["state"] for s in doc["series_states"].values()} == {"insufficient-data"}

    def _judged(self, series: str) -> tuple[int | None, int | None]:
        """The model's national year of `series` (judged, pending): the latest year every area with a
        baseline (not excluded through 2030) has; or the year judged before (a year once judged stays
        judged); or, on Sentinel-2, any year but the newest (a later year closes its season)."""
        annual = {a: annual_indicators(self._rows(a, series), (5, 9), 1, series=series)
                  for a in sorted({a for a, _, _ in self.delivered})}
        annual = {a: ann for a, ann in annual.items() if ann}
        excluded = {a for a, ann in annual.items() if 2024 in ann and is_excluded(ann[2024], RULES)}
        later = sorted({y for ann in annual.values() for y in ann if y > 2024})

        def complete(y: int) -> bool:
            waits = [a for a in annual if not (y <= 2030 and a in excluded)]
            waits = [a for a in waits if 2024 in annual[a]] or waits
            if not any(y in annual[a] for a in waits):
                return False
            held = y == self.judged.get(series) or (series != "official" and y != later[-1])
            return held or all(y in annual[a] for a in waits)

        judged = max((y for y in later if complete(y)), default=None)
        newest = later[-1] if later else None
        return judged, (newest if newest != judged else None)

    @invariant()
    def the_national_state_rests_on_the_latest_complete_year(self) -> None:
        doc = self.store.get("states", NATIONAL)
        if doc is None:
            return
        model = {s: self._judged(s) for s in doc["series_states"]}
        judged, pending = model[doc["series"]]
        assert doc["figures"]["judged_year"] == judged
        assert doc["latest_year"] in (judged, None)
        assert doc["figures"]["pending_year"] == pending
        for s, st_ in doc["series_states"].items():
            assert st_["latest_year"] in (model[s][0], None), s
            self.judged[s] = st_["latest_year"]  # what the service holds on to from now on

    @invariant()
    def every_change_alerts_once_and_the_history_holds_every_state(self) -> None:
        expected: set[str] = set()
        for area, msgs in self.state_msgs.items():
            previous, changes = None, 0
            for m in msgs:
                if alert_expected(previous, m["state"]):
                    changes += 1  # the n-th alerting change: a state that comes back alerts again
                    expected.add(stable_id(area, "state-change", m["series"], previous, m["state"], m["latest_year"],
                                           changes))
                canopy = m["figures"].get("canopy_change_pct")
                if canopy is not None and canopy < -RULES.canopy_loss_alert_pct:
                    expected.add(stable_id(area, "canopy-loss", m["series"], None, None, m["latest_year"]))
                previous = m["state"]
            history = [d["state"] for _, d in self.store.scan("state_history", area + "/")]
            assert history == [m["state"] for m in msgs]
        got = {i for i, a in self.sent.items() if a["alert_type"] in ("state-change", "canopy-loss")}
        assert got == expected
        assert set(self.sent) == {k for k, _ in self.store.scan("outbox")}
        assert list(self.store.scan("outbox_pending")) == []
        assert NATIONAL in self.state_msgs or not self.delivered


TrendMachine.TestCase.settings = settings(max_examples=40, stateful_step_count=30, deadline=None,
                                          suppress_health_check=[HealthCheck.too_slow])
test_compliance_state_machine = TrendMachine.TestCase
