"""The embedded bus: durable topics in one SQLite file on local disk.

The default for `greenwatch run` and `demo`: no broker to start, and still crash-safe, because
records and consumer-group positions are committed to disk (WAL mode) exactly as Kafka would keep
them. One partition per topic, one member per consumer group: scale-out needs Kafka.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

from greenwatch.services.bus._base import Record

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    topic TEXT NOT NULL,
    offset INTEGER NOT NULL,
    key BLOB,
    value BLOB NOT NULL,
    headers TEXT NOT NULL,
    PRIMARY KEY (topic, offset)
);
CREATE TABLE IF NOT EXISTS group_offsets (
    grp TEXT NOT NULL,
    topic TEXT NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (grp, topic)
);
"""


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.executescript(_SCHEMA)
    return conn


class EmbeddedBus:
    """`Bus` on SQLite. Thread-safe; several processes may share the file (SQLite locking)."""

    def __init__(self, path: Path | str, prefix: str = "") -> None:
        self.path = Path(path)
        self.prefix = prefix
        self._conn = _connect(self.path)
        self._lock = threading.Lock()
        self._pending: list[tuple[str, bytes | None, bytes, str]] = []

    def ensure_topics(self, topics: Iterable[str], partitions: int = 1) -> None:
        """Topics exist implicitly; nothing to create."""

    def send(
        self, topic: str, value: bytes, *, key: bytes | None, headers: Sequence[tuple[str, bytes]] = ()
    ) -> None:
        hdrs = json.dumps([[k, v.decode("latin-1")] for k, v in headers])
        with self._lock:
            self._pending.append((self.prefix + topic, key, value, hdrs))

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
            if not pending:
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for topic, key, value, hdrs in pending:
                    (top,) = self._conn.execute(
                        "SELECT COALESCE(MAX(offset), -1) FROM records WHERE topic = ?", (topic,)
                    ).fetchone()
                    self._conn.execute(
                        "INSERT INTO records (topic, offset, key, value, headers) VALUES (?, ?, ?, ?, ?)",
                        (topic, top + 1, key, value, hdrs),
                    )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                self._pending[:0] = pending
                raise

    def consumer(self, topics: Sequence[str], group: str) -> EmbeddedConsumer:
        return EmbeddedConsumer(self, [self.prefix + t for t in topics], self.prefix + group)

    def end_offset(self, topic: str) -> int:
        with self._lock:
            (top,) = self._conn.execute(
                "SELECT COALESCE(MAX(offset), -1) FROM records WHERE topic = ?", (self.prefix + topic,)
            ).fetchone()
        return int(top) + 1

    def group_lag(self, topics: Sequence[str], group: str) -> int:
        with self._lock:
            rows = dict(self._conn.execute(
                "SELECT topic, next_offset FROM group_offsets WHERE grp = ?", (self.prefix + group,)
            ).fetchall())
        return sum(max(0, self.end_offset(t) - int(rows.get(self.prefix + t, 0))) for t in topics)

    def read_all(self, topic: str) -> list[Record]:
        """Every record of a topic, for operators and tests (the DLQ listing, say)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT offset, key, value, headers FROM records WHERE topic = ? ORDER BY offset",
                (self.prefix + topic,),
            ).fetchall()
        return [_record(topic, *row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _record(topic: str, offset: int, key: bytes | None, value: bytes, hdrs: str) -> Record:
    headers = tuple((k, v.encode("latin-1")) for k, v in json.loads(hdrs))
    return Record(topic=topic, partition=0, offset=offset, key=key, value=value, headers=headers)


class EmbeddedConsumer:
    """One consumer-group member reading every subscribed topic of an `EmbeddedBus`."""

    def __init__(self, bus: EmbeddedBus, topics: list[str], group: str) -> None:
        self._bus = bus
        self._topics = topics
        self._group = group
        self._position: dict[str, int] = {}
        self.seek_uncommitted()

    def _committed(self) -> dict[str, int]:
        with self._bus._lock:
            rows = self._bus._conn.execute(
                "SELECT topic, next_offset FROM group_offsets WHERE grp = ?", (self._group,)
            ).fetchall()
        got = dict(rows)
        return {t: int(got.get(t, 0)) for t in self._topics}

    def seek_uncommitted(self) -> None:
        self._position = self._committed()

    def poll(self, timeout_s: float, max_records: int = 500) -> list[Record]:
        out: list[Record] = []
        prefix_len = len(self._bus.prefix)
        with self._bus._lock:
            for topic in self._topics:
                rows = self._bus._conn.execute(
                    "SELECT offset, key, value, headers FROM records "
                    "WHERE topic = ? AND offset >= ? ORDER BY offset LIMIT ?",
                    (topic, self._position[topic], max_records - len(out)),
                ).fetchall()
                for row in rows:
                    out.append(_record(topic[prefix_len:], *row))
                    self._position[topic] = row[0] + 1
                if len(out) >= max_records:
                    break
        if not out and timeout_s > 0:
            threading.Event().wait(min(timeout_s, 0.05))
        return out

    def commit(self) -> None:
        with self._bus._lock:
            self._bus._conn.execute("BEGIN IMMEDIATE")
            for topic, pos in self._position.items():
                self._bus._conn.execute(
                    "INSERT INTO group_offsets (grp, topic, next_offset) VALUES (?, ?, ?) "
                    "ON CONFLICT (grp, topic) DO UPDATE SET next_offset = excluded.next_offset",
                    (self._group, topic, pos),
                )
            self._bus._conn.execute("COMMIT")

    def lag(self) -> int:
        committed = self._committed()
        total = 0
        prefix_len = len(self._bus.prefix)
        for topic, pos in committed.items():
            total += max(0, self._bus.end_offset(topic[prefix_len:]) - pos)
        return total

    def close(self) -> None:
        """Nothing to release: positions live in the database."""
