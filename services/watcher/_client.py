"""A small STAC item-search client: POST /search, follow `next` links, retry what may pass.

Why not pystac-client's paging: one retry policy has to cover every request of a long backfill,
including a POST page request in the middle of pagination after a stall, and the watcher has to know
how many requests were retried and why. pystac-client retries nothing by itself; bolting urllib3's
`Retry` onto its session does not retry POST by default and hides the counts. So this module does
the little that item search needs, and no more:

* `POST {api}/search` with a JSON body (every API we target takes it, pgstac-backed CDSE and EOPF
  included; a GeoJSON `intersects` does not fit a query string);
* `next` links: GET (query in the href) or POST with a `body` (tokens such as `next` or `skip`),
  merged into the previous body when the link says `"merge": true` (STAC API item-search spec);
* retries with exponential backoff and jitter on HTTP 5xx, 408, timeouts (a stalled server) and
  connection errors; HTTP 429 waits as long as `Retry-After` says (capped); other 4xx fail at once,
  because our request is wrong and repeating it cannot help.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from greenwatch.services import metrics
from greenwatch.services.errors import PermanentError, TransientError

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 500, 502, 503, 504})


class StacUnavailable(TransientError):
    """The STAC API did not answer usefully within the retry budget; poll again later."""


class StacRequestRejected(PermanentError):
    """The STAC API refused the request itself (4xx other than 408/429) or answered nonsense."""


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6  # per request, the first try included
    base_s: float = 1.0  # first backoff; doubles each retry
    cap_s: float = 60.0  # longest backoff
    max_retry_after_s: float = 600.0  # longest wait a 429 may ask for
    timeout_s: float = 60.0  # connect/read timeout: a stalled answer counts as a failure
    max_pages: int = 100_000  # a server whose `next` links never end is a bug, not a catalogue

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Equal jitter: half of the exponential step fixed, half random, so retrying clients spread
        out but none retries at once."""
        step = min(self.cap_s, self.base_s * 2.0 ** (attempt - 1))
        return step / 2 + rng.uniform(0, step / 2)


def retry_after_s(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP-date; None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass
class RequestStats:
    requests: int = 0
    retries: int = 0
    by_reason: dict[str, int] | None = None

    def count(self, reason: str) -> None:
        self.retries += 1
        self.by_reason = self.by_reason or {}
        self.by_reason[reason] = self.by_reason.get(reason, 0) + 1


class StacClient:
    """Item search against one or more STAC APIs with one retry policy. `sleep` and `rng` are
    injectable so that tests can check the waits without waiting."""

    def __init__(self, policy: RetryPolicy | None = None, *, sleep: Callable[[float], None] = time.sleep,
                 rng: random.Random | None = None, transport: httpx.BaseTransport | None = None) -> None:
        self.policy = policy or RetryPolicy()
        self.sleep = sleep
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self.stats = RequestStats()
        self._http = httpx.Client(timeout=self.policy.timeout_s, transport=transport,
                                  headers={"Accept": "application/geo+json, application/json",
                                           "User-Agent": "greenwatch-watcher"})

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, url: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One JSON request with retries; the decoded JSON object."""
        p = self.policy
        for attempt in range(1, p.max_attempts + 1):
            self.stats.requests += 1
            wait: float | None = None
            try:
                resp = self._http.request(method, url, json=body if method == "POST" else None)
            except httpx.TimeoutException as exc:
                reason, detail = "timeout", f"{type(exc).__name__} after {p.timeout_s} s"
            except httpx.TransportError as exc:
                reason, detail = "connection", f"{type(exc).__name__}: {exc}"
            else:
                doc = _json_object(resp) if resp.status_code == 200 else None
                if isinstance(doc, dict):
                    metrics.STAC_REQUESTS.labels("ok").inc()
                    return doc
                if resp.status_code == 200:  # a cut or garbled body: a proxy or the server failed mid-answer
                    reason, detail = "bad_json", f"HTTP 200 but not a JSON object: {resp.text[:120]!r}"
                elif resp.status_code == 429:
                    reason, detail = "429", "429 Too Many Requests"
                    asked = retry_after_s(resp.headers.get("Retry-After"))
                    if asked is not None:
                        wait = min(asked, p.max_retry_after_s)
                        detail += f" (Retry-After {resp.headers.get('Retry-After')})"
                elif resp.status_code in RETRY_STATUS:
                    reason, detail = "5xx" if resp.status_code >= 500 else "408", f"HTTP {resp.status_code}"
                else:
                    metrics.STAC_REQUESTS.labels("rejected").inc()
                    raise StacRequestRejected(f"{method} {url}: HTTP {resp.status_code}: {resp.text[:300]}")
            if attempt == p.max_attempts:
                metrics.STAC_REQUESTS.labels("failed").inc()
                raise StacUnavailable(f"{method} {url}: {detail}; gave up after {attempt} attempts")
            self.stats.count(reason)
            metrics.STAC_REQUESTS.labels(f"retry_{reason}").inc()
            delay = wait if wait is not None else p.backoff(attempt, self.rng)
            log.info("watcher: %s %s: %s; retry %d in %.2f s", method, url, detail, attempt, delay)
            self.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def search_pages(self, api_url: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every page of an item search, following `next` links until there is none."""
        method, url, current = "POST", api_url.rstrip("/") + "/search", dict(body)
        seen: set[str] = set()
        for _ in range(self.policy.max_pages):
            page = self.request(method, url, current if method == "POST" else None)
            yield page
            nxt = next((link for link in page.get("links") or [] if link.get("rel") == "next"), None)
            if nxt is None or not page.get("features"):
                return
            method = str(nxt.get("method") or "GET").upper()
            url = str(nxt["href"])
            if method == "POST":
                link_body = nxt.get("body") or {}
                current = {**current, **link_body} if nxt.get("merge") else dict(link_body)
            marker = json.dumps([method, url, current if method == "POST" else None], sort_keys=True)
            if marker in seen:
                raise StacRequestRejected(f"pagination loop: the server sent the same `next` link twice ({url})")
            seen.add(marker)
        raise StacRequestRejected(f"more than {self.policy.max_pages} pages from {api_url}")


def _json_object(resp: httpx.Response) -> dict[str, Any] | None:
    try:
        doc = resp.json()
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None
