"""The versioned JSON Schemas under this folder, loaded once and validated with jsonschema."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from greenwatch.schemas.errors import InvalidMessage

SCHEMA_BASE = "https://greenwatch.eu/schemas"


@dataclass(frozen=True)
class EventKind:
    """One message kind: its schema name (folder), version and CloudEvents type."""

    name: str
    version: int

    @property
    def type(self) -> str:
        return f"eu.greenwatch.{self.name.replace('-', '.')}.v{self.version}"

    @property
    def dataschema(self) -> str:
        return f"{SCHEMA_BASE}/{self.name}/v{self.version}.json"


SCENE_DISCOVERED = EventKind("scene-discovered", 1)
SCENE_SUPERSEDED = EventKind("scene-superseded", 1)
TILE_TASK = EventKind("tile-task", 1)
TILE_RESULT = EventKind("tile-result", 1)
OBSERVATION = EventKind("observation", 1)
COMPLIANCE_STATE = EventKind("compliance-state", 1)
ALERT = EventKind("alert", 1)
COMPOSITE_TASK = EventKind("composite-task", 1)
ANNUAL_COMPOSITE = EventKind("annual-composite", 1)

KINDS: tuple[EventKind, ...] = (
    SCENE_DISCOVERED,
    SCENE_SUPERSEDED,
    TILE_TASK,
    TILE_RESULT,
    OBSERVATION,
    COMPLIANCE_STATE,
    ALERT,
    COMPOSITE_TASK,
    ANNUAL_COMPOSITE,
)
_BY_TYPE = {k.type: k for k in KINDS}


def kind_of_type(event_type: str) -> EventKind:
    try:
        return _BY_TYPE[event_type]
    except KeyError:
        raise InvalidMessage(f"unknown event type {event_type!r}", path="type") from None


@cache
def load_schema(name: str, version: int = 1) -> dict[str, Any]:
    """The JSON Schema document `schemas/<name>/v<version>.json`."""
    text = resources.files("greenwatch.schemas").joinpath(name, f"v{version}.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator(name: str, version: int) -> Draft202012Validator:
    schema = load_schema(name, version)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def check(name: str, version: int, instance: object) -> None:
    """Raise InvalidMessage with the first (most relevant) schema violation."""
    validator = _validator(name, version)
    try:
        validator.validate(instance)
    except ValidationError as exc:
        path = "/".join(str(p) for p in exc.absolute_path)
        raise InvalidMessage(f"{name}/v{version}: {exc.message}", path=path) from None
