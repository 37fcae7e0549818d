"""The bus interface: topics of keyed, ordered, durable records read by consumer groups.

Two implementations satisfy it: an embedded one (SQLite on local disk, one machine, the default for
`greenwatch run` and `demo`) and Apache Kafka (kafka-python). Services never see which one they use.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

DLQ_SUFFIX = ".dlq"


@dataclass(frozen=True)
class Record:
    """One record read from a topic partition."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = field(default=())

    def header(self, name: str) -> bytes | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None


class Consumer(Protocol):
    """A member of a consumer group subscribed to some topics."""

    def poll(self, timeout_s: float, max_records: int = 500) -> list[Record]:
        """Records after the group's committed position (or after the last poll)."""
        ...

    def commit(self) -> None:
        """Commit the position after every record returned by poll so far. Call only once their
        effects are durable: a record polled but not committed is delivered again after a crash."""
        ...

    def seek_uncommitted(self) -> None:
        """Rewind to the last committed position (used after a failed batch)."""
        ...

    def lag(self) -> int:
        """Records in the subscribed partitions after the committed position."""
        ...

    def close(self) -> None: ...


class Bus(Protocol):
    """Producer side plus a consumer factory. `topic` names are logical; implementations add the
    deployment's topic prefix."""

    prefix: str

    def ensure_topics(self, topics: Iterable[str], partitions: int = 1) -> None: ...

    def send(
        self, topic: str, value: bytes, *, key: bytes | None, headers: Sequence[tuple[str, bytes]] = ()
    ) -> None:
        """Queue one record; `flush` makes everything sent so far durable (acks=all on Kafka)."""
        ...

    def flush(self) -> None: ...

    def consumer(self, topics: Sequence[str], group: str) -> Consumer: ...

    def group_lag(self, topics: Sequence[str], group: str) -> int:
        """Records after a group's committed position, without joining the group (no rebalance)."""
        ...

    def read_all(self, topic: str) -> list[Record]:
        """Every record of a topic, without a consumer group (operators: the DLQ listing)."""
        ...

    def close(self) -> None: ...


def dlq_topic(topic: str) -> str:
    return topic + DLQ_SUFFIX
