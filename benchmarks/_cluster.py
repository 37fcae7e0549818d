"""A local multi-process deployment on one machine: real `greenwatch work|merge|trend` processes on a
Kafka broker, sharing one data directory (SQLite state store, Zarr time series), each with its own
Prometheus port. The fault tests (tests/integration/test_faults.py) kill and restart its processes;
the load benchmark (bench_load.py) runs it with 1, 2 and 4 workers.

What it counts: every process's `greenwatch_messages_in_total`, scraped from its /metrics port. A
process about to be killed is scraped first (`kill` does both back to back), so the count of a dead
incarnation is known to within the records it took in the microseconds between scrape and SIGKILL.
Handled minus the records in the input topics is the number of redeliveries.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from greenwatch.services import topics
from greenwatch.services.stac import free_port

GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {  # process kind -> (consumer group, input topics)
    "work": ("worker", (topics.SCENES, topics.TASKS)),
    "merge": ("merger", (topics.RESULTS,)),
    "trend": ("trend", (topics.OBSERVATIONS,)),
}


def wait_until(cond: Callable[[], bool], what: str, timeout_s: float, every_s: float = 0.2) -> float:
    """Seconds until `cond()` held; AssertionError naming `what` after `timeout_s`."""
    start = time.monotonic()
    while not cond():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(every_s)
    return time.monotonic() - start


def scrape(port: int, timeout_s: float = 2.0) -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
    """Every sample of a process's /metrics as {(name, sorted labels): value}; None if nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout_s) as resp:
            text = resp.read().decode()
    except (urllib.error.URLError, OSError):
        return None
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def messages_in(samples: Mapping[tuple[str, tuple[tuple[str, str], ...]], float] | None) -> int:
    if not samples:
        return 0
    return int(sum(v for (name, _), v in samples.items() if name == "greenwatch_messages_in_total"))


def _serving_or_dead(p: Proc) -> bool:
    return scrape(p.port) is not None or not p.alive()


@dataclass
class Proc:
    name: str
    kind: str
    port: int
    popen: subprocess.Popen[bytes]
    log: Path
    started: float = field(default_factory=time.monotonic)

    def alive(self) -> bool:
        return self.popen.poll() is None


@dataclass
class Deployment:
    """Processes of one deployment (topic prefix). `env` adds GREENWATCH_* settings for every process."""

    data_dir: Path
    bootstrap: str
    prefix: str
    partitions: int = 4
    env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, Proc] = field(default_factory=dict)
    handled_by_dead: dict[str, int] = field(default_factory=dict)  # kind -> messages in of killed processes
    events: list[dict[str, object]] = field(default_factory=list)  # kills and restarts, for the report

    def base_env(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith("GREENWATCH_")}
        return {
            **keep,
            "PYTHONUNBUFFERED": "1",
            "GREENWATCH_DATA_DIR": str(self.data_dir),
            "GREENWATCH_BUS__KIND": "kafka",
            "GREENWATCH_BUS__BOOTSTRAP": self.bootstrap,
            "GREENWATCH_BUS__TOPIC_PREFIX": self.prefix,
            "GREENWATCH_BUS__PARTITIONS": str(self.partitions),
            "GREENWATCH_CLMS__ENABLED": "false",
            **self.env,
        }

    def start(self, kind: str, name: str | None = None, extra_env: Mapping[str, str] | None = None) -> Proc:
        """Start `greenwatch <kind>` (work, merge, trend) as its own process."""
        name = name or kind
        port = free_port()
        env = {**self.base_env(), f"GREENWATCH_METRICS__{kind.upper()}_PORT": str(port),
               "GREENWATCH_METRICS__HOST": "127.0.0.1", **(extra_env or {})}
        logs = self.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        n = sum(1 for e in self.events if e.get("start") == name)
        log = logs / f"{name}.{n}.log"
        with log.open("wb") as fh:
            popen = subprocess.Popen([sys.executable, "-m", "greenwatch.services.cli", kind], env=env,
                                     stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        proc = Proc(name, kind, port, popen, log)
        self.procs[name] = proc
        self.events.append({"start": name, "at": time.monotonic()})
        return proc

    def wait_serving(self, timeout_s: float = 60.0) -> None:
        """Until every process answers on its metrics port (imports done, consumer created)."""
        for p in self.procs.values():
            wait_until(functools.partial(_serving_or_dead, p), f"{p.name} to serve metrics", timeout_s)
            if not p.alive():
                raise AssertionError(f"{p.name} exited with {p.popen.returncode}:\n{self.tail(p.name)}")

    def handled(self, kind: str) -> int:
        """Records taken in by every process of this kind so far, dead incarnations included."""
        live = sum(messages_in(scrape(p.port)) for p in self.procs.values() if p.kind == kind and p.alive())
        return live + self.handled_by_dead.get(kind, 0)

    def kill(self, name: str) -> int:
        """Scrape, then SIGKILL at once (a crash: no clean-up, no commit). Returns its messages in."""
        p = self.procs[name]
        count = messages_in(scrape(p.port))
        p.popen.send_signal(signal.SIGKILL)
        p.popen.wait(timeout=30)
        self.handled_by_dead[p.kind] = self.handled_by_dead.get(p.kind, 0) + count
        self.events.append({"kill": name, "at": time.monotonic(), "handled": count})
        return count

    def tail(self, name: str, n: int = 3000) -> str:
        return self.procs[name].log.read_text(errors="replace")[-n:]

    def check_alive(self) -> None:
        for p in self.procs.values():
            if not p.alive():
                raise AssertionError(f"{p.name} exited with {p.popen.returncode}:\n{self.tail(p.name)}")

    def stop(self, timeout_s: float = 20.0) -> None:
        """SIGTERM every process (they leave their groups), SIGKILL what is still there after `timeout_s`."""
        for p in self.procs.values():
            if p.alive():
                p.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for p in self.procs.values():
            try:
                p.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.popen.kill()
                p.popen.wait()
