"""Fixtures for integration tests against real services on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import pytest

if TYPE_CHECKING:
    from greenwatch.services.bus._base import Consumer, Record
    from greenwatch.services.bus.kafka import KafkaBus, KafkaBusConsumer
    from greenwatch.services.store.kafka_kv import KafkaKVStore

# --------------------------------------------------------------------------------------------
# Kafka: a broker started by `deploy/kafka/kafka.sh start` (or any other), named by
# GREENWATCH_TEST_KAFKA=host:port. Tests use a random topic prefix and consumer group each, so
# they never see each other's records, and delete their topics afterwards.
# --------------------------------------------------------------------------------------------

KAFKA_ENV = "GREENWATCH_TEST_KAFKA"

# Short timeouts so that joins, rebalances and a dead member's eviction take seconds, not minutes.
# 6000 ms is the broker's default group.min.session.timeout.ms.
KAFKA_TEST_CONSUMER_OPTIONS: dict[str, Any] = {
    "session_timeout_ms": 6000,
    "heartbeat_interval_ms": 500,
    "max_poll_interval_ms": 10000,
    "fetch_max_wait_ms": 100,
    "metadata_max_age_ms": 5000,
}


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """host:port of the test broker. Unset: a failure in CI (integration tests never skip
    silently there), a skip elsewhere."""
    bootstrap = os.environ.get(KAFKA_ENV, "").strip()
    if not bootstrap:
        reason = (
            f"{KAFKA_ENV} is not set; start a broker with `deploy/kafka/kafka.sh fetch && "
            f"deploy/kafka/kafka.sh start` and set {KAFKA_ENV}=127.0.0.1:9092 (`make test` does both)"
        )
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=3).close()
    except OSError as exc:
        pytest.fail(f"{KAFKA_ENV}={bootstrap} but nothing answers there ({exc}); is the broker running?", pytrace=False)
    return bootstrap


@pytest.fixture
def kafka_prefix() -> str:
    """A topic prefix of this test alone."""
    return f"t{uuid4().hex[:8]}."


@pytest.fixture
def kafka_group() -> str:
    """A consumer group name of this test alone (the bus adds the prefix as well)."""
    return f"g{uuid4().hex[:8]}"


class KafkaKit:
    """Builds buses, consumers and stores for one test, and closes them all afterwards."""

    def __init__(self, bootstrap: str, prefix: str, group: str) -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.group = group
        self._closers: list[Callable[[], None]] = []
        self.consumer_options = dict(KAFKA_TEST_CONSUMER_OPTIONS)

    def bus(self, prefix: str | None = None, **kwargs: Any) -> KafkaBus:
        """A bus; `prefix` should start with this test's prefix, so teardown finds its topics."""
        from greenwatch.services.bus.kafka import KafkaBus

        prefix = self.prefix if prefix is None else prefix
        kwargs.setdefault("consumer_options", self.consumer_options)
        bus = KafkaBus(self.bootstrap, prefix=prefix, client_id="greenwatch-test", **kwargs)
        self._closers.append(bus.close)
        return bus

    def consumer(self, bus: KafkaBus, topics: Sequence[str], group: str | None = None) -> KafkaBusConsumer:
        consumer = bus.consumer(list(topics), self.group if group is None else group)
        self._closers.append(consumer.close)
        return consumer

    def store(self, topic: str = "state", prefix: str | None = None, **kwargs: Any) -> KafkaKVStore:
        from greenwatch.services.store.kafka_kv import KafkaKVStore

        prefix = self.prefix if prefix is None else prefix
        store = KafkaKVStore(self.bootstrap, topic, prefix=prefix, client_id="greenwatch-test", **kwargs)
        self._closers.append(store.close)
        return store

    @staticmethod
    def poll_until(consumer: Consumer, count: int, timeout_s: float = 20.0, max_records: int = 500) -> list[Record]:
        """Poll until `count` records arrived (or fail after `timeout_s`)."""
        got: list[Record] = []
        deadline = time.monotonic() + timeout_s
        while len(got) < count:
            if time.monotonic() > deadline:
                pytest.fail(f"got {len(got)} of {count} records within {timeout_s} s")
            got.extend(consumer.poll(0.5, max_records=min(max_records, count - len(got))))
        return got

    def close(self) -> None:
        for close in reversed(self._closers):
            try:
                close()
            except Exception as exc:  # noqa: BLE001 - teardown must go on
                print(f"kafka teardown: {exc!r}")
        self._delete_topics()

    def _delete_topics(self) -> None:
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, bootstrap_timeout_ms=3000)
        try:
            mine = [t for t in admin.list_topics() if t.startswith(self.prefix)]
            if mine:
                admin.delete_topics(mine)
            groups = [g["group_id"] for g in admin.list_groups() if g["group_id"].startswith(self.prefix)]
            if groups:
                admin.delete_groups(groups)
        except Exception as exc:  # noqa: BLE001 - leftover topics are harmless
            print(f"kafka teardown: could not delete topics: {exc!r}")
        finally:
            admin.close()


@pytest.fixture
def kafka_kit(kafka_bootstrap: str, kafka_prefix: str, kafka_group: str) -> Iterator[KafkaKit]:
    """Buses, consumers and stores for this test, on its own prefix; all closed, and the
    prefix's topics and groups deleted, afterwards."""
    kit = KafkaKit(kafka_bootstrap, kafka_prefix, kafka_group)
    yield kit
    kit.close()
