"""The alert outbox shared by the trend service and the reconciler: stored before it is sent, pending
until the bus acknowledged it, sent again by a new process after a crash, never raised twice."""

from __future__ import annotations

from pathlib import Path

from greenwatch.services import topics
from greenwatch.services.outbox import AlertOutbox
from greenwatch.services.store import SqliteStore


def _alert(alert_id: str, area: str = "GM0356") -> dict:
    return {"alert_id": alert_id, "area_id": area, "area_name": "Nieuwegein", "alert_type": "canopy-loss",
            "severity": "critical", "message": "m", "series": "sentinel-2", "from_state": None, "to_state": None,
            "figures": {}, "raised_at": "2026-12-04T00:00:00Z"}


def _outbox(store: SqliteStore) -> AlertOutbox:
    return AlertOutbox(store, table="outbox", pending_table="outbox_pending", source="greenwatch/test")


def test_an_alert_is_raised_once_sent_once_per_batch_and_cleared_on_flush(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    box = _outbox(store)
    assert box.put(_alert("a" * 24)) and not box.put({**_alert("a" * 24), "message": "changed"})
    assert store.get("outbox", "a" * 24)["message"] == "m"
    (sent,) = box.pending("GM0356")
    assert (sent.topic, sent.key, sent.event["id"], sent.event["data"]["message"]) == (
        topics.ALERTS, "GM0356", "a" * 24, "m")
    assert box.pending("GM0356") == [] and box.pending("GM0344") == []  # once per batch, per area
    box.after_flush()
    assert list(store.scan("outbox_pending")) == [] and _outbox(store).pending("GM0356") == []


def test_a_crash_before_the_flush_sends_the_alert_again_with_the_same_id(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    box = _outbox(store)
    box.put(_alert("b" * 24))
    (lost,) = box.pending("GM0356")  # handed to the bus, never acknowledged: the process dies
    (again,) = _outbox(store).pending("GM0356")
    assert again.event["id"] == lost.event["id"] and again.event["data"] == lost.event["data"]
