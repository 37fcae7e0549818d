"""Fault injection: a proxy on 127.0.0.1 in front of a real STAC API answers 500/502/503, 429 with
Retry-After, stalls, drops connections and cuts bodies. Nothing may be lost or published twice, and a
backfill stopped in the middle resumes where it stopped."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path

import pytest

from greenwatch.services.stac import Fault, every, fault_proxy
from greenwatch.services.watcher import RetryPolicy
from greenwatch.services.watcher._watch import BACKFILL

from .conftest import T0, Rig, catalogue, series

pytestmark = pytest.mark.stac

FAST = RetryPolicy(max_attempts=5, base_s=0.01, cap_s=0.05, timeout_s=0.4)


def _summary(name: str, **numbers: object) -> None:
    """Printed for the CI log (and the issue's closing note): `pytest -s -k fault`."""
    print(f"\n{name}: " + json.dumps(numbers, sort_keys=True))


def test_scripted_faults_lose_nothing_and_duplicate_nothing(rig: Rig, template: dict, tmp_path: Path) -> None:
    items = series(template, 60, every=timedelta(days=2))
    plan = {2: Fault(status=500), 3: Fault(status=503), 5: Fault(status=429, retry_after="1"),
            7: Fault("stall", seconds=1.5), 9: Fault("drop"), 11: Fault("truncate"), 13: Fault(status=502),
            14: Fault(status=429, retry_after="0"), 16: Fault("stall", seconds=1.5)}
    sleeps: list[float] = []
    with catalogue(tmp_path, items) as url, fault_proxy(url, every(plan)) as proxy:
        w = rig.watcher(proxy.url, page_size=5, policy=FAST)
        w.client.sleep = sleeps.append  # record the waits instead of waiting (the stalls are real)
        report = w.poll()
    ids = rig.discovered_ids()
    _summary("scripted faults", items=len(items), requests=len(proxy.log), faults=len(proxy.faults()),
             retries=report.retries, published=report.published, unique_published=len(set(ids)),
             lost=len({i["id"] for i in items} - set(ids)), duplicated=len(ids) - len(set(ids)))
    assert report.ok and report.published == 60
    assert sorted(ids) == sorted(i["id"] for i in items)  # none lost, none twice
    assert len(proxy.faults()) == len(plan) == report.retries
    assert len(proxy.log) == 12 + len(plan)  # 12 pages of 5, each fault cost exactly one extra request
    assert 1.0 in sleeps and 0.0 in sleeps  # Retry-After honoured as given
    backoffs = [s for s in sleeps if s not in (0.0, 1.0)]
    assert len(backoffs) == len(plan) - 2 and all(0.005 <= s <= 0.05 for s in backoffs)


def test_random_faults_over_a_sliced_backfill(rig: Rig, template: dict, tmp_path: Path) -> None:
    """Every request fails with probability 0.3 (seeded): 500, 503, 429, drops, truncations."""
    items = series(template, 90, every=timedelta(days=1))
    rng = random.Random(20240101)  # a reproducible fault pattern
    kinds = [Fault(status=500), Fault(status=503), Fault(status=429, retry_after="0"), Fault("drop"),
             Fault("truncate")]
    with catalogue(tmp_path, items) as url, \
            fault_proxy(url, lambda *_: rng.choice(kinds) if rng.random() < 0.3 else None) as proxy:
        w = rig.watcher(proxy.url, page_size=4, policy=RetryPolicy(max_attempts=8, base_s=0.001, cap_s=0.004))
        report = w.backfill("2024-01-01", "2024-03-31")
    ids = rig.discovered_ids()
    _summary("random faults, backfill", items=len(items), requests=len(proxy.log), faults=len(proxy.faults()),
             retries=report.retries, slices=report.slices, published=report.published,
             lost=len({i["id"] for i in items} - set(ids)), duplicated=len(ids) - len(set(ids)))
    assert report.ok and report.slices == 13 and len(proxy.faults()) >= 10
    assert sorted(ids) == sorted(i["id"] for i in items)


def test_a_backfill_stopped_midway_resumes_where_it_stopped(rig: Rig, template: dict, tmp_path: Path) -> None:
    items = series(template, 40, every=timedelta(days=3))  # 2024-01-01 .. 2024-04-27
    outage_from = 6  # from the 6th request on the API is down (longer than the retry budget)
    down = True
    with catalogue(tmp_path, items) as url, \
            fault_proxy(url, lambda n, *_: Fault(status=503) if down and n >= outage_from else None) as proxy:
        first = rig.watcher(proxy.url, page_size=3, slice_days=14).backfill("2024-01-01", "2024-04-30")
        assert not first.ok and first.published > 0
        progress = rig.store.get(BACKFILL, f"{proxy.url}|sentinel-2-l2a-zarr3|2024-01-01..2024-04-30")
        assert progress is not None and not progress["finished"]
        published_before = len(rig.discovered_ids())
        n_before = len(proxy.log)
        down = False
        resumed = rig.watcher(proxy.url, page_size=3, slice_days=14).backfill("2024-01-01", "2024-04-30")
        first_resumed = proxy.log[n_before]
        finished_again = rig.watcher(proxy.url, page_size=3, slice_days=14).backfill("2024-01-01", "2024-04-30")
        restarted = rig.watcher(proxy.url, page_size=50).backfill("2024-01-01", "2024-04-30", restart=True)
    ids = rig.discovered_ids()
    _summary("backfill restart", items=len(items), published_before_stop=published_before,
             stopped_at=progress["next"], published_after_resume=resumed.published, total=len(ids),
             unique=len(set(ids)), deduplicated_on_resume=resumed.deduplicated)
    # it started again at the first day whose slice had not completed, not at the beginning
    assert first_resumed.body is not None and first_resumed.body["datetime"].startswith(progress["next"])
    assert progress["next"] > "2024-01-01"
    assert resumed.ok and published_before + resumed.published == 40
    assert sorted(ids) == sorted(i["id"] for i in items)
    assert finished_again.seen == 0 and finished_again.requests == 0
    assert (restarted.published, restarted.deduplicated) == (0, 40)


def test_items_appear_between_slices_and_nothing_is_missed(rig: Rig, template: dict, tmp_path: Path) -> None:
    """Slices are closed intervals sharing their boundary day; an item at midnight is seen twice and
    published once."""
    at_midnight = series(template, 6, start=T0.replace(hour=0, minute=0, second=0), every=timedelta(days=7))
    with catalogue(tmp_path, at_midnight) as url:
        report = rig.watcher(url, slice_days=7).backfill("2024-01-01", "2024-02-11")
    assert report.published == 6 and report.deduplicated >= 4
