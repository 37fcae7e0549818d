"""The trend service: states with history over two series, alerts once (outbox), data gaps; and on a
finished pipeline run, redelivering every tile result twice changes nothing downstream."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from greenwatch.schemas import OBSERVATION, decode, make_event
from greenwatch.services import topics
from greenwatch.services.app import App, drain
from greenwatch.services.store import SqliteStore
from greenwatch.services.trend import NATIONAL, Rules, TrendService
from greenwatch.services.webhook import WebhookService, deliveries

from ..conftest import CHANGE_AREA
from ..trend.conftest import obs
from ..trend.test_webhook import Receiver, serve

RULES = Rules()
SECRET = b"demo-secret"
DAYS = ["2024-05-10", "2024-06-10", "2024-07-10", "2025-06-10", "2025-07-10", "2026-06-10", "2026-07-10"]


def _feed(svc: TrendService, rows: list[dict]) -> list[dict]:
    alerts = []
    for row in rows:
        out = svc.handle(make_event(OBSERVATION, row, source="t"))
        svc.after_flush()
        alerts += [o.event["data"] for o in out if o.topic == topics.ALERTS]
    return alerts


def test_alerts_once_on_change_even_when_observations_come_twice(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    svc = TrendService(store=store, rules=RULES, area_names={"A": "Alpha"})
    canopy = {"2024": 200.0, "2025": 200.0, "2026": 150.0}
    rows = [obs("A", d, 500.0, canopy[d[:4]]) for d in DAYS]
    alerts = _feed(svc, rows + rows)  # every observation delivered twice
    kinds = sorted((a["area_id"], a["alert_type"], a.get("to_state")) for a in alerts)
    # insufficient-data -> on-track raises nothing; on-track -> net-loss and the canopy loss do, once,
    # for area A and for the national total
    assert kinds == [("A", "canopy-loss", None), ("A", "state-change", "net-loss"),
                     (NATIONAL, "canopy-loss", None), (NATIONAL, "state-change", "net-loss")]
    state = store.get("states", "A")
    assert (state["state"], state["previous_state"], state["series"], state["regime"]) == (
        "net-loss", "on-track", "sentinel-2", "no-net-loss")
    assert "Alpha (A): on-track -> net-loss (sentinel-2)" in next(a["message"] for a in alerts
                                                                  if a["alert_type"] == "state-change")
    history = [d["state"] for _, d in store.scan("state_history", "A/")]
    assert history[0] == "insufficient-data" and history[-1] == "net-loss" and "on-track" in history


def test_a_pending_alert_is_sent_again_after_a_crash_before_the_flush(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    svc = TrendService(store=store, rules=RULES)
    _feed(svc, [obs("A", d, 1000.0, c) for d, c in (("2024-05-10", 200.0), ("2024-06-10", 200.0),
                                                    ("2026-06-10", 100.0))])
    last = make_event(OBSERVATION, obs("A", "2026-07-10", 1000.0, 100.0), source="t")
    out = svc.handle(last)  # crash: no after_flush, the input is redelivered
    first = sorted(o.event["id"] for o in out if o.topic == topics.ALERTS)
    assert first
    svc2 = TrendService(store=store, rules=RULES)
    out2 = svc2.handle(last)
    assert sorted(o.event["id"] for o in out2 if o.topic == topics.ALERTS) == first
    svc2.after_flush()
    assert [o for o in svc2.handle(last) if o.topic == topics.ALERTS] == []


def test_the_state_rests_on_the_official_series_when_it_can_be_judged(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    svc = TrendService(store=store, rules=RULES, area_names={"A": "Alpha"})
    # Sentinel-2 says canopy fell by 5 % (net-loss); the official layers will say it held
    _feed(svc, [obs("A", d, 500.0, 200.0 if d < "2026" else 190.0) for d in DAYS])
    assert store.get("states", "A")["state"] == "net-loss"
    # an official 2024 layer alone cannot judge anything: the state stays on Sentinel-2, and says so
    assert _feed(svc, [obs("A", "2024-01-01", 480.0, 210.0, series="official")]) == []
    s = store.get("states", "A")
    assert (s["series"], s["state"]) == ("sentinel-2", "net-loss")
    assert s["series_states"]["official"] == {"state": "insufficient-data", "latest_year": None, "regime": None}
    # the official 2026 layer: canopy held; the legal state now rests on it and overrules the early warning
    alerts = _feed(svc, [obs("A", "2026-01-01", 480.0, 210.0, series="official")])
    s = store.get("states", "A")
    assert (s["series"], s["state"], s["previous_state"]) == ("official", "on-track", "net-loss")
    assert s["series_states"] == {
        "official": {"state": "on-track", "latest_year": 2026, "regime": "no-net-loss"},
        "sentinel-2": {"state": "net-loss", "latest_year": 2026, "regime": "no-net-loss"}}
    assert s["figures"]["baseline_canopy_m2"] == 210.0
    change = [a for a in alerts if a["area_id"] == "A"]
    assert [(a["alert_type"], a["series"], a["from_state"], a["to_state"]) for a in change] == [
        ("state-change", "official", "net-loss", "on-track")]
    assert [d["series"] for _, d in store.scan("state_history", "A/")][-1] == "official"


def test_data_gap_alert_once_per_gap(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    svc = TrendService(store=store, rules=Rules(data_gap_months=6))
    rows = [obs("A", "2024-06-01", 500, 100), obs("A", "2024-09-01", 500, 100, usable=False),  # 3 months
            obs("A", "2025-01-15", 500, 100, usable=False),   # 7.5 months since 2024-06-01: open gap
            obs("A", "2025-03-01", 500, 100, usable=False),   # the same gap, still open: no new alert
            obs("A", "2025-05-01", 500, 100)]                 # closes it: the same gap id, no new alert
    gaps = [a for a in _feed(svc, rows) if a["alert_type"] == "data-gap"]
    assert len(gaps) == 1
    g = gaps[0]
    # 228 days / (365.25 / 12) = 7.49 months
    assert g["gap"] == {"from": "2024-06-01", "to": "2025-01-15", "months": pytest.approx(7.49, abs=0.005),
                        "open": True}
    assert g["severity"] == "warning" and "no usable sentinel-2 observation from 2024-06-01" in g["message"]
    # a second gap later is a new alert
    more = _feed(svc, [obs("A", "2025-12-01", 500, 100, usable=False)])
    assert [a["gap"]["from"] for a in more if a["alert_type"] == "data-gap"] == ["2025-05-01"]


# -- on the finished pipeline run -----------------------------------------------------------------
def _observed(app: App) -> xr.Dataset:
    """The cells of the time series that hold observations (loading all 343 areas x 26 years is slow)."""
    ds = xr.open_zarr(app.settings.data_dir / "series.zarr")
    n = ds["n_products"].load()
    return ds.isel(time=np.nonzero((n.sum("area") > 0).values)[0],
                   area=np.nonzero((n.sum("time") > 0).values)[0]).load()


@pytest.mark.stac
def test_redelivering_every_tile_result_twice_changes_no_observation_and_no_alert(finished: App) -> None:
    bus = finished.bus
    ds_before = _observed(finished)
    obs_before = dict(finished.store.scan("obs"))
    states_before = {k: {**d, "evaluated_at": None} for k, d in finished.store.scan("states")}
    alerts_before = [decode(r.value)["id"] for r in bus.read_all(topics.ALERTS)]
    observation_events = {decode(r.value)["id"]: decode(r.value)["data"] for r in bus.read_all(topics.OBSERVATIONS)}
    results = bus.read_all(topics.RESULTS)
    assert results
    for _ in range(2):
        for r in results:
            bus.send(topics.RESULTS, r.value, key=r.key)
    bus.flush()
    n_obs_records = len(bus.read_all(topics.OBSERVATIONS))
    drain(finished, finished.services())
    xr.testing.assert_identical(ds_before, _observed(finished))
    assert dict(finished.store.scan("obs")) == obs_before
    assert {k: {**d, "evaluated_at": None} for k, d in finished.store.scan("states")} == states_before
    assert [decode(r.value)["id"] for r in bus.read_all(topics.ALERTS)] == alerts_before, "no alert sent again"
    new = [decode(r.value) for r in bus.read_all(topics.OBSERVATIONS)[n_obs_records:]]
    assert new
    for ev in new:  # re-sent observations are copies: same id, same data
        assert observation_events[ev["id"]] == ev["data"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with serve(Receiver(secret=SECRET)) as r:
        yield r


@pytest.mark.stac
def test_the_alerts_of_a_run_reach_a_signed_webhook(finished: App, receiver: Receiver) -> None:
    hook = WebhookService(store=finished.store, url=receiver.url, secret=SECRET.decode(), backoff_s=0.01)
    hook.name = "webhook-test"  # its own consumer group: reads the alerts topic from the start
    drain(finished, [hook])
    got = {b["data"]["alert_id"]: b for b in receiver.verified}
    assert receiver.rejected == 0
    sent = {decode(r.value)["data"]["alert_id"] for r in finished.bus.read_all(topics.ALERTS)}
    assert got.keys() == sent
    loss = [b["data"] for b in got.values() if b["data"]["area_id"] == CHANGE_AREA
            and b["data"]["alert_type"] == "canopy-loss"]
    assert len(loss) == 1 and loss[0]["severity"] == "critical"
    assert deliveries(finished.store, loss[0]["alert_id"])[0]["status"] == 204
    n = len(receiver.verified)
    drain(finished, [hook])  # nothing new, and a redelivered alert would be dropped by id
    for r in finished.bus.read_all(topics.ALERTS)[:3]:
        hook.handle(decode(r.value))
    assert len(receiver.verified) == n

