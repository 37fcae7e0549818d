"""Backpressure on the real broker: a slow state store slows the merger down; the backlog waits in Kafka,
not in the process's memory, and no batch outlasts Kafka's `max.poll.interval.ms` (which would throw
the member out of its group, hand its batch to another member, and start a rebalance storm)."""

from __future__ import annotations

import logging
import threading
import time
import tracemalloc
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from greenwatch.schemas import TILE_RESULT, Event, encode, make_event, stable_id
from greenwatch.services import topics
from greenwatch.services.merger import Merger
from greenwatch.services.runtime import Outgoing, run_service
from greenwatch.services.store import Doc, SqliteStore
from greenwatch.services.store.timeseries import TimeSeriesStore

from ._faults import example
from .conftest import KAFKA_TEST_CONSUMER_OPTIONS, KafkaKit

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

AREAS = ["GM0344", "GM0353", "GM0356"]
PUT_DELAY_S = 0.3  # the slow store: every write takes this long
POLL_INTERVAL_MS = 4000  # max.poll.interval.ms: 50 records x 0.3 s = 15 s would overrun it
BATCH_S = 1.5  # the budget: 1.5 s / 0.3 s -> 5 records per poll
RUN_S = 8.0  # twice the poll interval


class SlowStore(SqliteStore):
    """The real SQLite store, with a delay on every write (a disk or a network store under load)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.writes = 0

    def put_many(self, table: str, items: list[tuple[str, Doc]]) -> None:
        time.sleep(PUT_DELAY_S)
        self.writes += len(items)
        super().put_many(table, items)


class CountingMerger(Merger):
    """The real merger, recording the ids of the events it handles."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seen: list[str] = []

    def handle(self, event: Event) -> list[Outgoing]:
        self.seen.append(event["id"])
        return super().handle(event)


def _results(n: int) -> Iterator[tuple[str, bytes]]:
    """Valid tile results (one checked by `make_event`, the rest made alike: validating thousands would take
    longer than the test), ~11 kB each, so that the backlog is far larger than a fetch."""
    template = make_event(TILE_RESULT, example("tile-result"), source="test")
    padding = "x" * 10_000
    for i in range(n):
        area = AREAS[i % len(AREAS)]
        data = {**template["data"], "task_id": stable_id("bp", i), "area_id": area, "area_tiles": 1,
                "date": (date(2024, 1, 1) + timedelta(days=i % 900)).isoformat(),
                "provenance": {**template["data"]["provenance"], "product_href": f"file:///{padding}/{i}.zarr"}}
        yield area, encode({**template, "id": stable_id("bp-result", i), "subject": area, "data": data})


def test_a_slow_store_slows_consumption_and_the_backlog_stays_in_kafka(
    kafka_kit: KafkaKit, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bus = kafka_kit.bus(consumer_options={**KAFKA_TEST_CONSUMER_OPTIONS, "max_poll_interval_ms": POLL_INTERVAL_MS})
    bus.ensure_topics([topics.RESULTS], partitions=2)
    backlog_bytes = 0
    n = 2000
    for key, value in _results(n):
        bus.send(topics.RESULTS, value, key=key.encode())
        backlog_bytes += len(value)
    bus.flush()
    store = SlowStore(tmp_path / "state.db")
    merger = CountingMerger(store=store, series=TimeSeriesStore(str(tmp_path / "series.zarr"), AREAS))
    seen = merger.seen
    stop = threading.Event()
    tracemalloc.start()
    baseline = tracemalloc.get_traced_memory()[0]
    caplog.set_level(logging.WARNING, logger="greenwatch.services.runtime")
    thread = threading.Thread(target=run_service, args=(bus, merger, kafka_kit.group),
                              kwargs={"stop": stop, "max_batch_s": BATCH_S}, daemon=True)
    started = time.monotonic()
    thread.start()
    time.sleep(RUN_S)  # longer than max.poll.interval.ms: a 50-record batch would have been thrown out
    stop.set()
    thread.join(timeout=30)
    elapsed = time.monotonic() - started
    peak = tracemalloc.get_traced_memory()[1] - baseline
    tracemalloc.stop()
    lag = bus.group_lag([topics.RESULTS], kafka_kit.group)
    print(f"\nBACKPRESSURE: backlog {n} records / {backlog_bytes / 1e6:.1f} MB; handled {len(seen)} in "
          f"{elapsed:.1f} s at {PUT_DELAY_S} s per write; committed lag {lag}; peak traced memory "
          f"{peak / 1e6:.1f} MB")
    assert not [r for r in caplog.records if "commit failed" in r.getMessage()]  # never thrown out of the group
    assert len(seen) == len(set(seen))  # nothing handled twice
    assert len(seen) <= elapsed / PUT_DELAY_S + 1  # the store sets the pace
    assert len(seen) >= 5  # and progress is made
    assert lag >= n - len(seen)  # the rest waits in Kafka (lag counts committed positions)
    assert peak < backlog_bytes / 4  # not in memory
