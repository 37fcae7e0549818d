"""State-change alert ids are numbered per area: a state that comes back (net-loss -> on-track ->
net-loss, a figure revised twice) alerts again, while the same evaluation again (a redelivery, a new
process after a crash) keeps its id and alerts nobody twice."""

from __future__ import annotations

from greenwatch.schemas import OBSERVATION, make_event
from greenwatch.services.trend import Rules, TrendService

from .conftest import MemoryStore, obs


def _deliver(svc: TrendService, year: int, green: float, canopy: float) -> list:
    out = svc.handle(make_event(OBSERVATION, obs("A", f"{year}-01-01", green, canopy, series="official"), source="t"))
    svc.after_flush()
    return [o.event["data"] for o in out if o.event["type"].endswith("alert.v1") and o.key == "A"]


def test_a_state_that_comes_back_alerts_again_and_a_redelivery_never() -> None:
    store = MemoryStore()
    svc = TrendService(store=store, rules=Rules())  # type: ignore[arg-type]
    _deliver(svc, 2024, 500.0, 200.0)
    changes = []
    for canopy in (150.0, 200.0, 150.0, 200.0):  # the 2025 layer revised: -25 %, 0 %, -25 %, 0 % again
        changes += [a for a in _deliver(svc, 2025, 500.0, canopy) if a["alert_type"] == "state-change"]
    assert [(a["from_state"], a["to_state"]) for a in changes] == [
        ("insufficient-data", "net-loss"), ("net-loss", "on-track"), ("on-track", "net-loss"), ("net-loss", "on-track")]
    assert len({a["alert_id"] for a in changes}) == 4
    # the same evaluation again, in this process or a new one: no alert
    assert _deliver(svc, 2025, 500.0, 200.0) == []
    assert _deliver(TrendService(store=store, rules=Rules()), 2025, 500.0, 200.0) == []  # type: ignore[arg-type]
    stored = [a for a in store.tables["outbox"].values() if (a["area_id"], a["alert_type"]) == ("A", "state-change")]
    assert len(stored) == 4
