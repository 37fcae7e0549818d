"""The Apache Kafka bus (kafka-python 3.x): `Bus` and `Consumer` for multi-machine deployments.

Topic and group names are logical; the deployment's prefix is added here and stripped again from
the records `poll` returns. Delivery is at least once: a consumer commits exactly the positions
after the records it has returned (never auto-commits), so a record polled but not committed is
delivered again to whichever group member owns its partition next.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from kafka import (
    ConsumerRebalanceListener,
    KafkaAdminClient,
    KafkaConsumer,
    KafkaProducer,
    OffsetAndMetadata,
    OffsetSpec,
    TopicPartition,
)
from kafka.errors import (
    CommitFailedError,
    KafkaError,
    KafkaTimeoutError,
    RebalanceInProgressError,
    TopicAlreadyExistsError,
)
from kafka.net.compat import KafkaNetClient

from greenwatch.services.bus._base import Record
from greenwatch.services.errors import TransientError

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_S = 10.0  # bound on closing a producer whose broker went away

# The kafka-python settings that `security` may carry, passed through unchanged.
SECURITY_KEYS = frozenset(
    {
        "security_protocol",
        "sasl_mechanism",
        "sasl_plain_username",
        "sasl_plain_password",
        "sasl_kerberos_name",
        "sasl_kerberos_service_name",
        "sasl_kerberos_domain_name",
        "sasl_oauth_token_provider",
        "ssl_context",
        "ssl_check_hostname",
        "ssl_cafile",
        "ssl_certfile",
        "ssl_keyfile",
        "ssl_crlfile",
        "ssl_password",
        "ssl_ciphers",
    }
)


class KafkaBusError(Exception):
    """Base of the errors raised by the Kafka adapters."""


class BusUnavailable(KafkaBusError, TransientError):
    """No broker answered within the bootstrap timeout. Nothing was sent; retry later."""


class DeliveryFailed(KafkaBusError, TransientError):
    """Records sent since the last flush were not all acknowledged; the caller must not commit
    its input and should send them again (duplicates are possible, losses are not)."""


class CommitFailed(KafkaBusError, TransientError):
    """The group rebalanced before the commit (a member joined or left, or the broker restarted and
    forgot this member); the uncommitted records will be delivered again (to this member or another).
    Drop the batch's work that is not yet durable and poll again: polling rejoins the group. Also
    raised when the broker did not answer (a retriable kafka-python error): then the positions are
    kept and the next commit includes them."""


def client_config(
    bootstrap: str | Sequence[str],
    client_id: str,
    security: Mapping[str, Any] | None,
    bootstrap_timeout_s: float,
    request_timeout_s: float,
) -> dict[str, Any]:
    """Settings shared by producers, consumers and admin clients."""
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap if isinstance(bootstrap, str) else list(bootstrap),
        "client_id": client_id,
        "bootstrap_timeout_ms": int(bootstrap_timeout_s * 1000),
        "request_timeout_ms": int(request_timeout_s * 1000),
    }
    for name, value in (security or {}).items():
        if name not in SECURITY_KEYS:
            raise ValueError(f"unknown Kafka security setting {name!r}; allowed: {sorted(SECURITY_KEYS)}")
        # pydantic SecretStr and the like: unwrap here, at the last moment, never for logging.
        unwrap = getattr(value, "get_secret_value", None)
        if value is not None:
            config[name] = unwrap() if callable(unwrap) else value
    return config


_Client = TypeVar("_Client", KafkaProducer, KafkaConsumer, KafkaAdminClient)


def open_client(factory: Callable[..., _Client], config: Mapping[str, Any]) -> _Client:
    """Construct a kafka-python client, turning a failed bootstrap into `BusUnavailable`.

    kafka-python 3.x constructors block until a broker answers (`bootstrap_timeout_ms`) and, when
    none does, raise `KafkaTimeoutError` leaving their network thread running; the network
    clients are recorded here so that a failed start releases them."""
    made: list[KafkaNetClient] = []

    def net_client(**kwargs: Any) -> KafkaNetClient:
        made.append(KafkaNetClient(**kwargs))
        return made[-1]

    try:
        return factory(**config, kafka_client=net_client)
    except BaseException as exc:
        for net in made:
            try:
                net.close()
            except Exception:  # best-effort cleanup of a half-built client
                log.debug("closing a half-built Kafka client failed", exc_info=True)
        if isinstance(exc, KafkaTimeoutError):
            servers = config["bootstrap_servers"]
            timeout_s = config["bootstrap_timeout_ms"] / 1000
            raise BusUnavailable(f"no Kafka broker answered at {servers} within {timeout_s:g} s") from exc
        raise


def to_record(r: Any, prefix: str) -> Record:
    """A `Record` with the logical topic name from a kafka-python `ConsumerRecord`."""
    return Record(
        topic=r.topic.removeprefix(prefix),
        partition=r.partition,
        offset=r.offset,
        key=r.key,
        value=r.value if r.value is not None else b"",
        headers=tuple((k, v if v is not None else b"") for k, v in (r.headers or ())),
    )


class KafkaBus:
    """`Bus` on Apache Kafka. Thread-safe for `send`/`flush`; each consumer belongs to one thread.

    `prefix` is added to every topic, `group_prefix` (default: `prefix`) to every consumer group.
    `security` carries kafka-python TLS/SASL settings (see `SECURITY_KEYS`); secrets are never
    logged. `producer_options` and `consumer_options` override any other kafka-python setting
    (tests shorten session timeouts with them). Raises `BusUnavailable` when no broker answers
    within `bootstrap_timeout_s`.
    """

    def __init__(
        self,
        bootstrap: str | Sequence[str],
        prefix: str = "gw.",
        group_prefix: str | None = None,
        client_id: str = "greenwatch",
        security: Mapping[str, Any] | None = None,
        *,
        bootstrap_timeout_s: float = 5.0,
        request_timeout_s: float = 30.0,
        flush_timeout_s: float | None = 120.0,
        replication_factor: int | None = None,
        producer_options: Mapping[str, Any] | None = None,
        consumer_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.prefix = prefix
        self.group_prefix = prefix if group_prefix is None else group_prefix
        self.client_id = client_id
        self._base = client_config(bootstrap, client_id, security, bootstrap_timeout_s, request_timeout_s)
        self._flush_timeout_s = flush_timeout_s
        self._replication_factor = replication_factor
        self._consumer_options = dict(consumer_options or {})
        self._admin: KafkaAdminClient | None = None
        self._lock = threading.Lock()
        self._pending: list[Any] = []  # futures of records sent since the last flush
        producer_config = {
            **self._base,
            "acks": "all",  # idempotence (kafka-python's default) is kept: acks=all is compatible
            "linger_ms": 5,
            **(producer_options or {}),
        }
        self._producer = open_client(KafkaProducer, producer_config)

    def __repr__(self) -> str:
        return f"KafkaBus({self._base['bootstrap_servers']!r}, prefix={self.prefix!r})"

    def topic(self, logical: str) -> str:
        """The Kafka topic name of a logical topic."""
        return self.prefix + logical

    def ensure_topics(self, topics: Iterable[str], partitions: int = 1) -> None:
        """Create the topics (logical names) that do not exist yet; existing ones are left as
        they are. Callers list `.dlq` companions explicitly."""
        names = [self.topic(t) for t in topics]
        if names:
            create_topics(self._admin_client(), names, partitions, self._replication_factor)

    def send(self, topic: str, value: bytes, *, key: bytes | None, headers: Sequence[tuple[str, bytes]] = ()) -> None:
        try:
            future = self._producer.send(self.topic(topic), value=value, key=key, headers=list(headers))
        except KafkaTimeoutError as exc:  # no metadata for the topic within max_block_ms
            raise DeliveryFailed(f"cannot send to {self.topic(topic)!r}: {exc}") from exc
        with self._lock:
            self._pending.append(future)

    def flush(self) -> None:
        """Block until every record sent so far is acknowledged by all in-sync replicas; raise
        `DeliveryFailed` if any was not."""
        with self._lock:
            pending, self._pending = self._pending, []
        try:
            self._producer.flush(timeout=self._flush_timeout_s)
        except KafkaTimeoutError as exc:
            raise DeliveryFailed(f"{len(pending)} record(s) not acknowledged within {self._flush_timeout_s} s") from exc
        failed = [f for f in pending if not f.succeeded()]
        if failed:
            first = failed[0].exception
            raise DeliveryFailed(f"{len(failed)} of {len(pending)} record(s) not acknowledged: {first!r}") from first

    def consumer(self, topics: Sequence[str], group: str) -> KafkaBusConsumer:
        config = {
            **self._base,
            "group_id": self.group_prefix + group,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            **self._consumer_options,
        }
        return KafkaBusConsumer(open_client(KafkaConsumer, config), [self.topic(t) for t in topics], self.prefix)

    def group_lag(self, topics: Sequence[str], group: str) -> int:
        """Records after consumer group `group`'s committed offsets in `topics`, over all their
        partitions, read with the admin API: unlike `consumer(...).lag()` it does not join the group
        (which would rebalance the running members). For operators and metrics."""
        parts = self._partitions(topics)
        if not parts:
            return 0
        admin = self._admin_client()
        group_id = self.group_prefix + group
        ends = admin.list_partition_offsets(dict.fromkeys(parts, OffsetSpec.LATEST))
        committed = admin.list_group_offsets({group_id: parts}).get(group_id, {})
        positions = {tp: c.offset for tp, c in committed.items() if c is not None and c.offset >= 0}
        unset = [tp for tp in parts if tp not in positions]
        if unset:  # never committed: the group would start at the beginning (auto_offset_reset)
            starts = admin.list_partition_offsets(dict.fromkeys(unset, OffsetSpec.EARLIEST))
            positions.update({tp: starts[tp].offset for tp in unset})
        return sum(max(0, ends[tp].offset - positions[tp]) for tp in parts)

    def read_all(self, topic: str, timeout_s: float = 60.0) -> list[Record]:
        """Every record of a topic up to its end offsets at the call, in (partition, offset)
        order, read without a consumer group (the DLQ listing, say)."""
        reader = open_client(KafkaConsumer, {**self._base, "group_id": None, "enable_auto_commit": False})
        try:
            parts = [
                TopicPartition(self.topic(topic), p) for p in sorted(reader.partitions_for_topic(self.topic(topic)))
            ]
            if not parts:
                return []
            reader.assign(parts)
            reader.seek_to_beginning(*parts)
            ends = reader.end_offsets(parts)
            out: list[Record] = []
            deadline = time.monotonic() + timeout_s
            while any(reader.position(tp) < ends[tp] for tp in parts):
                if time.monotonic() > deadline:
                    raise KafkaBusError(f"could not read {self.topic(topic)!r} to its end within {timeout_s} s")
                for records in reader.poll(timeout_ms=200).values():
                    out.extend(
                        to_record(r, self.prefix)
                        for r in records
                        if r.offset < ends[TopicPartition(r.topic, r.partition)]
                    )
            return sorted(out, key=lambda r: (r.partition, r.offset))
        finally:
            reader.close()

    def _partitions(self, topics: Sequence[str]) -> list[TopicPartition]:
        described = self._admin_client().describe_topics([self.topic(t) for t in topics])
        return [
            TopicPartition(d["name"], p["partition_index"])
            for d in described
            if d["error_code"] == 0
            for p in d["partitions"]
        ]

    def _admin_client(self) -> KafkaAdminClient:
        with self._lock:
            if self._admin is None:
                self._admin = open_client(KafkaAdminClient, self._base)
            return self._admin

    def close(self) -> None:
        """Flush what is pending (raising `DeliveryFailed` if that fails), then release the clients."""
        try:
            self.flush()
        finally:
            self._producer.close(timeout=CLOSE_TIMEOUT_S)
            if self._admin is not None:
                self._admin.close()
                self._admin = None


def create_topics(
    admin: KafkaAdminClient,
    names: Sequence[str],
    partitions: int,
    replication_factor: int | None = None,
    configs: Mapping[str, str] | None = None,
) -> list[str]:
    """Create topics, ignoring those that already exist; wait until the new ones have leaders.
    Returns the names created."""
    spec = {
        name: {
            "num_partitions": partitions,
            "replication_factor": -1 if replication_factor is None else replication_factor,
            "configs": dict(configs or {}),
        }
        for name in names
    }
    result = admin.create_topics(spec, raise_errors=False)
    created = []
    for entry in result["topics"]:
        code = entry["error_code"]
        if code == 0:
            created.append(entry["name"])
        elif code != TopicAlreadyExistsError.errno:
            raise KafkaBusError(f"creating topic {entry['name']!r} failed: {entry.get('error_message') or code}")
    if created:
        admin.wait_for_topics(created)
        log.info("created Kafka topics %s (%d partitions)", created, partitions)
    return created


class _Revocations(ConsumerRebalanceListener):  # type: ignore[misc, unused-ignore]  # untyped base
    """Forgets the uncommitted positions of partitions taken away by a rebalance: their records
    go to the new owner, which starts from the committed offset."""

    def __init__(self, consumer: KafkaBusConsumer) -> None:
        self._consumer = consumer

    def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        self._consumer._forget(revoked)

    def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self._consumer._forget(assigned)

    def on_partitions_lost(self, lost: Iterable[TopicPartition]) -> None:
        self._consumer._forget(lost)


class KafkaBusConsumer:
    """One member of a Kafka consumer group (`subscribe`: the group shares the partitions)."""

    def __init__(self, consumer: KafkaConsumer, topics: list[str], prefix: str) -> None:
        self._consumer = consumer
        self._prefix = prefix
        self._lock = threading.Lock()
        # next offset (and leader epoch) after the last record returned, per partition
        self._positions: dict[TopicPartition, tuple[int, int]] = {}
        # the group's committed offset of owned partitions: while this member owns a partition,
        # only its own commits move that offset, so it is fetched once per assignment
        self._committed: dict[TopicPartition, int] = {}
        consumer.subscribe(topics, listener=_Revocations(self))

    def _forget(self, partitions: Iterable[TopicPartition]) -> None:
        with self._lock:
            for tp in partitions:
                self._positions.pop(tp, None)
                self._committed.pop(tp, None)

    def _committed_offsets(self, owned: list[TopicPartition]) -> dict[TopicPartition, int | None]:
        with self._lock:
            known: dict[TopicPartition, int | None] = {tp: self._committed[tp] for tp in owned if tp in self._committed}
        for tp in owned:
            if tp not in known:
                fetched: int | None = self._consumer.committed(tp)
                known[tp] = fetched
                if fetched is not None:
                    with self._lock:
                        self._committed[tp] = fetched
        return known

    def poll(self, timeout_s: float, max_records: int = 500) -> list[Record]:
        try:
            batches = self._consumer.poll(timeout_ms=max(0, int(timeout_s * 1000)), max_records=max_records)
        except KafkaError as exc:  # the broker away: nothing polled this time; kafka-python reconnects
            if not exc.retriable:
                raise
            log.warning("poll failed (%r); polling again", exc)
            time.sleep(max(0.1, timeout_s))
            return []
        out: list[Record] = []
        positions: dict[TopicPartition, tuple[int, int]] = {}
        for tp, records in batches.items():
            out.extend(to_record(r, self._prefix) for r in records)
            if records:
                last = records[-1]
                epoch = last.leader_epoch if last.leader_epoch is not None else -1
                positions[tp] = (last.offset + 1, epoch)
        with self._lock:
            self._positions.update(positions)
        return out

    def commit(self) -> None:
        """Commit the positions after the records returned so far, for the partitions this member
        still owns. Raises `CommitFailed` when a rebalance got in between."""
        with self._lock:
            owned = self._consumer.assignment()
            offsets = {
                tp: OffsetAndMetadata(pos, "", epoch) for tp, (pos, epoch) in self._positions.items() if tp in owned
            }
        if not offsets:
            return
        try:
            self._consumer.commit(offsets)
        except (CommitFailedError, RebalanceInProgressError) as exc:
            self._forget(offsets)
            raise CommitFailed(str(exc)) from exc
        except KafkaError as exc:  # the broker away (connection refused, timeout): keep the positions
            if not exc.retriable:
                raise
            raise CommitFailed(f"not committed now, the next commit includes it: {exc!r}") from exc
        with self._lock:
            for tp, done in offsets.items():
                self._committed[tp] = done.offset
                if tp in self._positions and self._positions[tp][0] == done.offset:
                    del self._positions[tp]

    def seek_uncommitted(self) -> None:
        """Rewind every owned partition to the group's committed offset (or the beginning)."""
        with self._lock:
            self._positions.clear()
        owned = list(self._consumer.assignment())
        for tp, committed in self._committed_offsets(owned).items():
            if committed is None:
                self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, committed)

    def lag(self) -> int:
        """Records after the committed offset, summed over the partitions this member owns now
        (0 before the first poll has joined the group)."""
        owned = list(self._consumer.assignment())
        if not owned:
            return 0
        ends = self._consumer.end_offsets(owned)
        starts: dict[TopicPartition, int] | None = None
        total = 0
        for tp, committed in self._committed_offsets(owned).items():
            if committed is None:  # never committed: the group starts at the beginning
                if starts is None:
                    starts = self._consumer.beginning_offsets(owned)
                total += max(0, ends[tp] - starts[tp])
            else:
                total += max(0, ends[tp] - committed)
        return total

    def assignment(self) -> set[tuple[str, int]]:
        """The (logical topic, partition) pairs this member owns now."""
        return {(tp.topic.removeprefix(self._prefix), tp.partition) for tp in self._consumer.assignment()}

    def close(self) -> None:
        """Leave the group without committing."""
        self._consumer.close(autocommit=False)


__all__ = [
    "CLOSE_TIMEOUT_S",
    "SECURITY_KEYS",
    "BusUnavailable",
    "CommitFailed",
    "DeliveryFailed",
    "KafkaBus",
    "KafkaBusConsumer",
    "KafkaBusError",
    "client_config",
    "create_topics",
    "open_client",
    "to_record",
]
