"""The embedded state store: one SQLite file on local disk (WAL, synchronous=FULL)."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from greenwatch.services.store._base import Doc


class SqliteStore:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS kv (tbl TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, "
            "PRIMARY KEY (tbl, key))"
        )
        self._lock = threading.Lock()

    def get(self, table: str, key: str) -> Doc | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM kv WHERE tbl = ? AND key = ?", (table, key)).fetchone()
        if row is None:
            return None
        doc: Doc = json.loads(row[0])
        return doc

    def put(self, table: str, key: str, value: Doc) -> None:
        self.put_many(table, [(key, value)])

    def put_many(self, table: str, items: list[tuple[str, Doc]]) -> None:
        rows = [(table, k, json.dumps(v, sort_keys=True)) for k, v in items]
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT INTO kv (tbl, key, value) VALUES (?, ?, ?) "
                    "ON CONFLICT (tbl, key) DO UPDATE SET value = excluded.value",
                    rows,
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise

    def delete(self, table: str, key: str) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM kv WHERE tbl = ? AND key = ?", (table, key))

    def scan(self, table: str, prefix: str = "") -> Iterator[tuple[str, Doc]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT key, value FROM kv WHERE tbl = ? AND key >= ? AND key < ? ORDER BY key",
                (table, prefix, prefix + "\U0010ffff"),
            ).fetchall()
        for key, value in rows:
            yield key, json.loads(value)

    def refresh(self) -> int:
        """Every read already sees every committed write."""
        return 0

    def close(self) -> None:
        with self._lock:
            self._conn.close()
