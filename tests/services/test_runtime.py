"""The consumer loop: dead-letters bad input with the reason and the original bytes, and goes on."""

from __future__ import annotations

import json
from pathlib import Path

from greenwatch.schemas import Event, encode, make_event
from greenwatch.schemas._registry import SCENE_SUPERSEDED
from greenwatch.services.bus import EmbeddedBus
from greenwatch.services.errors import PermanentError
from greenwatch.services.runtime import Outgoing, run_service


class Echo:
    name = "echo"
    topics = ("in",)

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.failures = {"flaky": 1}
        self.dead: list[str] = []

    def handle(self, event: Event) -> list[Outgoing]:
        sid = event["data"]["scene_id"]
        if sid == "never":
            raise PermanentError("cannot ever work")
        if self.failures.get(sid, 0) > 0:
            self.failures[sid] -= 1
            raise OSError("transient glitch")
        self.seen.append(sid)
        return [Outgoing("out", sid, event)]

    def on_dead_letter(self, event: Event | None, reason: str) -> None:
        self.dead.append(reason)


def _ev(scene_id: str) -> bytes:
    return encode(make_event(SCENE_SUPERSEDED, {"scene_id": scene_id, "superseded_by": "b", "reason": "r"},
                             source="test"))


def test_bad_messages_go_to_the_dlq_and_the_consumer_goes_on(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.db")
    raws = [_ev("a"), b"\xff not json", _ev("never"), json.dumps({"specversion": "1.0"}).encode(), _ev("flaky"),
            _ev("b")]
    for raw in raws:
        bus.send("in", raw, key=b"k")
    bus.flush()
    svc = Echo()
    assert run_service(bus, svc, "g", until_idle=True, max_attempts=3) == len(raws)
    assert svc.seen == ["a", "flaky", "b"]
    dlq = bus.read_all("in.dlq")
    assert [r.value for r in dlq] == [raws[1], raws[2], raws[3]]  # original bytes kept
    reasons = [r.header("gw-error").decode() for r in dlq]
    assert "not JSON" in reasons[0]
    assert "PermanentError: cannot ever work" in reasons[1]
    assert "envelope/v1" in reasons[2]
    assert all(r.header("gw-source-topic") == b"in" for r in dlq)
    assert len(svc.dead) == 3
    assert [json.loads(r.value)["data"]["scene_id"] for r in bus.read_all("out")] == ["a", "flaky", "b"]
    assert bus.consumer(["in"], "g").lag() == 0


def test_a_handler_that_keeps_failing_is_dead_lettered_after_max_attempts(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.db")
    bus.send("in", _ev("flaky"), key=b"k")
    bus.flush()
    svc = Echo()
    svc.failures["flaky"] = 5
    run_service(bus, svc, "g", until_idle=True, max_attempts=2)
    (dead,) = bus.read_all("in.dlq")
    assert "failed 2 times" in dead.header("gw-error").decode()
    assert svc.seen == []
