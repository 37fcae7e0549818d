"""Helpers for the trend tests: an in-memory state store (the `Store` protocol, so that stateful
tests run thousands of steps in seconds) and observation documents."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Doc = dict[str, Any]


class MemoryStore:
    """Every read sees every write, like SqliteStore, without the disk."""

    def __init__(self) -> None:
        self.tables: dict[str, dict[str, Doc]] = {}

    def get(self, table: str, key: str) -> Doc | None:
        doc = self.tables.get(table, {}).get(key)
        return None if doc is None else _copy(doc)

    def put(self, table: str, key: str, value: Doc) -> None:
        self.tables.setdefault(table, {})[key] = _copy(value)

    def put_many(self, table: str, items: list[tuple[str, Doc]]) -> None:
        for k, v in items:
            self.put(table, k, v)

    def delete(self, table: str, key: str) -> None:
        self.tables.get(table, {}).pop(key, None)

    def scan(self, table: str, prefix: str = "") -> Iterator[tuple[str, Doc]]:
        rows = self.tables.get(table, {})
        for k in sorted(rows):
            if k.startswith(prefix):
                yield k, _copy(rows[k])

    def refresh(self) -> int:
        return 0

    def close(self) -> None:
        pass


def _copy(doc: Doc) -> Doc:
    import json

    copied: Doc = json.loads(json.dumps(doc))
    return copied


def obs(area: str, day: str, green: float, canopy: float, *, usable: bool = True, series: str = "sentinel-2",
        area_m2: float = 1000.0) -> Doc:
    return {"area_id": area, "date": day, "series": series, "green_area_m2": green, "canopy_area_m2": canopy,
            "water_area_m2": 0.0, "area_m2": area_m2, "valid_fraction": 0.9 if usable else 0.1, "usable": usable,
            "n_products": 1, "kernel_version": "k", "scene_ids": [f"s-{area}-{day}"]}
