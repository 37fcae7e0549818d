"""Golden examples of every message validate; invalid ones fail with the expected reason."""

from __future__ import annotations

import copy
import json
from importlib import resources

import pytest
from jsonschema import Draft202012Validator

from greenwatch.schemas import KINDS, InvalidMessage, decode, encode, load_schema, make_event, validate_event

EXAMPLES = resources.files("greenwatch.schemas").joinpath("examples")


def _example(name: str) -> dict:
    return json.loads(EXAMPLES.joinpath(name).read_text("utf-8"))


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_every_kind_has_a_valid_schema_and_golden_example(kind) -> None:
    Draft202012Validator.check_schema(load_schema(kind.name, kind.version))
    event = _example(f"{kind.name}.v{kind.version}.json")
    assert validate_event(event) == kind
    assert decode(encode(event)) == event


def _cases() -> list[dict]:
    return json.loads(EXAMPLES.joinpath("invalid", "cases.json").read_text("utf-8"))


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["name"])
def test_invalid_examples_fail_with_the_reason(case: dict) -> None:
    if "raw" in case:
        raw = case["raw"].encode()
    else:
        event = copy.deepcopy(_example(case["base"]))
        event.update(case.get("patch", {}))
        event["data"].update(case.get("data_patch", {}))
        for key in case.get("data_delete", []):
            del event["data"][key]
        raw = encode(event)
    with pytest.raises(InvalidMessage) as err:
        decode(raw)
    assert case["error"] in str(err.value)


def test_make_event_validates_before_sending() -> None:
    data = _example("alert.v1.json")["data"]
    kind = next(k for k in KINDS if k.name == "alert")
    ev = make_event(kind, data, source="test")
    assert ev["id"] == make_event(kind, data, source="test")["id"], "same data -> same id (dedupe)"
    bad = dict(data, severity="apocalyptic")
    with pytest.raises(InvalidMessage, match="severity"):
        make_event(kind, bad, source="test")
