"""KafkaKVStore against a real broker: the Store contract, rebuild on open, tombstones, refresh."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType

from greenwatch.services.bus.kafka import KafkaBusError
from greenwatch.services.store._base import Store

if TYPE_CHECKING:
    from tests.integration.conftest import KafkaKit

pytestmark = pytest.mark.kafka


def test_put_get_delete_scan(kafka_kit: KafkaKit) -> None:
    store: Store = kafka_kit.store()
    store.put("tiles", "S2A_1/31UFU", {"status": "done", "n": 1})
    store.put_many("tiles", [("S2A_1/31UFT", {"status": "done"}), ("S2B_2/31UFU", {"status": "claimed"})])
    store.put("cursor", "S2A_1/31UFU", {"other": "table"})

    assert store.get("tiles", "S2A_1/31UFU") == {"status": "done", "n": 1}
    assert store.get("tiles", "missing") is None
    assert store.get("scenes", "S2A_1/31UFU") is None
    assert [k for k, _ in store.scan("tiles")] == ["S2A_1/31UFT", "S2A_1/31UFU", "S2B_2/31UFU"]
    assert list(store.scan("tiles", "S2A_1/")) == [
        ("S2A_1/31UFT", {"status": "done"}),
        ("S2A_1/31UFU", {"status": "done", "n": 1}),
    ]

    store.put("tiles", "S2A_1/31UFU", {"status": "done", "n": 2})  # overwrite
    store.delete("tiles", "S2A_1/31UFT")
    store.delete("tiles", "never-written")
    assert store.get("tiles", "S2A_1/31UFU") == {"status": "done", "n": 2}
    assert [k for k, _ in store.scan("tiles")] == ["S2A_1/31UFU", "S2B_2/31UFU"]


def test_returned_documents_are_copies(kafka_kit: KafkaKit) -> None:
    store = kafka_kit.store()
    store.put("states", "GM0363", {"state": "ok", "history": [1]})
    doc = store.get("states", "GM0363")
    assert doc is not None
    doc["history"].append(2)
    assert store.get("states", "GM0363") == {"state": "ok", "history": [1]}


def test_reopening_rebuilds_the_view_from_the_topic(kafka_kit: KafkaKit) -> None:
    first = kafka_kit.store()
    first.put_many("ledger", [(f"scene{i}/tile", {"i": i}) for i in range(50)])
    first.put("ledger", "scene7/tile", {"i": 70})
    first.delete("ledger", "scene8/tile")
    first.close()

    again = kafka_kit.store()
    assert len(list(again.scan("ledger"))) == 49
    assert again.get("ledger", "scene7/tile") == {"i": 70}
    assert again.get("ledger", "scene8/tile") is None


def test_delete_writes_a_tombstone_on_a_compacted_topic(kafka_kit: KafkaKit) -> None:
    store = kafka_kit.store()
    store.put("outbox", "alert-1", {"sent": False})
    store.delete("outbox", "alert-1")

    admin = KafkaAdminClient(bootstrap_servers=kafka_kit.bootstrap)
    try:
        configs = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, store.topic, ["cleanup.policy"])], config_filter="all"
        )
    finally:
        admin.close()
    assert configs["topic"][store.topic]["cleanup.policy"]["value"] == "compact"

    raw = KafkaConsumer(bootstrap_servers=kafka_kit.bootstrap, enable_auto_commit=False)
    try:
        tp = TopicPartition(store.topic, 0)
        raw.assign([tp])
        raw.seek_to_beginning(tp)
        records: list[Any] = []
        while len(records) < 2:
            for batch in raw.poll(timeout_ms=500).values():
                records.extend(batch)
    finally:
        raw.close()
    assert [(r.key, r.value) for r in records] == [(b"outbox/alert-1", b'{"sent":false}'), (b"outbox/alert-1", None)]


def test_refresh_catches_up_with_another_writer(kafka_kit: KafkaKit) -> None:
    watcher = kafka_kit.store()
    api = kafka_kit.store()
    watcher.put("cursor", "s2", {"until": "2025-06-01"})
    assert api.get("cursor", "s2") is None  # not read yet

    assert api.refresh() == 1
    assert api.get("cursor", "s2") == {"until": "2025-06-01"}
    watcher.delete("cursor", "s2")
    api.refresh()
    assert api.get("cursor", "s2") is None


def test_reading_back_own_older_writes_never_undoes_a_newer_one(kafka_kit: KafkaKit) -> None:
    store = kafka_kit.store()
    for n in range(5):
        store.put("states", "GM0363", {"n": n})
    assert store.refresh() == 5
    assert store.get("states", "GM0363") == {"n": 4}


def test_refuses_an_existing_topic_that_is_not_compacted(kafka_kit: KafkaKit) -> None:
    bus = kafka_kit.bus()
    bus.ensure_topics(["state"], partitions=1)  # cleanup.policy=delete, the broker default
    with pytest.raises(KafkaBusError, match=r"cleanup\.policy"):
        kafka_kit.store("state")


def test_rejects_bad_tables_and_values(kafka_kit: KafkaKit) -> None:
    store = kafka_kit.store()
    with pytest.raises(ValueError, match="table"):
        store.put("a/b", "k", {})
    not_a_dict: Any = ["not", "a", "dict"]
    with pytest.raises(TypeError, match="JSON objects"):
        store.put("t", "k", not_a_dict)
    with pytest.raises(ValueError, match="Out of range float"):
        store.put("t", "k", {"x": float("nan")})
    assert len(store) == 0
