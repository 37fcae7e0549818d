"""A real worker process, consuming from the real Kafka broker, is SIGKILLed in the middle of a task (its
chunk reads are held by the product server); a second process takes the redelivered tasks over. The scene
completes and every area's counts equal an uninterrupted run; results redone after the kill carry the same
ids, so a consumer that keeps one per id (the merger keys contributions by task) counts each task once."""

from __future__ import annotations

import functools
import http.server
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from greenwatch.schemas import decode, encode
from greenwatch.services import topics
from greenwatch.services.config import BusSettings
from greenwatch.services.ledger import Ledger
from greenwatch.services.runtime import Outgoing
from greenwatch.services.sampledata import GeneratedProduct

from .conftest import Kit, scene_event, scene_of, totals

pytestmark = [
    pytest.mark.kafka,
    pytest.mark.slow,
    # kafka-python's protocol schemas, loaded on each store refresh while the test polls the ledger
    pytest.mark.filterwarnings("ignore:open_text is deprecated:DeprecationWarning"),
]


class _Gate:
    """Lets the first `free` chunk requests through, then holds every later one until released."""

    def __init__(self, free: int) -> None:
        self.free = free
        self.served = 0
        self.held = 0
        self.release = threading.Event()
        self.lock = threading.Lock()

    def enter(self, path: str) -> None:
        if "/c/" not in path:  # metadata (zarr.json) always passes
            return
        with self.lock:
            if self.served < self.free or self.release.is_set():
                self.served += 1
                return
            self.held += 1
        self.release.wait(120)


class _Handler(http.server.SimpleHTTPRequestHandler):
    gate: _Gate

    def do_GET(self) -> None:
        self.gate.enter(self.path)
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


@pytest.fixture
def gated_server(layouts: dict[int, GeneratedProduct]) -> Iterator[tuple[str, _Gate]]:
    gate = _Gate(free=24)  # about six tasks' chunks (b03, b04, b08, scl), then the reads hang
    handler = type("H", (_Handler,), {"gate": gate})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(layouts[3].path.parent))
    )
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{layouts[3].path.name}", gate
    finally:
        gate.release.set()
        server.shutdown()
        server.server_close()


def _wait(cond: Callable[[], bool], what: str, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            raise AssertionError(f"worker exited ({proc.returncode}) while waiting for {what}:\n{out[-3000:]}")
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def test_a_worker_killed_mid_task_loses_nothing(
    kafka_kit: Any, layouts: dict[int, GeneratedProduct], make_kit: Callable[..., Kit],
    gated_server: tuple[str, _Gate], tmp_path: Path,
) -> None:
    href, gate = gated_server
    scene = scene_of(layouts[3], href=href)
    reference = make_kit(maps=False)  # the uninterrupted run, in this process, from the local files
    ref_tasks = reference.plan(scene_of(layouts[3]))
    ref_results = reference.run(ref_tasks)

    bus = kafka_kit.bus()
    bus.ensure_topics([*topics.ALL, *(t + ".dlq" for t in topics.ALL)], partitions=2)
    env = {
        **os.environ,
        "GREENWATCH_DATA_DIR": str(tmp_path / "var"),
        "GREENWATCH_BUS__KIND": "kafka",
        "GREENWATCH_BUS__BOOTSTRAP": kafka_kit.bootstrap,
        "GREENWATCH_BUS__TOPIC_PREFIX": kafka_kit.prefix,
        "GREENWATCH_BUS__PARTITIONS": "2",
        "GREENWATCH_STORE__KIND": "kafka",
        "GREENWATCH_WORK__ALLOWED_HREF_SCHEMES": '["http"]',
        "GREENWATCH_WORK__ALLOWED_HREF_HOSTS": '["127.0.0.1"]',
        "GREENWATCH_METRICS__ENABLED": "false",
    }
    if "session_timeout_s" in BusSettings.model_fields:  # the dead member's partitions move on after 6 s
        env["GREENWATCH_BUS__SESSION_TIMEOUT_S"] = "6"
    cmd = [sys.executable, "-m", "greenwatch.services.cli", "work"]
    bus.send(topics.SCENES, encode(scene_event(scene)), key=scene["scene_id"].encode())
    bus.flush()

    first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _wait(lambda: gate.held > 0, "the first worker to be inside a task's chunk reads", 120, first)
        time.sleep(0.3)
        assert first.poll() is None
        first.send_signal(signal.SIGKILL)  # mid-task: its reads are held by the server
        first.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
    before_kill = [decode(r.value)["data"] for r in bus.read_all(topics.RESULTS)]
    assert 0 < len({d["task_id"] for d in before_kill}) < len(ref_tasks), "the kill was not mid-scene"

    gate.release.set()
    second = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        ledger = Ledger(kafka_kit.store("state"))

        def complete() -> bool:
            ledger.store.refresh()
            doc = ledger.get(scene["scene_id"])
            return doc is not None and doc.get("state") == "complete"

        _wait(complete, "the scene to complete after the restart", 180, second)
    finally:
        second.send_signal(signal.SIGTERM)
        try:
            second.wait(30)
        except subprocess.TimeoutExpired:
            second.kill()

    records = bus.read_all(topics.RESULTS)
    results = [Outgoing(topics.RESULTS, r.key.decode() if r.key else "", decode(r.value)) for r in records]
    assert sorted({r.event["id"] for r in results}) == sorted(r.event["id"] for r in ref_results)
    assert len(results) >= len(ref_results)  # tasks done before the kill may be redone: same ids
    got, want = totals(results), totals(ref_results)
    assert got.keys() == want.keys()
    for area_id in want:
        assert got[area_id]["classes"].tolist() == want[area_id]["classes"].tolist(), area_id
        assert got[area_id]["canopy"] == want[area_id]["canopy"] and got[area_id]["valid"] == want[area_id]["valid"]
    assert not bus.read_all(topics.TASKS + ".dlq")
