"""Recorded STAC API answers served again on 127.0.0.1: real bodies, the network stays blocked.

Each route is (method, path, match) -> recorded file: `match` is a function of the request's JSON
body, so the same POST /search answers page 1 or page 2 depending on the body token it carries. The
recorded API root in the bodies is rewritten to the local root, as a proxy would."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

Match = Callable[[dict[str, Any] | None], bool]


@dataclass
class Replay:
    routes: list[tuple[str, str, Match, Path]]
    recorded_base: str
    requests: list[tuple[str, str, dict[str, Any] | None]] = field(default_factory=list)
    url: str = ""


@contextmanager
def replay(routes: list[tuple[str, str, Match, Path]], recorded_base: str) -> Iterator[Replay]:
    state = Replay(routes, recorded_base.rstrip("/"))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

        def do_GET(self) -> None:
            self._answer("GET")

        def do_POST(self) -> None:
            self._answer("POST")

        def _answer(self, method: str) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if method == "POST" else b""
            body = json.loads(raw) if raw else None
            state.requests.append((method, self.path, body))
            for m, path, match, file in state.routes:
                if m == method and path == self.path and match(body):
                    payload = file.read_bytes().replace(state.recorded_base.encode(), state.url.encode())
                    self.send_response(200)
                    self.send_header("Content-Type", "application/geo+json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
