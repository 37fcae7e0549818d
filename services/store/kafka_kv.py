"""`Store` on a Kafka compacted topic, for deployments that span machines.

Each record is one document: key `"{table}/{key}"` (UTF-8), value the JSON object, or no value (a
tombstone) for a deletion. Compaction keeps the last record per key, so the topic is the durable
table and every process holds a materialised view of it: on open the store reads the topic from
the beginning up to the end offsets of that moment, and `refresh()` catches up later.

Single writer per key. Kafka orders the records of one key (they share a partition), but it has no
compare-and-set: two processes writing the same key race, and the last append wins everywhere.
greenwatch never lets that happen (docs/adr/0001-durable-state.md): the cursor is written by the one
watcher, a ledger tile key once per (scene, tile), a compliance state by the trend member that owns
the area's partition. Do not build locking or consensus on top of this class; use a database.

Reads come from the local view. A writer reads its own writes at once (`put` updates the view
after the broker acknowledged the record); other writers' changes appear after `refresh()`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType
from kafka.errors import KafkaTimeoutError

from greenwatch.services.bus.kafka import (
    CLOSE_TIMEOUT_S,
    DeliveryFailed,
    KafkaBusError,
    client_config,
    create_topics,
    open_client,
)

log = logging.getLogger(__name__)

Doc = dict[str, Any]


class KafkaKVStore:
    """JSON documents under (table, key) on the compacted topic `prefix + topic`.

    Thread-safe. `put`, `put_many` and `delete` are durable when they return (acks=all, flushed).
    The topic is created with `cleanup.policy=compact` (plus `topic_configs`) when missing; an
    existing topic that is not compacted is refused, since deleting by age would lose state.
    """

    def __init__(
        self,
        bootstrap: str | Sequence[str],
        topic: str = "state",
        *,
        prefix: str = "gw.",
        client_id: str = "greenwatch-state",
        security: Mapping[str, Any] | None = None,
        partitions: int = 1,
        replication_factor: int | None = None,
        topic_configs: Mapping[str, str] | None = None,
        bootstrap_timeout_s: float = 5.0,
        request_timeout_s: float = 30.0,
        refresh_timeout_s: float = 120.0,
        producer_options: Mapping[str, Any] | None = None,
        consumer_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.topic = prefix + topic
        self._refresh_timeout_s = refresh_timeout_s
        base = client_config(bootstrap, client_id, security, bootstrap_timeout_s, request_timeout_s)
        admin = open_client(KafkaAdminClient, base)
        try:
            configs = {"cleanup.policy": "compact", **(topic_configs or {})}
            create_topics(admin, [self.topic], partitions, replication_factor, configs)
            _require_compacted(admin, self.topic)
        finally:
            admin.close()
        self._lock = threading.Lock()  # guards the view
        self._read_lock = threading.Lock()  # one reader at a time on the consumer
        self._view: dict[str, bytes] = {}
        # offset of this process's latest acknowledged write per key not yet read back by
        # `refresh`, so that reading back older records of that key cannot undo it in the view
        self._written: dict[str, int] = {}
        self._producer = open_client(KafkaProducer, {**base, "acks": "all", **(producer_options or {})})
        try:
            reader_config = {
                **base,
                "group_id": None,
                "enable_auto_commit": False,
                "auto_offset_reset": "earliest",
                **(consumer_options or {}),
            }
            self._reader = open_client(KafkaConsumer, reader_config)
        except BaseException:
            self._producer.close(timeout=CLOSE_TIMEOUT_S)
            raise
        try:
            ids = self._reader.partitions_for_topic(self.topic)
            if not ids:
                raise KafkaBusError(f"topic {self.topic!r} has no partitions visible to this client")
            self._partitions = [TopicPartition(self.topic, p) for p in sorted(ids)]
            self._reader.assign(self._partitions)
            self._reader.seek_to_beginning(*self._partitions)
            self.refresh()
        except BaseException:
            self.close()
            raise

    def refresh(self) -> int:
        """Apply every record appended up to now (the end offsets read at the call); return the
        number of records applied."""
        with self._read_lock:
            ends = self._reader.end_offsets(self._partitions)
            deadline = time.monotonic() + self._refresh_timeout_s
            applied = 0
            while any(self._reader.position(tp) < ends[tp] for tp in self._partitions):
                if time.monotonic() > deadline:
                    raise KafkaBusError(f"could not read {self.topic!r} to its end within {self._refresh_timeout_s} s")
                batches = self._reader.poll(timeout_ms=200, max_records=10_000)
                with self._lock:
                    for records in batches.values():
                        for r in records:
                            self._apply(r.key, r.value, r.offset)
                            applied += 1
            return applied

    def _apply(self, raw_key: bytes | None, raw_value: bytes | None, offset: int) -> None:
        if raw_key is None:
            log.warning("ignoring a record without key in %s", self.topic)
            return
        key = raw_key.decode("utf-8", errors="replace")
        mine = self._written.get(key)
        if mine is not None:
            if offset < mine:
                return  # older than what this process wrote and already shows
            del self._written[key]
        if raw_value is None:
            self._view.pop(key, None)
            return
        try:
            ok = isinstance(json.loads(raw_value), dict)
        except ValueError:
            ok = False
        if not ok:
            log.warning("ignoring a record in %s under %r that is not a JSON object", self.topic, key)
            return
        self._view[key] = raw_value

    def get(self, table: str, key: str) -> Doc | None:
        with self._lock:
            raw = self._view.get(_key(table, key))
        return None if raw is None else _decode(raw)

    def put(self, table: str, key: str, value: Doc) -> None:
        self.put_many(table, [(key, value)])

    def put_many(self, table: str, items: list[tuple[str, Doc]]) -> None:
        """Write several documents; all are durable when this returns (no atomicity across keys)."""
        encoded: list[tuple[str, bytes | None]] = [(_key(table, k), _encode(v)) for k, v in items]
        self._write(encoded)

    def delete(self, table: str, key: str) -> None:
        """Write a tombstone; compaction removes the key (after `delete.retention.ms`)."""
        self._write([(_key(table, key), None)])

    def _write(self, records: list[tuple[str, bytes | None]]) -> None:
        if not records:
            return
        try:
            futures = [self._producer.send(self.topic, key=k.encode("utf-8"), value=v) for k, v in records]
            self._producer.flush()
        except KafkaTimeoutError as exc:
            raise DeliveryFailed(f"writing to {self.topic!r} timed out: {exc}") from exc
        failed = [f for f in futures if not f.succeeded()]
        if failed:
            first = failed[0].exception
            msg = f"{len(failed)} of {len(records)} write(s) to {self.topic!r} failed: {first!r}"
            raise DeliveryFailed(msg) from first
        with self._lock:
            for (k, v), future in zip(records, futures, strict=True):
                if v is None:
                    self._view.pop(k, None)
                else:
                    self._view[k] = v
                self._written[k] = future.value.offset

    def scan(self, table: str, prefix: str = "") -> Iterator[tuple[str, Doc]]:
        """Documents of `table` whose key starts with `prefix`, in key order (a snapshot)."""
        start = _key(table, prefix)
        skip = len(table) + 1
        with self._lock:
            hits = sorted((k, v) for k, v in self._view.items() if k.startswith(start))
        for k, raw in hits:
            yield k[skip:], _decode(raw)

    def __len__(self) -> int:
        with self._lock:
            return len(self._view)

    def close(self) -> None:
        producer = getattr(self, "_producer", None)
        if producer is not None:
            producer.close(timeout=CLOSE_TIMEOUT_S)
        reader = getattr(self, "_reader", None)
        if reader is not None:
            reader.close()


def _key(table: str, key: str) -> str:
    if not table or "/" in table:
        raise ValueError(f"table name must be non-empty and free of '/': {table!r}")
    return f"{table}/{key}"


def _encode(value: Doc) -> bytes:
    if not isinstance(value, dict):
        raise TypeError(f"documents are JSON objects, got {type(value).__name__}")
    return json.dumps(value, separators=(",", ":"), sort_keys=True, allow_nan=False).encode("utf-8")


def _decode(raw: bytes) -> Doc:
    doc: Doc = json.loads(raw)
    return doc


def _require_compacted(admin: KafkaAdminClient, topic: str) -> None:
    found = admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, topic, ["cleanup.policy"])], config_filter="all"
    )
    policy = str(found.get("topic", {}).get(topic, {}).get("cleanup.policy", {}).get("value", ""))
    if "compact" not in policy.split(","):
        raise KafkaBusError(
            f"topic {topic!r} exists with cleanup.policy={policy or '?'}; the state store needs "
            "cleanup.policy=compact (kafka-configs --alter --add-config cleanup.policy=compact)"
        )


__all__ = ["KafkaKVStore"]
