"""Webhook delivery against a real HTTP server on 127.0.0.1 that checks every signature itself, with
the standard library's hmac (not greenwatch's `signature`): retries with backoff, permanent refusals,
the delivery log, deduplication by alert id, and the DLQ when the receiver stays down."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from greenwatch.schemas import ALERT, decode, encode, make_event
from greenwatch.services import topics
from greenwatch.services.app import App
from greenwatch.services.bus import EmbeddedBus
from greenwatch.services.config import Settings
from greenwatch.services.errors import PermanentError
from greenwatch.services.runtime import run_once
from greenwatch.services.webhook import WebhookService, deliveries

from .conftest import MemoryStore

KEY = "s3cret"  # the receivers below hold b"s3cret"


@dataclass
class Receiver:
    """What a subscriber does: check the timestamp and the HMAC, then accept (or fail on purpose)."""

    secret: bytes
    fail_with: list[int] = field(default_factory=list)  # statuses to answer first, in order
    max_age_s: float = 300.0
    verified: list[dict] = field(default_factory=list)
    rejected: int = 0
    requests: int = 0
    url: str = ""

    def check(self, headers: dict[str, str], body: bytes) -> bool:
        ts = headers.get("x-greenwatch-timestamp", "")
        sent = headers.get("x-greenwatch-signature", "")
        if not ts.isdigit() or abs(time.time() - int(ts)) > self.max_age_s:
            return False
        expected = "sha256=" + hmac.new(self.secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, sent)


@contextmanager
def serve(receiver: Receiver) -> Iterator[Receiver]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            receiver.requests += 1
            status = receiver.fail_with.pop(0) if receiver.fail_with else None
            if status is None:
                if receiver.check({k.lower(): v for k, v in self.headers.items()}, body):
                    receiver.verified.append(json.loads(body))
                    status = 204
                else:
                    receiver.rejected += 1
                    status = 401
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/greenwatch"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def _alert(area: str = "GM0356", n: int = 0) -> dict:
    data = {"alert_id": f"{n:024x}", "area_id": area, "area_name": "Nieuwegein", "alert_type": "canopy-loss",
            "severity": "critical", "message": "Nieuwegein (GM0356): tree canopy -38.5 %", "series": "sentinel-2",
            "from_state": None, "to_state": None, "figures": {"canopy_change_pct": -38.5},
            "raised_at": "2026-07-19T10:00:00Z"}
    return make_event(ALERT, data, source="greenwatch/trend", subject=area, event_id=data["alert_id"])


def _service(url: str, store: MemoryStore, sleeps: list[float], **kw: object) -> WebhookService:
    return WebhookService(store=store, url=url, secret=KEY, sleep=sleeps.append, **kw)  # type: ignore[arg-type]


def test_signed_delivery_verified_independently_and_deduplicated() -> None:
    store, sleeps = MemoryStore(), []
    with serve(Receiver(secret=b"s3cret")) as rx:
        hook = _service(rx.url, store, sleeps)
        ev = _alert()
        assert hook.handle(ev) == []
        assert rx.rejected == 0 and len(rx.verified) == 1
        assert rx.verified[0] == json.loads(encode(ev)), "the body is the CloudEvent, byte for byte as signed"
        hook.handle(ev)  # the same alert again (a redelivery): not posted twice
        assert rx.requests == 1
        log = deliveries(store, ev["data"]["alert_id"])
        assert [(d["attempt"], d["status"], d["ok"]) for d in log] == [(1, 204, True)]
        # the wrong secret fails the receiver's check: the signature really covers the body and the key
        other = _service(rx.url, MemoryStore(), sleeps, max_attempts=1)
        with pytest.raises(PermanentError, match="HTTP 401"):
            WebhookService(store=MemoryStore(), url=rx.url, secret=KEY[::-1], max_attempts=1).handle(_alert(n=1))
        assert rx.rejected == 1
        other.handle(_alert(n=1))
        assert len(rx.verified) == 2


def test_retries_with_exponential_backoff_then_succeeds() -> None:
    store, sleeps = MemoryStore(), []
    with serve(Receiver(secret=b"s3cret", fail_with=[503, 429, 500])) as rx:
        hook = _service(rx.url, store, sleeps, backoff_s=0.5, max_backoff_s=1.5)
        hook.handle(_alert())
    assert sleeps == [0.5, 1.0, 1.5]  # 0.5, doubled, capped at 1.5
    assert [d["status"] for d in deliveries(store, _alert()["data"]["alert_id"])] == [503, 429, 500, 204]
    assert len(rx.verified) == 1


def test_a_refusal_is_permanent_and_not_retried() -> None:
    store, sleeps = MemoryStore(), []
    with serve(Receiver(secret=b"s3cret", fail_with=[400])) as rx, \
            pytest.raises(PermanentError, match=r"refused alert .* HTTP 400"):
        _service(rx.url, store, sleeps).handle(_alert())
    assert rx.requests == 1 and sleeps == []


def test_a_receiver_that_stays_down_ends_in_the_dlq_with_the_reason(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    bus = EmbeddedBus(tmp_path / "bus.db", prefix="t.")
    store, sleeps = MemoryStore(), []
    hook = _service(f"http://127.0.0.1:{port}/x", store, sleeps, max_attempts=3, backoff_s=0.01, timeout_s=2)
    ev = _alert()
    bus.send(topics.ALERTS, encode(ev), key=b"GM0356")
    bus.flush()
    consumer = bus.consumer([topics.ALERTS], hook.name)
    assert run_once(bus, consumer, hook, timeout_s=0) == 1
    (dead,) = bus.read_all(topics.ALERTS + ".dlq")
    assert decode(dead.value) == ev
    assert b"failed 3 times" in (dead.header("gw-error") or b"") and b"ConnectError" in (dead.header("gw-error") or b"")
    log = deliveries(store, ev["data"]["alert_id"])
    assert [d["attempt"] for d in log[:3]] == [1, 2, 3] and log[-1]["dead_lettered"] is True
    assert sleeps == [0.01, 0.02]
    assert bus.group_lag([topics.ALERTS], hook.name) == 0, "the consumer goes on"
    bus.close()


def test_configuration_wires_the_deliverer(tmp_path: Path) -> None:
    plain = App.build(Settings(data_dir=tmp_path / "a"))
    assert plain.webhook() is None and all(s.name != "webhook" for s in plain.services())
    app = App.build(Settings(data_dir=tmp_path / "b", trend={"webhook": {"url": "http://127.0.0.1:9/x",
                                                                          "secret": "k", "max_attempts": 2}}))
    hook = app.webhook()
    assert hook is not None and hook.max_attempts == 2 and hook.name in {s.name for s in app.services()}
    with pytest.raises(ValueError, match="secret is required"):
        Settings(trend={"webhook": {"url": "http://127.0.0.1:9/x"}})
    plain.close()
    app.close()
