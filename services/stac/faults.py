"""A fault-injecting HTTP proxy on 127.0.0.1 in front of a STAC API, for resilience tests and drills.

It forwards every request to the upstream server and passes the answer back, except for the
requests that its plan picks: those get an HTTP error (500, 502, 503...), a 429 with `Retry-After`,
a stall (no answer for a while, then the connection is closed), a dropped connection, or a cut-off
body. Upstream URLs in answers (`next` links) are rewritten to the proxy's, so a client keeps
talking to the proxy while it pages. The upstream can be swapped while running (`set_upstream`):
that is how a test makes new items appear in a server that cannot add items without a restart.

Every request is logged with its number, method, path, JSON body and what the proxy did, so a test
can show which faults a client met and that it went on where it stopped.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Fault:
    """What to answer instead of the upstream's answer. kind: `status` (HTTP `status`, with
    `retry_after` as the Retry-After header if set), `stall` (say nothing for `seconds`, then close),
    `drop` (close the connection at once), `truncate` (HTTP 200 with half of the real body)."""

    kind: str = "status"
    status: int = 500
    retry_after: str | None = None
    seconds: float = 0.0


@dataclass
class Logged:
    n: int
    method: str
    path: str
    body: dict[str, Any] | None
    outcome: str  # "forwarded <status>" or the fault


Plan = Callable[[int, str, str, "dict[str, Any] | None"], "Fault | None"]


def every(faults: dict[int, Fault]) -> Plan:
    """A plan from {request number (1-based): fault}."""
    return lambda n, _method, _path, _body: faults.get(n)


@dataclass
class FaultProxy:
    upstream: str
    plan: Plan = field(default=lambda *_: None)
    log: list[Logged] = field(default_factory=list)
    url: str = ""
    _count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def set_upstream(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")

    def faults(self) -> list[Logged]:
        return [e for e in self.log if not e.outcome.startswith("forwarded")]

    def _next(self) -> int:
        with self._lock:
            self._count += 1
            return self._count

    def handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                return  # the proxy's own log is `proxy.log`

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def _serve(self, method: str) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if method == "POST" else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                n = proxy._next()
                fault = proxy.plan(n, method, self.path, body)
                entry = Logged(n, method, self.path, body if isinstance(body, dict) else None, "")
                proxy.log.append(entry)
                if fault is not None and fault.kind != "truncate":
                    entry.outcome = f"{fault.kind} {fault.status if fault.kind == 'status' else fault.seconds}"
                    self._fault(fault)
                    return
                status, payload, ctype = proxy._forward(method, self.path, raw)
                entry.outcome = f"forwarded {status}"
                if fault is not None:  # truncate: a real answer cut in half, still HTTP 200
                    entry.outcome = "truncate"
                    status, payload = 200, payload[: len(payload) // 2]
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _fault(self, fault: Fault) -> None:
                if fault.kind == "status":
                    text = json.dumps({"code": str(fault.status), "description": "injected fault"}).encode()
                    self.send_response(fault.status)
                    if fault.retry_after is not None:
                        self.send_header("Retry-After", fault.retry_after)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(text)))
                    self.end_headers()
                    self.wfile.write(text)
                    return
                if fault.kind == "stall":
                    time.sleep(fault.seconds)
                self.close_connection = True  # stall or drop: no answer at all

        return Handler

    def _forward(self, method: str, path: str, raw: bytes) -> tuple[int, bytes, str]:
        if not self.upstream.startswith(("http://", "https://")):
            raise ValueError(f"upstream must be an http(s) URL, not {self.upstream!r}")
        req = urllib.request.Request(  # noqa: S310 - http(s) checked above
            self.upstream + path, data=raw if method == "POST" else None, method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - the configured upstream
                status, payload, ctype = int(resp.status), resp.read(), resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            status, payload, ctype = exc.code, exc.read(), exc.headers.get("Content-Type", "text/plain")
        payload = payload.replace(self.upstream.encode(), self.url.encode())
        return status, payload, ctype or "application/json"

    def start(self) -> str:
        self.set_upstream(self.upstream)
        server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler())
        server.daemon_threads = True
        server.block_on_close = False  # a stalled handler must not hold up close()
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, name="gw-fault-proxy", daemon=True).start()
        return self.url

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@contextmanager
def fault_proxy(upstream: str, plan: Plan | None = None) -> Iterator[FaultProxy]:
    """A running FaultProxy in front of `upstream`; stopped on exit."""
    proxy = FaultProxy(upstream, plan or (lambda *_: None))
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.close()
