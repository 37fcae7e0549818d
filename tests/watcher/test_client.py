"""The STAC client's retry policy: what is retried, how long it waits, when it gives up."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from greenwatch.services import metrics
from greenwatch.services.stac import Fault, every, fault_proxy
from greenwatch.services.watcher import RetryPolicy, StacClient, StacRequestRejected, StacUnavailable
from greenwatch.services.watcher._client import retry_after_s

from .conftest import COLLECTION, catalogue, series

pytestmark = pytest.mark.stac

BODY = {"collections": [COLLECTION], "limit": 50}


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    policy = RetryPolicy(base_s=1.0, cap_s=8.0)
    rng = random.Random(1)
    for attempt, step in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (9, 8.0)]:
        waits = [policy.backoff(attempt, rng) for _ in range(200)]
        assert step / 2 <= min(waits) and max(waits) <= step
        assert max(waits) - min(waits) > step / 4  # jittered, not one fixed value


def test_retry_after_in_seconds_or_as_an_http_date() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert retry_after_s("7", now) == 7.0
    assert retry_after_s(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert retry_after_s(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0.0
    assert retry_after_s("soon", now) is None and retry_after_s(None, now) is None


def test_client_errors_are_not_retried(template: dict, tmp_path: Path) -> None:
    with catalogue(tmp_path, series(template, 3)) as url, fault_proxy(url, every({1: Fault(status=400)})) as proxy:
        client = StacClient(RetryPolicy(base_s=0.01))
        with pytest.raises(StacRequestRejected, match="HTTP 400"):
            list(client.search_pages(proxy.url, BODY))
    assert len(proxy.log) == 1


def test_gives_up_after_max_attempts_and_says_why(template: dict, tmp_path: Path) -> None:
    sleeps: list[float] = []
    before = metrics.STAC_REQUESTS.labels("retry_5xx")._value.get()
    with catalogue(tmp_path, series(template, 3)) as url, \
            fault_proxy(url, lambda *_: Fault(status=503)) as proxy:
        client = StacClient(RetryPolicy(max_attempts=4, base_s=0.01, cap_s=1.0), sleep=sleeps.append)
        with pytest.raises(StacUnavailable, match="HTTP 503; gave up after 4 attempts"):
            list(client.search_pages(proxy.url, BODY))
    assert len(proxy.log) == 4 and len(sleeps) == 3 and client.stats.by_reason == {"5xx": 3}
    assert sleeps[0] <= 0.01 <= sleeps[1] * 2 and sleeps[2] >= 0.02  # exponential
    assert metrics.STAC_REQUESTS.labels("retry_5xx")._value.get() - before == 3


def test_429_waits_as_asked_but_not_beyond_the_cap(template: dict, tmp_path: Path) -> None:
    sleeps: list[float] = []
    plan = every({1: Fault(status=429, retry_after="2"), 2: Fault(status=429, retry_after="3600"),
                  3: Fault(status=429)})
    with catalogue(tmp_path, series(template, 3)) as url, fault_proxy(url, plan) as proxy:
        client = StacClient(RetryPolicy(base_s=0.01, max_retry_after_s=60.0), sleep=sleeps.append)
        pages = list(client.search_pages(proxy.url, BODY))
    assert len(pages[0]["features"]) == 3
    assert sleeps[:2] == [2.0, 60.0] and 0.02 <= sleeps[2] <= 0.04  # no Retry-After: the backoff of try 3
    assert client.stats.by_reason == {"429": 3}


def test_a_stalled_answer_times_out_and_is_retried(template: dict, tmp_path: Path) -> None:
    plan = every({1: Fault("stall", seconds=2.0)})
    with catalogue(tmp_path, series(template, 3)) as url, fault_proxy(url, plan) as proxy:
        client = StacClient(RetryPolicy(base_s=0.01, timeout_s=0.3))
        pages = list(client.search_pages(proxy.url, BODY))
    assert len(pages[0]["features"]) == 3 and client.stats.by_reason == {"timeout": 1}

