"""The state-store interface: JSON documents under (table, key), durable when a call returns.

Tables in use: `cursor` (watcher), `scenes` (the scene ledger), `tiles` (tile completion, one key per
(scene, tile)), `contributions` (merger), `states` and `state_history` (trend), `outbox` (alerts).
Every key has one writer (see docs/adr/0001-durable-state.md), so no transactions span processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

Doc = dict[str, Any]


class Store(Protocol):
    def get(self, table: str, key: str) -> Doc | None: ...

    def put(self, table: str, key: str, value: Doc) -> None: ...

    def put_many(self, table: str, items: list[tuple[str, Doc]]) -> None: ...

    def delete(self, table: str, key: str) -> None: ...

    def scan(self, table: str, prefix: str = "") -> Iterator[tuple[str, Doc]]: ...

    def refresh(self) -> int:
        """Catch up with writes made elsewhere (a no-op where every read sees every write)."""
        ...

    def close(self) -> None: ...
