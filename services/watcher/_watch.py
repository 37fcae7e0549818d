"""Polling loop: search each source from its durable cursor (minus an overlap, so items ingested late
are still found), dedupe by item id in the ledger, publish scene-discovered, then advance the cursor."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pystac_client import Client

from greenwatch.schemas import SCENE_DISCOVERED, make_event, new_trace_id
from greenwatch.services import metrics, topics
from greenwatch.services.bus import Bus, dlq_topic
from greenwatch.services.ledger import Ledger
from greenwatch.services.runtime import Outgoing, publish
from greenwatch.services.store import Store
from greenwatch.services.watcher._items import InvalidItem, item_to_scene

log = logging.getLogger(__name__)
SOURCE = "greenwatch/watcher"
CURSOR = "cursor"
PUBLISHED = "published"  # written by the watcher alone: which items it has published

ItemSearch = Callable[["Source", str, int], Iterable[dict[str, Any]]]


@dataclass(frozen=True)
class Source:
    url: str
    collection: str
    product_kind: str = "s2-l2a-eopf-zarr"
    max_cloud_cover: float | None = None
    start: str = "2024-01-01"
    bbox: tuple[float, float, float, float] | None = None

    @property
    def key(self) -> str:
        return f"{self.url.rstrip('/')}|{self.collection}"


@dataclass
class PollReport:
    seen: int = 0
    published: int = 0
    deduplicated: int = 0
    filtered: int = 0
    dead_lettered: int = 0
    reasons: list[str] = field(default_factory=list)


def pystac_search(source: Source, datetime_range: str, page_size: int) -> Iterable[dict[str, Any]]:
    """Items from the STAC API (pystac-client follows `next` links, GET or POST with body tokens)."""
    client = Client.open(source.url)
    search = client.search(
        collections=[source.collection], datetime=datetime_range, bbox=source.bbox, limit=page_size
    )
    yield from search.items_as_dicts()


class Watcher:
    def __init__(self, *, bus: Bus, store: Store, ledger: Ledger, sources: list[Source],
                 overlap: timedelta = timedelta(days=3), page_size: int = 100,
                 search: ItemSearch = pystac_search) -> None:
        self.bus = bus
        self.store = store
        self.ledger = ledger
        self.sources = sources
        self.overlap = overlap
        self.page_size = page_size
        self.search = search

    def _window(self, source: Source, start: str | None, end: str | None) -> str:
        if start is None:
            cursor = self.store.get(CURSOR, source.key)
            if cursor is not None:
                since = datetime.fromisoformat(cursor["max_datetime"].replace("Z", "+00:00")) - self.overlap
                start = since.isoformat().replace("+00:00", "Z")
            else:
                start = source.start
        if len(start) == 10:
            start += "T00:00:00Z"
        if end is not None and len(end) == 10:
            end += "T23:59:59Z"
        return f"{start}/{end or '..'}"

    def poll(self, *, start: str | None = None, end: str | None = None) -> PollReport:
        """One pass over every source. With start/end (a backfill) the cursor is not moved back."""
        report = PollReport()
        t0 = time.perf_counter()
        for source in self.sources:
            self._poll_source(source, self._window(source, start, end), report)
        metrics.POLL_SECONDS.observe(time.perf_counter() - t0)
        return report

    def _poll_source(self, source: Source, window: str, report: PollReport) -> None:
        max_dt: str | None = None
        for item in self.search(source, window, self.page_size):
            report.seen += 1
            try:
                scene = item_to_scene(item, stac_api=source.url, product_kind=source.product_kind)
            except InvalidItem as exc:
                self._dead_letter(item, str(exc), source)
                report.dead_lettered += 1
                report.reasons.append(str(exc))
                continue
            max_dt = max(max_dt or scene["datetime"], scene["datetime"])
            cloud = scene["cloud_cover"]
            if source.max_cloud_cover is not None and cloud is not None and cloud > source.max_cloud_cover:
                report.filtered += 1
                continue
            if self.store.get(PUBLISHED, scene["scene_id"]) is not None:
                report.deduplicated += 1
                metrics.STAC_ITEMS.labels("deduplicated").inc()
                continue
            ev = make_event(SCENE_DISCOVERED, scene, source=SOURCE, subject=scene["scene_id"],
                            event_id=scene["scene_id"], trace_id=new_trace_id())
            publish(self.bus, [Outgoing(topics.SCENES, scene["scene_id"], ev)], service="watcher")
            self.bus.flush()  # durable before it counts as published; a crash here re-publishes (harmless)
            self.store.put(PUBLISHED, scene["scene_id"], {"at": datetime.now(UTC).isoformat()})
            report.published += 1
            metrics.STAC_ITEMS.labels("published").inc()
            lag = datetime.now(UTC) - datetime.fromisoformat(scene["datetime"].replace("Z", "+00:00"))
            metrics.DISCOVERY_LAG.observe(max(0.0, lag.total_seconds()))
        if max_dt is not None:
            cursor = self.store.get(CURSOR, source.key)
            if cursor is None or cursor["max_datetime"] < max_dt:
                self.store.put(CURSOR, source.key, {"max_datetime": max_dt})

    def _dead_letter(self, item: dict[str, Any], reason: str, source: Source) -> None:
        headers = [("gw-error", reason.encode()), ("gw-service", b"watcher"),
                   ("gw-source", source.key.encode()),
                   ("gw-failed-at", datetime.now(UTC).isoformat().encode())]
        key = str(item.get("id", "")).encode() or None
        self.bus.send(dlq_topic(topics.SCENES), json.dumps(item).encode(), key=key, headers=headers)
        self.bus.flush()
        metrics.STAC_ITEMS.labels("dlq").inc()
        log.warning("watcher: dead-lettered item %s: %s", item.get("id"), reason)
