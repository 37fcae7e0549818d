"""Webhook delivery of alerts: a consumer of the `alerts` topic (consumer group `webhook`) that POSTs
each alert, as its CloudEvent in structured mode, to one configured URL, signed with HMAC-SHA256.

Signature (what a receiver checks; see `signature`):

    X-Greenwatch-Timestamp: <unix seconds>
    X-Greenwatch-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>

The timestamp is inside the MAC so that a captured request cannot be replayed later; receivers
should reject old timestamps (a few minutes) and compare signatures in constant time. The body is
sent byte for byte as signed. `X-Greenwatch-Delivery` carries the alert id: alerts are deduplicated
here (an alert delivered once is never delivered again, whatever the topic redelivers), and a
receiver can drop the rare duplicate (a crash after the POST, before the delivery was recorded) by id.

Retries: network errors, timeouts, 408, 425, 429 and 5xx are retried up to `max_attempts` with
exponential backoff (`backoff_s` doubled each time, at most `max_backoff_s`; a numeric Retry-After is
honoured up to the same cap). Any other 4xx means the receiver will never accept it. Either way, a
delivery that does not succeed is dead-lettered to `alerts.dlq` with the reason (the runtime's DLQ,
nothing lost) and the consumer goes on. Every attempt is written to the delivery log (table
`webhook_log`, key `<alert id>/<time>/<attempt>`), every success to `webhook_delivered`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from greenwatch.schemas import ALERT, Event, encode
from greenwatch.services import topics
from greenwatch.services.errors import PermanentError
from greenwatch.services.runtime import Outgoing
from greenwatch.services.store import Doc, Store

log = logging.getLogger(__name__)

LOG, DELIVERED = "webhook_log", "webhook_delivered"
SIGNATURE_HEADER = "X-Greenwatch-Signature"
TIMESTAMP_HEADER = "X-Greenwatch-Timestamp"
DELIVERY_HEADER = "X-Greenwatch-Delivery"
RETRY_STATUS = frozenset({408, 425, 429})


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """The value of X-Greenwatch-Signature for `body` sent at `timestamp`."""
    return "sha256=" + hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class WebhookService:
    name = "webhook"
    topics = (topics.ALERTS,)

    def __init__(self, *, store: Store, url: str, secret: str, max_attempts: int = 5, backoff_s: float = 0.5,
                 max_backoff_s: float = 30.0, timeout_s: float = 10.0, client: httpx.Client | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.url = url
        self._secret = secret.encode("utf-8")
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.timeout_s = timeout_s
        self._client = client or httpx.Client(follow_redirects=False)
        self._sleep = sleep
        self._clock = clock

    def handle(self, event: Event) -> list[Outgoing]:
        if event["type"] != ALERT.type:
            return []
        alert_id = event["data"]["alert_id"]
        if self.store.get(DELIVERED, alert_id) is not None:
            return []  # delivered before: never twice
        body = encode(event)
        last = ""
        for attempt in range(1, self.max_attempts + 1):
            status, error, retry_after = self._post(alert_id, body, attempt)
            if status is not None and 200 <= status < 300:
                self.store.put(DELIVERED, alert_id, {"alert_id": alert_id, "url": self.url, "status": status,
                                                     "attempts": attempt, "delivered_at": _now()})
                return []
            last = error
            if status is not None and status < 500 and status not in RETRY_STATUS:
                raise PermanentError(f"webhook {self.url} refused alert {alert_id}: {error}")
            if attempt < self.max_attempts:
                delay = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
                if retry_after is not None:
                    delay = min(self.max_backoff_s, max(delay, retry_after))
                self._sleep(delay)
        raise PermanentError(f"webhook delivery of alert {alert_id} to {self.url} failed "
                             f"{self.max_attempts} times; last: {last}")

    def _post(self, alert_id: str, body: bytes, attempt: int) -> tuple[int | None, str, float | None]:
        timestamp = str(int(self._clock()))
        headers = {
            "Content-Type": "application/cloudevents+json; charset=utf-8",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(self._secret, timestamp, body),
            DELIVERY_HEADER: alert_id,
            "User-Agent": "greenwatch-webhook/1",
        }
        started = time.perf_counter()
        status: int | None = None
        retry_after: float | None = None
        try:
            resp = self._client.post(self.url, content=body, headers=headers, timeout=self.timeout_s)
            status = resp.status_code
            error = "" if 200 <= status < 300 else f"HTTP {status}: {resp.text[:200]}"
            ra = resp.headers.get("Retry-After", "")
            retry_after = float(ra) if ra.strip().isdigit() else None
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        entry: Doc = {"alert_id": alert_id, "url": self.url, "attempt": attempt, "status": status,
                      "ok": status is not None and 200 <= status < 300, "error": error or None,
                      "at": _now(), "seconds": round(time.perf_counter() - started, 4)}
        self.store.put(LOG, f"{alert_id}/{entry['at']}/{attempt:02d}", entry)
        if error:
            log.info("webhook: alert %s attempt %d: %s", alert_id, attempt, error)
        return status, error, retry_after

    def on_dead_letter(self, event: Event | None, reason: str) -> None:
        if event is not None and event.get("type") == ALERT.type:
            alert_id = event["data"]["alert_id"]
            self.store.put(LOG, f"{alert_id}/{_now()}/dlq", {"alert_id": alert_id, "url": self.url, "attempt": None,
                                                              "status": None, "ok": False, "error": reason,
                                                              "at": _now(), "dead_lettered": True})

    def close(self) -> None:
        self._client.close()


def deliveries(store: Store, alert_id: str) -> list[Doc]:
    """The delivery log of one alert, oldest first."""
    return [d for _, d in store.scan(LOG, alert_id + "/")]


def delivered(store: Store, alert_id: str) -> Any:
    return store.get(DELIVERED, alert_id)
