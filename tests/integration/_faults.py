"""What the fault tests share: the undisturbed reference run and the comparison with it, a broker of
their own that they may stop, an object store that stalls, poison messages, and the figures line."""

from __future__ import annotations

import functools
import json
import os
import random
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from uuid import uuid4

import numpy as np
import xarray as xr

from benchmarks._cluster import GROUPS
from greenwatch.schemas import SCENE_DISCOVERED, TILE_RESULT, TILE_TASK, encode, make_event, stable_id
from greenwatch.services import topics
from greenwatch.services.app import App, drain
from greenwatch.services.config import BusSettings, ClmsSettings, Settings, WorkSettings
from greenwatch.services.stac import free_port

from ..conftest import SMALL, settings_for

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = ROOT / "deploy" / "kafka" / "kafka.sh"
SESSION_TIMEOUT_S = 6.0  # the broker's group.min.session.timeout.ms: a dead member is noticed after this


@dataclass(frozen=True)
class Outcome:
    """What a run leaves behind that must not depend on faults: the time series (days with data), the
    final compliance states (without the evaluation time and the previous state, which follow the
    order observations arrived in) and the canopy-loss alerts (ids: area, series, year)."""

    series: xr.Dataset
    states: dict[str, dict[str, Any]]
    canopy_alerts: frozenset[str]
    contributions: int


def outcome(app: App) -> Outcome:
    series = _series(app.settings.data_dir / "series.zarr", min(SMALL.dates), max(SMALL.dates))
    states = {k: {f: v for f, v in d.items() if f not in ("evaluated_at", "previous_state")}
              for k, d in app.store.scan("states")}
    alerts = frozenset(k for k, d in app.store.scan("outbox") if d["alert_type"] == "canopy-loss")
    return Outcome(series, states, alerts, sum(1 for _ in app.store.scan("contributions")))


def _series(path: Path, first: date, last: date) -> xr.Dataset:
    """The areas and days with an observation within the scenario's years (loading the whole store, 343
    areas x 26 years of mostly empty chunks, takes 15 s; this reads the three years that can hold data)."""
    ds = xr.open_zarr(path, chunks=None)
    times = ds["time"].values
    window = ds.isel(time=np.nonzero((times >= np.datetime64(date(first.year, 1, 1)))
                                     & (times < np.datetime64(date(last.year + 1, 1, 1))))[0])
    n = window["n_products"].values
    series: xr.Dataset = window.isel(area=np.nonzero(n.sum(1) > 0)[0], time=np.nonzero(n.sum(0) > 0)[0]).load()
    return series


def assert_same(got: Outcome, want: Outcome) -> None:
    xr.testing.assert_identical(got.series, want.series)
    assert got.states.keys() == want.states.keys()
    for area, state in want.states.items():
        assert got.states[area] == state, area
    assert got.canopy_alerts == want.canopy_alerts
    assert got.contributions == want.contributions


def plain_settings(data_dir: Path, stac_url: str, **extra: Any) -> Settings:
    return settings_for(data_dir, stac_url, clms=ClmsSettings(enabled=False), **extra)


def kafka_settings(data_dir: Path, stac_url: str, bootstrap: str, prefix: str, **extra: Any) -> Settings:
    bus = BusSettings(kind="kafka", bootstrap=bootstrap, topic_prefix=prefix, partitions=4,
                      session_timeout_s=SESSION_TIMEOUT_S)
    return plain_settings(data_dir, stac_url, bus=bus, **extra)


def reference_run(data_dir: Path, stac_url: str) -> tuple[Outcome, int]:
    """The undisturbed run: the embedded bus, one process, worker -> merger -> trend until idle."""
    app = App.build(plain_settings(data_dir, stac_url))
    try:
        n = app.watcher().poll().published
        drain(app, [app.worker(), app.merger(), app.trend()])
        return outcome(app), n
    finally:
        app.close()


def settled(app: App, n_scenes: int) -> bool:
    """Every scene complete and every group's committed offsets at the end of its input topics, read
    upstream first (a group's commit follows the flush of its outputs, so nothing is in flight)."""
    try:
        if sum(1 for d in app.ledger.list() if d.get("state") == "complete") < n_scenes:
            return False
        return all(app.bus.group_lag(list(tps), group) == 0 for group, tps in GROUPS.values())
    except Exception:  # noqa: BLE001 - the broker may be down in the middle of a fault
        return False


def records_in(app: App, kind: str) -> int:
    """Records in the input topics of a process kind (a group that never committed starts at 0)."""
    return app.bus.group_lag(list(GROUPS[kind][1]), f"nobody-{uuid4().hex[:6]}")


def figures(name: str, **values: Any) -> None:
    """One line per fault run, for the issue's closing note (`pytest -s` or `-rP` shows it)."""
    print(f"\nFAULT {name}: " + json.dumps(values, sort_keys=True, default=str))


# -- poison ----------------------------------------------------------------------------------------
def poison(n: int, rng: random.Random) -> list[tuple[str, bytes]]:
    """`n` invalid messages over the four input topics: not JSON, JSON but no CloudEvent, a CloudEvent
    whose data fails its schema, and one of the wrong type for its topic's schema."""
    scene_like = make_event(SCENE_DISCOVERED, example("scene-discovered"), source="test")
    result = make_event(TILE_RESULT, example("tile-result"), source="test")
    task = example("tile-task")
    out = []
    for i in range(n):
        topic = (topics.SCENES, topics.TASKS, topics.RESULTS, topics.OBSERVATIONS)[i % 4]
        kind = rng.randrange(5 if topic == topics.TASKS else 4)
        if kind == 0:
            value = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        elif kind == 1:
            value = json.dumps({"poison": i, "hello": "world"}).encode()
        elif kind == 2:
            bad = json.loads(encode(result))
            bad["data"]["valid_count"] = -i - 1  # below the schema's minimum
            bad["id"] = f"poison-{i}"
            value = json.dumps(bad).encode()
        elif kind == 3:
            bad = json.loads(encode(scene_like))
            bad["type"], bad["id"] = TILE_RESULT.type, f"poison-{i}"  # a scene under a tile-result type
            value = json.dumps(bad).encode()
        else:  # a valid task the worker must refuse: made for another kernel, product on an ftp:// href
            data = {**task, "task_id": stable_id("poison", i), "scene_id": f"poison-{i}",
                    "product_href": "ftp://example.org/x.zarr"}
            value = encode(make_event(TILE_TASK, data, source="test", event_id=data["task_id"]))
        out.append((topic, value))
    return out


def example(name: str) -> dict[str, Any]:
    example = json.loads((ROOT / "schemas" / "examples" / f"{name}.v1.json").read_text())
    data: dict[str, Any] = example["data"]
    return data


# -- a broker of the test's own ----------------------------------------------------------------------
@dataclass
class Broker:
    port: int
    data: Path

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self, action: str, keep: bool) -> None:
        env = {**os.environ, "KAFKA_PORT": str(self.port), "KAFKA_DATA": str(self.data),
               "KAFKA_KEEP_DATA": "1" if keep else "0", "KAFKA_STOP_TIMEOUT": "20"}
        done = subprocess.run(["bash", str(KAFKA_SH), action], env=env, capture_output=True, text=True, timeout=120,
                              check=False)
        if done.returncode:
            raise AssertionError(f"kafka.sh {action} failed:\n{done.stdout}\n{done.stderr}")

    def start(self) -> None:
        self._run("start", keep=True)

    def stop(self, *, keep: bool) -> None:
        self._run("stop", keep=keep)


@contextmanager
def own_broker(tmp: Path) -> Iterator[Broker]:
    """A second single-node broker on free ports (client and controller), deleted afterwards."""
    for _ in range(20):
        port = free_port()
        if port < 65000 and _free(port + 1):
            break
    broker = Broker(port, tmp / "kafka")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop(keep=False)


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# -- an object store that stalls -------------------------------------------------------------------
@dataclass
class Stalls:
    """Which GET requests stall (the first `times` requests of each path that `matches`) and the log."""

    needle: str
    times: int = 1
    seconds: float = 60.0

    def __post_init__(self) -> None:
        self.seen: dict[str, int] = {}
        self.stalled: list[str] = []
        self.served = 0
        self.lock = threading.Lock()
        self.release = threading.Event()

    def should_stall(self, path: str) -> bool:
        with self.lock:
            if self.needle not in path:
                self.served += 1
                return False
            self.seen[path] = self.seen.get(path, 0) + 1
            stall = self.seen[path] <= self.times
            if stall:
                self.stalled.append(path)
            else:
                self.served += 1
            return stall


@contextmanager
def stalling_http(root: Path, stalls: Stalls) -> Iterator[str]:
    """Serve `root` over HTTP on 127.0.0.1; the requests `stalls` picks get no answer for
    `stalls.seconds` (then the connection closes). Yields the base URL."""

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def do_GET(self) -> None:
            if stalls.should_stall(self.path):
                stalls.release.wait(stalls.seconds)
                self.close_connection = True
                return
            super().do_GET()

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        stalls.release.set()
        server.shutdown()
        server.server_close()


def http_items(items: list[Path], products: Path, base_url: str, out: Path) -> list[Path]:
    """Copies of the STAC items whose product hrefs point at `base_url` instead of file://."""
    out.mkdir(parents=True, exist_ok=True)
    local = products.resolve().as_uri()
    written = []
    for item in items:
        text = item.read_text().replace(local, f"{base_url}/products")
        (out / item.name).write_text(text)
        written.append(out / item.name)
    return written


def http_work_settings(read_timeout_s: float) -> WorkSettings:
    return WorkSettings(allowed_href_schemes=["http"], allowed_href_hosts=["127.0.0.1"], read_timeout_s=read_timeout_s)
