"""`greenwatch status`: health from each service's /metrics port, group lag, ledger, compliance, DLQs."""

from __future__ import annotations

import re

from prometheus_client import start_http_server

from greenwatch.services import metrics
from greenwatch.services._status import gather, render
from greenwatch.services.app import App
from greenwatch.services.config import MetricsSettings
from greenwatch.services.ops import status
from greenwatch.services.stac import free_port


def _with_metrics(app: App, **ports: int) -> App:
    settings = app.settings.model_copy(update={"metrics": MetricsSettings(**ports)})
    return App(settings, app.bus, app.store, app.areas)


def test_a_serving_worker_is_up_and_the_others_are_not_reachable(finished: App) -> None:
    port, dead = free_port(), free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=metrics.REGISTRY)
    try:
        got = gather(_with_metrics(finished, work_port=port, merge_port=dead, trend_port=dead, watch_port=dead,
                                   api_port=dead, run_port=dead), timeout_s=2.0)
    finally:
        server.shutdown()
        thread.join(timeout=5)
    by = {s.service: s for s in got.services}
    assert by["worker"].up and by["worker"].endpoint == f"http://127.0.0.1:{port}/metrics"
    assert by["worker"].messages_in and by["worker"].messages_in > 0  # this process's registry: the run's messages
    assert not by["merger"].up and by["merger"].messages_in is None
    assert {by[s].group_lag for s in ("worker", "merger", "trend")} == {0}  # the run consumed everything
    assert by["watcher"].group_lag is None  # no consumer group
    assert got.ledger["complete"] == 6 and sum(got.ledger.values()) == 6
    assert got.compliance["net-loss"] >= 1
    assert set(got.dlq) >= {"scenes", "tasks", "results"} and not any(got.dlq.values())


def test_the_tables_say_it_at_a_glance(finished: App) -> None:
    dead = free_port()
    text = status(_with_metrics(finished, work_port=dead, merge_port=dead, trend_port=dead, watch_port=dead,
                                api_port=dead, run_port=dead))
    assert re.search(r"│ complete\s*│\s*6 │", text)
    assert re.search(r"^scene ledger \(6 scenes\)", text, re.MULTILINE)
    assert re.search(r"│ worker\s*│ http://127.0.0.1:\d+/metrics\s*│ not reachable\s*│\s*- │\s*- │\s*0 │", text)
    assert text.count("not reachable") == 6
    assert "tasks.dlq" in text and "net-loss" in text


def test_metrics_switched_off_are_said_to_be_off(finished: App) -> None:
    off = App(finished.settings.model_copy(update={"metrics": MetricsSettings(enabled=False)}),
              finished.bus, finished.store, finished.areas)
    text = render(gather(off))
    assert text.count("metrics off") == 6
