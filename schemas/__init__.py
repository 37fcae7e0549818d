"""Versioned contracts of every greenwatch message: JSON Schema 2020-12 inside CloudEvents 1.0.

Nothing here knows about Kafka or storage; services validate with these functions on send and receipt.
"""

from greenwatch.schemas._events import Event, decode, encode, make_event, new_trace_id, stable_id, validate_event
from greenwatch.schemas._registry import (
    ALERT,
    ANNUAL_COMPOSITE,
    COMPLIANCE_STATE,
    COMPOSITE_TASK,
    KINDS,
    OBSERVATION,
    SCENE_DISCOVERED,
    SCENE_SUPERSEDED,
    TILE_RESULT,
    TILE_TASK,
    EventKind,
    kind_of_type,
    load_schema,
)
from greenwatch.schemas.errors import InvalidMessage

__all__ = [
    "ALERT",
    "ANNUAL_COMPOSITE",
    "COMPLIANCE_STATE",
    "COMPOSITE_TASK",
    "KINDS",
    "OBSERVATION",
    "SCENE_DISCOVERED",
    "SCENE_SUPERSEDED",
    "TILE_RESULT",
    "TILE_TASK",
    "Event",
    "EventKind",
    "InvalidMessage",
    "decode",
    "encode",
    "kind_of_type",
    "load_schema",
    "make_event",
    "new_trace_id",
    "stable_id",
    "validate_event",
]
