"""`greenwatch status`: what an operator looks at first, gathered in one pass and drawn as tables.

* services: is each process's Prometheus endpoint answering on this host (the ports of `metrics.*`),
  what it has taken in and dead-lettered, and its consumer group's lag read from the bus (committed
  offsets, without joining the group, so asking never rebalances the running members);
* the scene ledger by state, the compliance states by state, the records waiting in each DLQ.

A process on another machine (a Kubernetes pod) is not reachable at 127.0.0.1: there the same
figures come from Prometheus (deploy/grafana); the lag and ledger rows hold wherever this runs.
"""

from __future__ import annotations

import io
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.table import Table

from greenwatch.services import topics
from greenwatch.services.app import App
from greenwatch.services.bus import Bus, dlq_topic
from greenwatch.services.ledger import STATES

# service -> (metrics port setting, consumer group, input topics); `run` is every service in one process
SERVICES: tuple[tuple[str, str, str | None, tuple[str, ...]], ...] = (
    ("watcher", "watch_port", None, ()),
    ("worker", "work_port", "worker", (topics.SCENES, topics.TASKS)),
    ("merger", "merge_port", "merger", (topics.RESULTS,)),
    ("trend", "trend_port", "trend", (topics.OBSERVATIONS,)),
    ("api", "api_port", None, ()),
    ("run (all in one)", "run_port", None, ()),
)


@dataclass(frozen=True)
class ServiceStatus:
    service: str
    endpoint: str | None  #: None: metrics disabled
    up: bool
    messages_in: int | None = None
    dead_lettered: int | None = None
    group_lag: int | None = None


@dataclass(frozen=True)
class Status:
    services: list[ServiceStatus]
    ledger: dict[str, int]
    compliance: dict[str, int]
    dlq: dict[str, int]
    errors: list[str] = field(default_factory=list)


def scrape(url: str, timeout_s: float) -> dict[str, float] | None:
    """Totals per metric name from a /metrics endpoint (labels summed); None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:  # noqa: S310 - a configured metrics URL
            text = resp.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, ValueError):
        return None
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = s.name if s.name != "greenwatch_messages_failed_total" else f"{s.name}:{s.labels.get('outcome')}"
            totals[key] = totals.get(key, 0.0) + s.value
    return totals


def records(bus: Bus, topic: str) -> int:
    """Records in a topic: the lag of a group that never committed (it would start at the beginning)."""
    return bus.group_lag([topic], "greenwatch-status-never-commits")


def gather(app: App, *, timeout_s: float = 1.0) -> Status:
    m = app.settings.metrics
    errors: list[str] = []
    rows = []
    for service, port_key, group, inputs in SERVICES:
        lag = None
        if group is not None:
            try:
                lag = app.bus.group_lag(list(inputs), group)
            except Exception as exc:  # noqa: BLE001 - a status page shows what it can
                errors.append(f"lag of {group}: {exc}")
        if not m.enabled:
            rows.append(ServiceStatus(service, None, False, group_lag=lag))
            continue
        url = f"http://{m.host}:{getattr(m, port_key)}/metrics"
        got = scrape(url, timeout_s)
        rows.append(ServiceStatus(
            service, url, got is not None,
            messages_in=None if got is None else int(got.get("greenwatch_messages_in_total", 0)),
            dead_lettered=None if got is None else int(got.get("greenwatch_messages_failed_total:dlq", 0)),
            group_lag=lag))
    ledger = dict.fromkeys(STATES, 0)
    for doc in app.ledger.list():
        ledger[doc.get("state", "?")] = ledger.get(doc.get("state", "?"), 0) + 1
    compliance: dict[str, int] = {}
    for _, d in app.store.scan("states"):
        compliance[d["state"]] = compliance.get(d["state"], 0) + 1
    dlq = {}
    for t in topics.ALL:
        try:
            dlq[t] = records(app.bus, dlq_topic(t))
        except Exception as exc:  # noqa: BLE001
            errors.append(f"DLQ {t}: {exc}")
    return Status(rows, ledger, dict(sorted(compliance.items())), dlq, errors)


def _n(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def render(status: Status, width: int = 120) -> str:
    services = Table(title="services", title_justify="left")
    for col in ("service", "metrics endpoint", "health", "messages in", "dead-lettered", "group lag"):
        services.add_column(col, justify="right" if col in ("messages in", "dead-lettered", "group lag") else "left",
                            overflow="fold")
    for s in status.services:
        health = "metrics off" if s.endpoint is None else ("up" if s.up else "not reachable")
        services.add_row(s.service, s.endpoint or "-", health, _n(s.messages_in), _n(s.dead_lettered), _n(s.group_lag))
    ledger = Table(title=f"scene ledger ({sum(status.ledger.values()):,} scenes)", title_justify="left")
    ledger.add_column("state")
    ledger.add_column("scenes", justify="right")
    for state, n in status.ledger.items():
        ledger.add_row(state, f"{n:,}")
    compliance = Table(title="compliance states", title_justify="left")
    compliance.add_column("state")
    compliance.add_column("areas", justify="right")
    for state, n in status.compliance.items() or {"none yet": 0}.items():
        compliance.add_row(state, f"{n:,}")
    dlq = Table(title="dead-letter queues", title_justify="left")
    dlq.add_column("topic")
    dlq.add_column("records", justify="right")
    for topic, n in status.dlq.items():
        dlq.add_row(dlq_topic(topic), f"{n:,}")
    console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    for table in (services, ledger, compliance, dlq):
        console.print(table)
    for e in status.errors:
        console.print(f"could not read: {e}")
    return console.export_text()
