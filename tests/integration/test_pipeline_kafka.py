"""The pipeline on the real Kafka broker, every service a consumer group running in its own thread:
one scene leads to one alert; the same scene twice changes nothing; malformed messages go to the
DLQ and the services go on consuming."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import xarray as xr

from greenwatch.schemas import SCENE_DISCOVERED, decode, encode, make_event
from greenwatch.services import metrics, topics
from greenwatch.services.app import App, run_threads
from greenwatch.services.bus.kafka import KafkaBus
from greenwatch.services.config import BusSettings, TrendSettings

from ..conftest import CHANGE_AREA, settings_for

pytestmark = [pytest.mark.kafka, pytest.mark.stac]


def _count(service: str, topic: str) -> float:
    v = metrics.REGISTRY.get_sample_value("greenwatch_messages_in_total", {"service": service, "topic": topic})
    return v or 0.0


def wait_for(cond: Callable[[], bool], what: str, timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def _series(app: App) -> xr.Dataset:
    ds = xr.open_zarr(app.settings.data_dir / "series.zarr").load()
    return ds.isel(time=np.nonzero((ds["n_products"].sum("area") > 0).values)[0])


@pytest.fixture(scope="module")
def kafka_app(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, stac_url: str) -> Iterator[App]:
    prefix = f"t{uuid.uuid4().hex[:8]}."
    settings = settings_for(
        tmp_path_factory.mktemp("kafka-run"), stac_url,
        bus=BusSettings(kind="kafka", bootstrap=kafka_bootstrap, topic_prefix=prefix, partitions=2),
        trend=TrendSettings(min_observations_per_year=1),
    )
    app = App.build(settings)
    assert isinstance(app.bus, KafkaBus)
    stop = threading.Event()
    threads = run_threads(app, app.services(), stop)
    yield app
    stop.set()
    for t in threads:
        t.join(timeout=30)
    app.close()


def _observations(app: App) -> int:
    return sum(1 for _ in app.store.scan("obs"))


def test_one_scene_discovered_leads_to_one_alert(kafka_app: App) -> None:
    app = kafka_app
    report = app.watcher().poll(start="2024-01-01", end="2025-12-31")
    assert report.published == 4
    wait_for(lambda: len(list(app.ledger.list(state="complete"))) == 4, "4 baseline scenes complete")
    per_scene = len({c["area_id"] for _, c in app.store.scan("contributions")})
    wait_for(lambda: _observations(app) == 4 * per_scene, "the trend service to see every baseline observation")
    before = [decode(r.value)["data"] for r in app.bus.read_all(topics.ALERTS)]
    assert not [a for a in before if a["area_id"] == CHANGE_AREA and a["alert_type"] == "canopy-loss"]

    report = app.watcher().poll(start="2026-06-01", end="2026-06-30")  # one 2026 scene: the canopy is gone
    assert report.published == 1
    wait_for(lambda: _observations(app) == 5 * per_scene, "the 2026 observations")
    wait_for(lambda: any(decode(r.value)["data"]["alert_type"] == "canopy-loss"
                         for r in app.bus.read_all(topics.ALERTS)), "the canopy-loss alert on the alerts topic")
    after = [decode(r.value)["data"] for r in app.bus.read_all(topics.ALERTS)]
    new = [a for a in after if a["alert_id"] not in {b["alert_id"] for b in before}]
    loss = [a for a in new if a["area_id"] == CHANGE_AREA and a["alert_type"] == "canopy-loss"]
    assert len(loss) == 1, new
    assert loss[0]["severity"] == "critical" and loss[0]["figures"]["canopy_change_pct"] < -20
    assert app.store.get("states", CHANGE_AREA)["state"] == "net-loss"


def _republish(app: App, scene_id: str) -> None:
    scene = app.ledger.get(scene_id)["scene"]
    ev = make_event(SCENE_DISCOVERED, scene, source="test", subject=scene_id)
    app.bus.send(topics.SCENES, encode(ev), key=scene_id.encode())
    app.bus.flush()


def test_the_same_scene_delivered_twice_leaves_the_series_unchanged(kafka_app: App) -> None:
    app = kafka_app
    before = _series(app)
    alerts_before = len(app.bus.read_all(topics.ALERTS))
    scene_id = max(d["scene_id"] for d in app.ledger.list())
    n_results = sum(1 for _, c in app.store.scan("contributions") if c["scene_id"] == scene_id)
    merged, trended = _count("merger", topics.RESULTS), _count("trend", topics.OBSERVATIONS)
    _republish(app, scene_id)
    wait_for(lambda: _count("merger", topics.RESULTS) >= merged + n_results, "the merger to get the results again")
    wait_for(lambda: _count("trend", topics.OBSERVATIONS) >= trended + n_results, "the trend service to get them")
    xr.testing.assert_identical(before, _series(app))
    assert len(app.bus.read_all(topics.ALERTS)) == alerts_before


def test_malformed_messages_go_to_the_dlq_and_the_services_keep_consuming(kafka_app: App) -> None:
    app = kafka_app
    merged = _count("merger", topics.RESULTS)  # before the bad result: the merger may take it at once
    app.bus.send(topics.TASKS, b"\x00 not a cloudevent", key=b"x")
    bad = make_event(SCENE_DISCOVERED, app.ledger.get(max(d["scene_id"] for d in app.ledger.list()))["scene"],
                     source="test")
    bad["type"] = "eu.greenwatch.tile.result.v1"  # a scene under a tile-result type: fails its schema
    app.bus.send(topics.RESULTS, encode(bad), key=b"GM0356")
    app.bus.flush()
    scene_id = min(d["scene_id"] for d in app.ledger.list())
    _republish(app, scene_id)  # a valid message after the bad ones
    wait_for(lambda: len(app.bus.read_all("tasks.dlq")) == 1 and len(app.bus.read_all("results.dlq")) == 1,
             "both bad messages in their DLQs")
    (task_dlq,) = app.bus.read_all("tasks.dlq")
    assert task_dlq.value == b"\x00 not a cloudevent"
    assert b"not JSON" in (task_dlq.header("gw-error") or b"")
    (result_dlq,) = app.bus.read_all("results.dlq")
    assert b"dataschema" in (result_dlq.header("gw-error") or b"")
    n_results = sum(1 for _, c in app.store.scan("contributions") if c["scene_id"] == scene_id)
    wait_for(lambda: _count("merger", topics.RESULTS) >= merged + 1 + n_results, "the merger to go on consuming")
    assert len(list(app.ledger.list(state="complete"))) == 5
