"""The consumer loop every service shares: decode and validate, call `handle`, publish, commit.

A service is anything with a `name`, input `topics` and `handle(event) -> list[Outgoing]`; tests call
`handle` directly without a bus. Here the loop adds what a broker needs:

* a message that fails decoding or validation goes to `<topic>.dlq` with the reason and its original
  bytes, and the loop goes on;
* a handler error is retried (`TransientError` and unexpected errors) up to `max_attempts` with
  exponential backoff, or dead-lettered at once (`PermanentError`, `InvalidMessage`);
* outputs are validated before sending, flushed (acks=all) and only then is the input offset
  committed: handlers make their own effects durable before returning, so a crash anywhere means
  redelivery, and handlers are idempotent.
* optional hooks: `on_dead_letter(event, reason)`, `after_flush()`, and `prefetch(values)`, called with
  a polled batch's raw values before it is handled (the tile worker starts decoding the next tasks).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from greenwatch.schemas import Event, InvalidMessage, decode, encode, validate_event
from greenwatch.services import metrics
from greenwatch.services.backpressure import BatchBudget
from greenwatch.services.bus import Bus, Consumer, Record, dlq_topic
from greenwatch.services.errors import PermanentError, TransientError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outgoing:
    topic: str
    key: str
    event: Event


class Service(Protocol):
    name: str
    topics: Sequence[str]

    def handle(self, event: Event) -> list[Outgoing]: ...


def publish(bus: Bus, out: Sequence[Outgoing], *, service: str) -> None:
    """Validate and send; the caller flushes."""
    for o in out:
        validate_event(o.event)
        headers = [("gw-type", o.event["type"].encode())]
        if "traceid" in o.event:
            headers.append(("traceparent", f"00-{o.event['traceid']}-{'0' * 15}1-01".encode()))
        bus.send(o.topic, encode(o.event), key=o.key.encode("utf-8"), headers=headers)
        metrics.MESSAGES_OUT.labels(service, o.topic).inc()


def dead_letter(bus: Bus, record: Record, reason: str, *, service: str) -> None:
    """Send the original bytes to `<topic>.dlq` with why, where from and when."""
    headers = [
        ("gw-error", reason[:4000].encode("utf-8", "replace")),
        ("gw-service", service.encode()),
        ("gw-source-topic", record.topic.encode()),
        ("gw-source-partition", str(record.partition).encode()),
        ("gw-source-offset", str(record.offset).encode()),
        ("gw-failed-at", datetime.now(UTC).isoformat().encode()),
    ]
    bus.send(dlq_topic(record.topic), record.value, key=record.key, headers=headers)
    metrics.MESSAGES_FAILED.labels(service, record.topic, "dlq").inc()
    log.warning("%s: dead-lettered %s[%d]@%d: %s", service, record.topic, record.partition, record.offset, reason)


def _dead_letter(bus: Bus, service: Service, record: Record, event: Event | None, reason: str) -> None:
    dead_letter(bus, record, reason, service=service.name)
    hook = getattr(service, "on_dead_letter", None)
    if hook is not None:
        hook(event, reason)


def process_record(
    bus: Bus, service: Service, record: Record, *, max_attempts: int = 3, backoff_s: float = 0.2
) -> None:
    """Handle one record completely: outputs sent (not yet flushed) or the record dead-lettered."""
    metrics.MESSAGES_IN.labels(service.name, record.topic).inc()
    try:
        event = decode(record.value)
    except InvalidMessage as exc:
        _dead_letter(bus, service, record, None, f"invalid message: {exc}")
        return
    for attempt in range(1, max_attempts + 1):
        started = time.perf_counter()
        try:
            out = service.handle(event)
            publish(bus, out, service=service.name)
            return
        except (PermanentError, InvalidMessage) as exc:
            _dead_letter(bus, service, record, event, f"{type(exc).__name__}: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - every other failure is retried, then dead-lettered
            metrics.MESSAGES_FAILED.labels(service.name, record.topic, "retry").inc()
            if attempt == max_attempts:
                _dead_letter(bus, service, record, event, f"failed {attempt} times, last: {type(exc).__name__}: {exc}")
                return
            log.info("%s: attempt %d failed (%s), retrying", service.name, attempt, exc)
            time.sleep(backoff_s * 2 ** (attempt - 1))
        finally:
            metrics.HANDLER_SECONDS.labels(service.name).observe(time.perf_counter() - started)


def run_once(bus: Bus, consumer: Consumer, service: Service, *, max_records: int = 50, timeout_s: float = 0.5,
             max_attempts: int = 3, before_batch: Callable[[], object] | None = None) -> int:
    """Poll one batch, process it, flush outputs and commit. Returns the number of records handled.
    `before_batch` (the state store's `refresh`) runs after a poll that returned records, so the
    handlers see every write that preceded the messages they are about to handle."""
    records = consumer.poll(timeout_s, max_records)
    if records and before_batch is not None:
        before_batch()
    ahead = getattr(service, "prefetch", None)  # a service may start reading inputs of the batch early
    if records and ahead is not None:
        ahead([r.value for r in records])
    for record in records:
        process_record(bus, service, record, max_attempts=max_attempts)
    if records:
        bus.flush()
        hook = getattr(service, "after_flush", None)
        if hook is not None:
            hook()
        try:
            consumer.commit()
        except TransientError as exc:  # CommitFailed: a rebalance moved the partitions; the outputs are durable
            log.warning("%s: commit failed (%s); the batch will be delivered again where its partitions went",
                        service.name, exc)
    return len(records)


def run_service(
    bus: Bus,
    service: Service,
    group: str,
    *,
    stop: threading.Event | None = None,
    until_idle: bool = False,
    max_records: int = 50,
    max_attempts: int = 3,
    before_batch: Callable[[], object] | None = None,
    max_batch_s: float | None = 60.0,
) -> int:
    """Consume until `stop` is set (or, with `until_idle`, until a poll returns nothing). Each poll
    asks for as many records as fit in `max_batch_s` at the measured pace (`backpressure.BatchBudget`;
    None: always `max_records`)."""
    stop = stop or threading.Event()
    consumer = bus.consumer(list(service.topics), group)
    budget = BatchBudget(max_batch_s, max_records) if max_batch_s else None
    total = 0
    try:
        while not stop.is_set():
            started = time.monotonic()
            n = run_once(bus, consumer, service, max_records=budget.limit() if budget else max_records,
                         max_attempts=max_attempts, before_batch=before_batch)
            if budget:
                budget.observe(n, time.monotonic() - started)
            total += n
            try:
                metrics.CONSUMER_LAG.labels(service.name).set(consumer.lag())
            except Exception as exc:  # noqa: BLE001 - a gauge: a broker that is away must not end the loop
                log.warning("%s: consumer lag not read (%s)", service.name, exc)
            if n == 0 and until_idle:
                break
    finally:
        consumer.close()
    return total
