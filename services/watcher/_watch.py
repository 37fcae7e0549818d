"""The watcher: search each STAC source, publish each new product once, supersede reprocessed ones.

Durable state (the watcher is its only writer, docs/adr/0001), all in the state store:

| table       | key                         | what                                                          |
|-------------|-----------------------------|---------------------------------------------------------------|
| `cursor`    | source                      | latest item datetime seen by a completed live poll            |
| `published` | item id                     | published (or announced as superseded on arrival): dedupe      |
| `rejected`  | item id                     | dead-lettered, with the item's `updated`: not re-sent each poll |
| `datatakes` | datatake (no baseline)/tile | the current product of that datatake and its rank             |
| `backfill`  | source and date range       | the next day a backfill still has to search                   |

Nothing lost: a live poll searches from the cursor minus `overlap` (items ingested late, STAC
`updated` after `datetime`, are still inside the window) and moves the cursor only after the whole
search of that source succeeded; a backfill records its progress only after a whole slice of days
succeeded. Nothing duplicated: an item is published, flushed (acks=all), then recorded in
`published`; a crash between the two re-publishes it, which consumers absorb (the event id is the
item id, the planner's task ids are deterministic).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from greenwatch.schemas import SCENE_DISCOVERED, SCENE_SUPERSEDED, InvalidMessage, make_event, new_trace_id
from greenwatch.services import metrics, topics
from greenwatch.services.bus import Bus, dlq_topic
from greenwatch.services.errors import PermanentError, TransientError
from greenwatch.services.ledger import Ledger
from greenwatch.services.runtime import Outgoing, publish
from greenwatch.services.store import Store
from greenwatch.services.watcher._client import StacClient
from greenwatch.services.watcher._items import InvalidItem, item_to_scene
from greenwatch.services.watcher._sources import Source
from greenwatch.services.watcher._supersede import datatake_key, rank

log = logging.getLogger(__name__)
SOURCE = "greenwatch/watcher"
CURSOR = "cursor"
PUBLISHED = "published"
REJECTED = "rejected"
DATATAKES = "datatakes"
BACKFILL = "backfill"

ItemSearch = Callable[[Source, str, int], Iterable[dict[str, Any]]]


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class PollReport:
    seen: int = 0
    published: int = 0
    deduplicated: int = 0
    superseded: int = 0
    filtered: int = 0  # above the source's maximum cloud cover
    foreign: int = 0  # items of another collection: the server ignored `collections`
    dead_lettered: int = 0
    slices: int = 0  # backfill slices completed in this run
    requests: int = 0
    retries: int = 0
    reasons: list[str] = field(default_factory=list)  # why items were dead-lettered
    errors: list[str] = field(default_factory=list)  # sources whose search failed (state not advanced)

    @property
    def ok(self) -> bool:
        return not self.errors


class Watcher:
    def __init__(self, *, bus: Bus, store: Store, ledger: Ledger, sources: list[Source],
                 overlap: timedelta = timedelta(days=3), page_size: int = 100, client: StacClient | None = None,
                 search: ItemSearch | None = None, backfill_slice: timedelta = timedelta(days=7),
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.bus = bus
        self.store = store
        self.ledger = ledger  # the planner writes the ledger; the watcher only hands scenes on
        self.sources = sources
        self.overlap = overlap
        self.page_size = page_size
        self.client = client or StacClient()
        self.search = search
        self.backfill_slice = max(timedelta(days=1), backfill_slice)
        self.clock = clock

    # -- entry points -----------------------------------------------------------------------------
    def poll(self, *, start: str | None = None, end: str | None = None) -> PollReport:
        """One pass over every source. Without start/end: from each source's cursor minus the
        overlap to now, then the cursor moves on. With start/end (dates or RFC 3339 times): that
        window once, the cursor untouched (use `backfill` for long ranges: it resumes)."""
        report = PollReport()
        t0 = time.perf_counter()
        requests0, retries0 = self.client.stats.requests, self.client.stats.retries
        for source in self.sources:
            started = self.clock()
            live = start is None and end is None
            window = self._live_window(source) if live else _window(start or source.start, end)
            try:
                latest = self._search_window(source, window, report)
            except (TransientError, PermanentError) as exc:
                self._failed(source, window, exc, report)
                continue
            if live and latest is not None:
                self._advance_cursor(source, min(latest, started))
        metrics.POLL_SECONDS.observe(time.perf_counter() - t0)
        report.requests = self.client.stats.requests - requests0
        report.retries = self.client.stats.retries - retries0
        return report

    def backfill(self, start: str, end: str, *, restart: bool = False,
                 on_slice: Callable[[str, int, int], object] | None = None) -> PollReport:
        """Search `start..end` (dates, inclusive) in slices of `backfill_slice`, recording after each
        slice where the next one starts, so a backfill stopped anywhere (crash, Ctrl-C, an API down
        longer than the retry budget) resumes there when run again with the same range. `restart`
        forgets the progress. Items already published are skipped either way. `on_slice(source, days
        done, days in all)` is called after each slice (progress bars)."""
        d0, d1 = date.fromisoformat(start), date.fromisoformat(end)
        if d1 < d0:
            raise ValueError(f"backfill range {start}..{end} ends before it starts")
        report = PollReport()
        requests0, retries0 = self.client.stats.requests, self.client.stats.retries
        step = self.backfill_slice.days
        for source in self.sources:
            key = f"{source.key}|{d0}..{d1}"
            progress = None if restart else self.store.get(BACKFILL, key)
            day = date.fromisoformat(progress["next"]) if progress else d0
            if progress and progress.get("finished"):
                log.info("watcher: backfill %s already finished (use restart to search again)", key)
                continue
            if progress:
                log.info("watcher: backfill %s resumes at %s", key, day)
            while day <= d1:
                last = min(d1, day + timedelta(days=step - 1))
                window = f"{day}T00:00:00Z/{last + timedelta(days=1)}T00:00:00Z"
                t0 = time.perf_counter()
                try:
                    self._search_window(source, window, report)
                except (TransientError, PermanentError) as exc:
                    self._failed(source, window, exc, report)
                    break
                finally:
                    metrics.POLL_SECONDS.observe(time.perf_counter() - t0)
                day = last + timedelta(days=1)
                report.slices += 1
                self.store.put(BACKFILL, key, {"source": source.key, "start": str(d0), "end": str(d1),
                                               "next": str(day), "finished": day > d1,
                                               "updated_at": _iso(self.clock())})
                if on_slice is not None:
                    on_slice(source.key, (min(day, d1 + timedelta(days=1)) - d0).days, (d1 - d0).days + 1)
        report.requests = self.client.stats.requests - requests0
        report.retries = self.client.stats.retries - retries0
        return report

    def backfill_progress(self) -> list[dict[str, Any]]:
        return [doc for _, doc in self.store.scan(BACKFILL)]

    # -- one search window ------------------------------------------------------------------------
    def _live_window(self, source: Source) -> str:
        # CLMS layers appear years after their reference date: search them from `start` every time
        cursor = None if source.product_kind.startswith("clms-") else self.store.get(CURSOR, source.key)
        if cursor is None:
            return _window(source.start, None)
        return f"{_iso(_parse(cursor['max_datetime']) - self.overlap)}/.."

    def _items(self, source: Source, window: str) -> Iterable[dict[str, Any]]:
        if self.search is not None:
            yield from self.search(source, window, self.page_size)
            return
        for page in self.client.search_pages(source.url, source.search_body(window, self.page_size)):
            yield from page.get("features") or []

    def _search_window(self, source: Source, window: str, report: PollReport) -> datetime | None:
        """Handle every item of the window; the latest valid item datetime seen (for the cursor)."""
        latest: datetime | None = None
        for item in self._items(source, window):
            seen = self._handle(source, item, report)
            if seen is not None and (latest is None or seen > latest):
                latest = seen
        return latest

    def _handle(self, source: Source, item: dict[str, Any], report: PollReport) -> datetime | None:
        report.seen += 1
        metrics.STAC_ITEMS.labels("seen").inc()
        if not isinstance(item, dict):
            self._reject({"item": item}, "search result is not a JSON object", source, report)
            return None
        if item.get("collection") not in (None, source.collection):
            report.foreign += 1  # the server ignored `collections`; not ours, not an error of the item
            metrics.STAC_ITEMS.labels("foreign").inc()
            return None
        try:
            scene = item_to_scene(item, stac_api=source.url, product_kind=source.product_kind,
                                  collection=source.collection)
            discovered = make_event(SCENE_DISCOVERED, scene, source=SOURCE, subject=scene["scene_id"],
                                    event_id=scene["scene_id"], trace_id=new_trace_id())
        except (InvalidItem, InvalidMessage) as exc:
            self._reject(item, str(exc), source, report)
            return None
        when = _parse(scene["datetime"])
        if not source.wants_cloud(scene["cloud_cover"]):
            report.filtered += 1
            metrics.STAC_ITEMS.labels("filtered").inc()
            return when
        scene_id = scene["scene_id"]
        if self.store.get(PUBLISHED, scene_id) is not None:
            report.deduplicated += 1
            metrics.STAC_ITEMS.labels("deduplicated").inc()
            return when
        self._publish_new(scene, item, discovered, report)
        return when

    def _publish_new(self, scene: dict[str, Any], item: dict[str, Any], discovered: dict[str, Any],
                     report: PollReport) -> None:
        scene_id = scene["scene_id"]
        key = datatake_key(scene)
        mine = rank(scene, item)
        prev = self.store.get(DATATAKES, key) if key else None
        out: list[Outgoing] = []
        superseded_by: str | None = None
        current = {"scene_id": scene_id, "rank": mine}
        if prev is not None and prev["scene_id"] != scene_id:
            older, newer = (prev, current) if mine > prev["rank"] else (current, prev)
            reason = (f"same datatake reprocessed: {newer['scene_id']} (baseline {newer['rank'][0]}) "
                      f"replaces baseline {older['rank'][0]}")
            ev = make_event(SCENE_SUPERSEDED, {"scene_id": older["scene_id"], "superseded_by": newer["scene_id"],
                                               "reason": reason},
                            source=SOURCE, subject=older["scene_id"], trace_id=discovered.get("traceid"))
            if newer is current:
                out.append(Outgoing(topics.SCENES, scene_id, discovered))
            else:
                superseded_by = newer["scene_id"]  # an older product found late: announced, not processed
                current = prev
            out.append(Outgoing(topics.SCENES, older["scene_id"], ev))
        else:
            out.append(Outgoing(topics.SCENES, scene_id, discovered))
        publish(self.bus, out, service="watcher")
        self.bus.flush()  # durable before it counts as published; a crash here re-publishes (harmless)
        if key:
            self.store.put(DATATAKES, key, current)
        self.store.put(PUBLISHED, scene_id, {"at": _iso(self.clock()), "updated": scene.get("updated"),
                                             "superseded_by": superseded_by})
        if len(out) == 2 or superseded_by:
            report.superseded += 1
            metrics.STAC_ITEMS.labels("superseded").inc()
        if superseded_by is None:
            report.published += 1
            metrics.STAC_ITEMS.labels("published").inc()
            lag = self.clock() - _parse(scene["datetime"])
            metrics.DISCOVERY_LAG.observe(max(0.0, lag.total_seconds()))

    # -- failures ---------------------------------------------------------------------------------
    def _reject(self, item: dict[str, Any], reason: str, source: Source, report: PollReport) -> None:
        """Dead-letter an unusable item once per version (its `updated`), with the reason."""
        item_id = str(item.get("id") or "")
        updated = (item.get("properties") or {}).get("updated") if isinstance(item.get("properties"), dict) else None
        if item_id:
            known = self.store.get(REJECTED, item_id)
            if known is not None and known.get("updated") == updated:
                report.deduplicated += 1
                metrics.STAC_ITEMS.labels("deduplicated").inc()
                return
        headers = [("gw-error", reason[:4000].encode("utf-8", "replace")), ("gw-service", b"watcher"),
                   ("gw-source", source.key.encode()), ("gw-failed-at", _iso(self.clock()).encode())]
        self.bus.send(dlq_topic(topics.SCENES), json.dumps(item).encode(), key=item_id.encode() or None,
                      headers=headers)
        self.bus.flush()
        if item_id:
            self.store.put(REJECTED, item_id, {"reason": reason, "updated": updated, "at": _iso(self.clock())})
        report.dead_lettered += 1
        report.reasons.append(reason)
        metrics.STAC_ITEMS.labels("dlq").inc()
        log.warning("watcher: dead-lettered item %s: %s", item_id or "?", reason)

    def _failed(self, source: Source, window: str, exc: Exception, report: PollReport) -> None:
        msg = f"{source.key} {window}: {type(exc).__name__}: {exc}"
        report.errors.append(msg)
        log.error("watcher: search failed, state not advanced (retried at the next poll): %s", msg)

    def _advance_cursor(self, source: Source, latest: datetime) -> None:
        cursor = self.store.get(CURSOR, source.key)
        if cursor is None or _parse(cursor["max_datetime"]) < latest:
            self.store.put(CURSOR, source.key, {"max_datetime": _iso(latest), "polled_at": _iso(self.clock())})


def _window(start: str, end: str | None) -> str:
    """RFC 3339 interval from dates or times; a date as end includes that whole day."""
    if len(start) == 10:
        start += "T00:00:00Z"
    if end is not None and len(end) == 10:
        end = f"{date.fromisoformat(end) + timedelta(days=1)}T00:00:00Z"
    return f"{start}/{end or '..'}"
