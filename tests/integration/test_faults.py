"""Faults survived on the real Kafka broker. Every run ends with exactly what an undisturbed run leaves
(the same scenes on the embedded bus in one process): the time series, the compliance states, the
canopy-loss alerts and the stored tile contributions (so nothing was lost or counted twice).

* SIGKILL of a worker (mid-scene, a second worker in the group), of the merger and of the trend
  service, each at a random point and restarted: real `greenwatch work|merge|trend` processes;
* the broker stopped and restarted (a broker of the test's own, its data kept) while they run;
* every message delivered twice, in the middle of the run;
* a burst of poison messages in the middle of the run: all in the DLQs with their reasons, none lost;
* a stalled object-store read: products over HTTP from a server that holds some chunk requests; the
  worker's read timeout fails the read and the runtime retries the task instead of hanging;
* a rebalance in the middle of a batch: the member whose commit fails goes on, the batch comes again.

Each run prints a `FAULT <name>: {...}` line with its figures (messages processed, redeliveries, time
to recover); `pytest -s` shows them. GREENWATCH_FAULT_SEED repeats a run's random points.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from benchmarks._cluster import Deployment, messages_in, scrape, wait_until
from greenwatch.schemas import SCENE_DISCOVERED, Event, encode, make_event
from greenwatch.services import metrics, topics
from greenwatch.services.app import App, run_threads
from greenwatch.services.runtime import Outgoing, run_once
from greenwatch.services.stac import serve_stac

from ..conftest import Sample
from ._faults import (
    SESSION_TIMEOUT_S,
    Outcome,
    Stalls,
    assert_same,
    example,
    figures,
    http_items,
    http_work_settings,
    kafka_settings,
    outcome,
    own_broker,
    poison,
    records_in,
    reference_run,
    settled,
    stalling_http,
)
from .conftest import KAFKA_TEST_CONSUMER_OPTIONS, KafkaKit

pytestmark = [pytest.mark.kafka, pytest.mark.stac, pytest.mark.slow]

SETTLE_S = 180.0
ENV = {"GREENWATCH_BUS__SESSION_TIMEOUT_S": f"{SESSION_TIMEOUT_S:g}"}  # a dead member is noticed after 6 s


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, stac_url: str) -> tuple[Outcome, int]:
    return reference_run(tmp_path_factory.mktemp("reference"), stac_url)


@pytest.fixture
def rng() -> random.Random:
    seed = int(os.environ.get("GREENWATCH_FAULT_SEED", time.time_ns() % 1_000_000))
    print(f"\nGREENWATCH_FAULT_SEED={seed}")
    return random.Random(seed)


def _counts(kinds: tuple[str, ...], dep: Deployment, app: App) -> dict[str, dict[str, int]]:
    out = {}
    for kind in kinds:
        handled, records = dep.handled(kind), records_in(app, kind)
        out[kind] = {"handled": handled, "records": records, "redelivered": handled - records}
    return out


@dataclass
class Kill:
    process: str
    after_records: int  #: what the killed process had taken in
    at: float  #: monotonic time of the kill
    at_s: float  #: seconds after the scenes were published
    replacement_first_record_s: float | None = None  #: kill -> first record handled by the restarted process


def test_sigkill_of_a_worker_the_merger_and_the_trend_service_at_random_points(
    reference: tuple[Outcome, int], kafka_kit: KafkaKit, stac_url: str, tmp_path: Path, rng: random.Random
) -> None:
    want, n_scenes = reference
    bootstrap, prefix = kafka_kit.bootstrap, kafka_kit.prefix
    app = App.build(kafka_settings(tmp_path, stac_url, bootstrap, prefix))
    dep = Deployment(tmp_path, bootstrap, prefix, env=ENV)
    try:
        for kind, name in (("work", "work-1"), ("work", "work-2"), ("merge", "merge"), ("trend", "trend")):
            dep.start(kind, name)
        dep.wait_serving()
        start = time.monotonic()
        assert app.watcher().poll().published == n_scenes
        plan = {"work": rng.randint(3, 15), "merge": rng.randint(20, 150), "trend": rng.randint(5, 50)}
        kills: dict[str, Kill] = {}

        def step() -> bool:
            dep.check_alive()
            now = time.monotonic()
            for kind, after in plan.items():
                kill = kills.get(kind)
                if kill is not None:
                    if kill.replacement_first_record_s is None and messages_in(scrape(dep.procs[kill.process].port)):
                        kill.replacement_first_record_s = round(now - kill.at, 1)
                    continue
                victims = [p for p in dep.procs.values() if p.kind == kind and messages_in(scrape(p.port)) >= after]
                if victims:
                    victim = victims[0].name
                    handled = dep.kill(victim)
                    dep.start(kind, victim)  # the orchestrator restarts it at once
                    kills[kind] = Kill(victim, handled, time.monotonic(), round(now - start, 1))
            return len(kills) == len(plan) and (
                all(k.replacement_first_record_s is not None for k in kills.values()) or settled(app, n_scenes))

        wait_until(step, f"the kills {plan}", 120, every_s=0.05)
        wait_until(lambda: settled(app, n_scenes), "the pipeline to settle after the kills", SETTLE_S, every_s=0.5)
        took = time.monotonic() - start
        got = outcome(app)
        counts = _counts(("work", "merge", "trend"), dep, app)
    finally:
        dep.stop()
        app.close()
    shown = {kind: {f: v for f, v in asdict(k).items() if f != "at"} for kind, k in kills.items()}
    figures("sigkill", plan=plan, kills=shown, messages=counts, total_s=round(took, 1))
    assert_same(got, want)
    assert all(k.after_records >= plan[kind] for kind, k in kills.items())


def test_broker_stopped_and_restarted_during_processing(
    reference: tuple[Outcome, int], stac_url: str, tmp_path: Path, rng: random.Random
) -> None:
    want, n_scenes = reference
    with own_broker(tmp_path) as broker:
        app = App.build(kafka_settings(tmp_path / "run", stac_url, broker.bootstrap, "gw."))
        dep = Deployment(tmp_path / "run", broker.bootstrap, "gw.", env=ENV)
        try:
            for kind in ("work", "merge", "trend"):
                dep.start(kind)
            dep.wait_serving()
            start = time.monotonic()
            assert app.watcher().poll().published == n_scenes
            after, down_s = rng.randint(20, 120), rng.uniform(2.0, 6.0)
            wait_until(lambda: dep.handled("merge") >= after, f"{after} results merged", 120, every_s=0.05)
            handled_at_stop = sum(dep.handled(k) for k in ("work", "merge", "trend"))
            stopping = time.monotonic()
            broker.stop(keep=True)
            stopped = time.monotonic()
            time.sleep(down_s)
            broker.start()
            up = time.monotonic()
            before = sum(dep.handled(k) for k in ("work", "merge", "trend"))
            resumed_s = wait_until(lambda: sum(dep.handled(k) for k in ("work", "merge", "trend")) > before
                                   or settled(app, n_scenes), "a record handled after the restart", 120, every_s=0.1)
            wait_until(lambda: settled(app, n_scenes), "the pipeline to settle after the restart", SETTLE_S, 0.5)
            took = time.monotonic() - start
            dep.check_alive()  # the processes rode the outage out: none exited
            got = outcome(app)
            counts = _counts(("work", "merge", "trend"), dep, app)
        finally:
            dep.stop()
            app.close()
    figures("broker-restart", stop_after_results=after, handled_at_stop=handled_at_stop,
            stop_s=round(stopped - stopping, 1), down_s=round(up - stopped, 1),
            first_record_after_restart_s=round(resumed_s, 1), messages=counts, total_s=round(took, 1))
    assert_same(got, want)


def _in(service: str) -> int:
    return int(sum(metrics.REGISTRY.get_sample_value("greenwatch_messages_in_total", {"service": service, "topic": t})
                   or 0 for t in topics.ALL))


def _failed(service: str, outcome_: str) -> int:
    return int(sum(metrics.REGISTRY.get_sample_value("greenwatch_messages_failed_total",
                                                      {"service": service, "topic": t, "outcome": outcome_})
                   or 0 for t in topics.ALL))


@pytest.fixture
def running() -> Iterator[list[tuple[App, threading.Event, list[threading.Thread]]]]:
    """Apps whose services run in threads (`greenwatch run`), stopped and closed afterwards."""
    started: list[tuple[App, threading.Event, list[threading.Thread]]] = []
    yield started
    for app, stop, threads in started:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        app.close()


def _run(app: App, running: list[tuple[App, threading.Event, list[threading.Thread]]]) -> None:
    stop = threading.Event()
    running.append((app, stop, run_threads(app, [app.worker(), app.merger(), app.trend()], stop)))


def test_every_message_delivered_twice_in_the_middle_of_the_run(
    reference: tuple[Outcome, int], kafka_kit: KafkaKit, stac_url: str, tmp_path: Path,
    running: list[tuple[App, threading.Event, list[threading.Thread]]],
) -> None:
    want, n_scenes = reference
    app = App.build(kafka_settings(tmp_path, stac_url, kafka_kit.bootstrap, kafka_kit.prefix))
    before = {s: _in(s) for s in ("worker", "merger", "trend")}
    _run(app, running)
    start = time.monotonic()
    assert app.watcher().poll().published == n_scenes
    wait_until(lambda: _in("merger") - before["merger"] >= want.contributions // 2, "half the results merged", 120)
    snapshot = {t: app.bus.read_all(t) for t in (topics.SCENES, topics.TASKS, topics.RESULTS, topics.OBSERVATIONS)}
    for topic, records in snapshot.items():
        for r in records:
            app.bus.send(topic, r.value, key=r.key, headers=r.headers)
    app.bus.flush()
    copied = {t: len(records) for t, records in snapshot.items()}
    wait_until(lambda: settled(app, n_scenes), "the pipeline to settle", SETTLE_S, every_s=0.5)
    alerts = [r.value for r in app.bus.read_all(topics.ALERTS)]
    handled = {s: _in(s) - v for s, v in before.items()}
    figures("duplicates", copied=copied, handled=handled, alerts_sent=len(alerts),
            total_s=round(time.monotonic() - start, 1))
    assert_same(outcome(app), want)
    assert len(alerts) == len(set(alerts))  # no alert raised twice
    assert all(copied.values())


def test_a_burst_of_poison_messages_goes_to_the_dlqs_and_the_rest_is_processed(
    reference: tuple[Outcome, int], kafka_kit: KafkaKit, stac_url: str, tmp_path: Path, rng: random.Random,
    running: list[tuple[App, threading.Event, list[threading.Thread]]],
) -> None:
    want, n_scenes = reference
    app = App.build(kafka_settings(tmp_path, stac_url, kafka_kit.bootstrap, kafka_kit.prefix))
    before = {s: _in(s) for s in ("worker", "merger", "trend")}
    _run(app, running)
    start = time.monotonic()
    assert app.watcher().poll().published == n_scenes
    wait_until(lambda: _in("merger") - before["merger"] >= want.contributions // 3, "a third of the results", 120)
    bad = poison(400, rng)
    for topic, value in bad:
        app.bus.send(topic, value, key=b"poison")
    app.bus.flush()
    injected = time.monotonic()
    wait_until(lambda: settled(app, n_scenes), "the pipeline to settle", SETTLE_S, every_s=0.5)
    dead = {t: app.bus.read_all(t + ".dlq") for t in (topics.SCENES, topics.TASKS, topics.RESULTS, topics.OBSERVATIONS)}
    figures("poison", injected=len(bad), dead_lettered={t: len(v) for t, v in dead.items()},
            handled={s: _in(s) - v for s, v in before.items()}, settled_after_injection_s=round(
                time.monotonic() - injected, 1), total_s=round(time.monotonic() - start, 1))
    for topic, records in dead.items():
        assert sorted(r.value for r in records) == sorted(v for t, v in bad if t == topic), topic  # none lost
        assert all(r.header("gw-error") for r in records)
    assert_same(outcome(app), want)


def test_a_stalled_object_store_read_times_out_and_the_task_is_retried(
    reference: tuple[Outcome, int], kafka_kit: KafkaKit, sample: Sample, tmp_path: Path,
    running: list[tuple[App, threading.Event, list[threading.Thread]]],
) -> None:
    """The centre b04 chunk of every product stalls on its first request (for longer than the test
    waits); a 2 s read timeout turns each stall into one retry of its task."""
    want, n_scenes = reference
    stalls = Stalls(needle="/measurements/reflectance/r10m/b04/c/1/1", times=1, seconds=SETTLE_S)
    with stalling_http(sample.root, stalls) as base:
        items = http_items(sample.items, sample.root / "products", base, tmp_path / "items")
        with serve_stac([sample.collection, *items]) as url:
            settings = kafka_settings(tmp_path / "run", url, kafka_kit.bootstrap, kafka_kit.prefix,
                                      work=http_work_settings(read_timeout_s=2.0))
            app = App.build(settings)
            retries, handled = _failed("worker", "retry"), _in("worker")
            _run(app, running)
            assert app.watcher().poll().published == n_scenes
            took = wait_until(lambda: settled(app, n_scenes), "the pipeline to settle", SETTLE_S - 30, every_s=0.5)
            got = outcome(app)
            dead = len(app.bus.read_all(topics.TASKS + ".dlq"))
    retried = _failed("worker", "retry") - retries
    figures("stalled-read", stalled_requests=len(stalls.stalled), requests_served=stalls.served,
            task_retries=retried, worker_handled=_in("worker") - handled, tasks_dead_lettered=dead,
            total_s=round(took, 1))
    assert len(stalls.stalled) == n_scenes  # each product's stalled chunk was asked for, and stalled
    assert retried >= n_scenes and dead == 0
    assert_same(got, want)


class _Recorder:
    """Records the scene ids it handles; the first call runs `first` (to make something happen mid-batch)."""

    name = "recorder"
    topics = ("rebalance",)

    def __init__(self, first: Callable[[], None] | None = None) -> None:
        self.seen: list[str] = []
        self._first = first

    def handle(self, event: Event) -> list[Outgoing]:
        if self._first is not None:
            first, self._first = self._first, None
            first()
        self.seen.append(event["data"]["scene_id"])
        return []


def test_a_rebalance_in_the_middle_of_a_batch_loses_nothing_and_the_member_goes_on(
    kafka_kit: KafkaKit, caplog: pytest.LogCaptureFixture
) -> None:
    """A second member joins while the first is handling a batch that outlasts the group's patience
    (max.poll.interval.ms, 3 s here): the group hands the partitions to the second member, the first
    one's commit fails, and instead of dying it polls again (rejoining the group); the uncommitted
    batch is delivered again, nothing is lost."""
    bus = kafka_kit.bus(consumer_options={**KAFKA_TEST_CONSUMER_OPTIONS, "max_poll_interval_ms": 3000})
    bus.ensure_topics(["rebalance"], partitions=2)
    ids = [f"scene-{i:02d}" for i in range(20)]
    for sid in ids:
        ev = make_event(SCENE_DISCOVERED, {**example("scene-discovered"), "scene_id": sid}, source="test")
        bus.send("rebalance", encode(ev), key=sid.encode())
    bus.flush()
    stop_b = threading.Event()
    b = _Recorder()

    def member_b() -> None:
        consumer = kafka_kit.consumer(bus, ["rebalance"])
        while not stop_b.is_set():
            run_once(bus, consumer, b, timeout_s=0.2)

    def second_member_joins() -> None:
        threading.Thread(target=member_b, daemon=True).start()
        time.sleep(4.5)  # B joins; A, busy past max.poll.interval.ms, leaves the group

    a = _Recorder(first=second_member_joins)
    consumer_a = kafka_kit.consumer(bus, ["rebalance"])
    caplog.set_level(logging.WARNING, logger="greenwatch.services.runtime")
    first_batch = 0
    while not first_batch:
        first_batch = run_once(bus, consumer_a, a, timeout_s=0.5)  # raised CommitFailed before the fix
    wait_until(lambda: run_once(bus, consumer_a, a, timeout_s=0.2) >= 0
               and bus.group_lag(["rebalance"], kafka_kit.group) == 0, "every record committed", 60)
    stop_b.set()
    failed = [r for r in caplog.records if "commit failed" in r.getMessage()]
    figures("rebalance-mid-batch", first_batch=first_batch, handled_by_a=len(a.seen), handled_by_b=len(b.seen),
            redelivered=len(a.seen) + len(b.seen) - len(ids), commit_failures=len(failed))
    assert failed  # the rebalance did hit the batch
    assert set(a.seen) | set(b.seen) == set(ids)  # nothing lost
    assert len(a.seen) + len(b.seen) >= len(ids) + first_batch  # the uncommitted batch came again
