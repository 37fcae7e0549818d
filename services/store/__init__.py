"""Thin adapters for durable state: SQLite (embedded) and Kafka compacted topics (multi-machine),
plus the Zarr time-series store."""

from greenwatch.services.store._base import Doc, Store
from greenwatch.services.store.sqlite import SqliteStore

__all__ = ["Doc", "SqliteStore", "Store"]
