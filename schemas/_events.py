"""CloudEvents 1.0 envelopes: build, validate, encode and decode every greenwatch message."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime
from typing import Any

from greenwatch.schemas._registry import EventKind, check, kind_of_type
from greenwatch.schemas.errors import InvalidMessage

Event = dict[str, Any]


def stable_id(*parts: object) -> str:
    """A deterministic 24-hex-digit id from the parts (used for task, alert and event ids)."""
    text = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def new_trace_id() -> str:
    return secrets.token_hex(16)


def make_event(
    kind: EventKind,
    data: dict[str, Any],
    *,
    source: str,
    subject: str | None = None,
    event_id: str | None = None,
    trace_id: str | None = None,
    time: datetime | None = None,
) -> Event:
    """Wrap `data` in a CloudEvents envelope and validate both. The id defaults to a hash of the data,
    so the same effect produced twice carries the same id and consumers can drop the copy."""
    body = json.dumps(data, sort_keys=True, separators=(",", ":"))
    event: Event = {
        "specversion": "1.0",
        "id": event_id or stable_id(kind.type, body),
        "source": source,
        "type": kind.type,
        "time": (time or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "dataschema": kind.dataschema,
        "data": data,
    }
    if subject is not None:
        event["subject"] = subject
    if trace_id is not None:
        event["traceid"] = trace_id
    validate_event(event)
    return event


def validate_event(event: object) -> EventKind:
    """Validate the envelope, then the data against the schema its type names. Returns the kind."""
    check("envelope", 1, event)
    assert isinstance(event, dict)  # noqa: S101 - guaranteed by the envelope schema
    kind = kind_of_type(event["type"])
    if event["dataschema"] != kind.dataschema:
        raise InvalidMessage(
            f"dataschema {event['dataschema']!r} does not match type {event['type']!r}", path="dataschema"
        )
    check(kind.name, kind.version, event["data"])
    return kind


def encode(event: Event) -> bytes:
    return json.dumps(event, sort_keys=True, separators=(",", ":")).encode("utf-8")


def decode(raw: bytes) -> Event:
    """Bytes from the bus to a validated event, or InvalidMessage saying why not."""
    try:
        event = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidMessage(f"not JSON: {exc}") from None
    validate_event(event)
    result: Event = event
    return result
