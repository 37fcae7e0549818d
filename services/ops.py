"""Operator commands: list and re-run scenes, list dead letters, status at a glance."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from greenwatch.schemas import SCENE_DISCOVERED, make_event, new_trace_id
from greenwatch.services import topics
from greenwatch.services.app import App
from greenwatch.services.bus import dlq_topic
from greenwatch.services.ledger import STATES
from greenwatch.services.runtime import Outgoing, publish


@dataclass(frozen=True)
class SceneFilter:
    """Which scenes an operator means: every given field must match (acquisition dates inclusive).

    From flags or from `--filter` expressions `key=value`, several per expression separated by
    commas: `state=failed,tile=31UFT`, `date=2024-01-01..2024-12-31`, `kernel=k1-...`."""

    state: str | None = None
    since: str | None = None
    until: str | None = None
    tile: str | None = None
    kernel: str | None = None
    scene: str | None = None
    collection: str | None = None

    @classmethod
    def parse(cls, expressions: Sequence[str] = (), **flags: str | None) -> SceneFilter:
        values: dict[str, str] = {k: v for k, v in flags.items() if v is not None}
        for expr in expressions:
            for part in filter(None, (p.strip() for p in expr.split(","))):
                key, sep, value = part.partition("=")
                key, value = key.strip(), value.strip()
                if not sep or not value:
                    raise ValueError(f"filter {part!r}: expected key=value")
                if key == "date":
                    since, dots, until = value.partition("..")
                    if not dots:
                        since = until = value
                    values.update({k: v for k, v in (("since", since), ("until", until)) if v})
                elif key in FILTER_KEYS:
                    values[key] = value
                else:
                    raise ValueError(f"filter {part!r}: unknown key {key!r}; known: date, {', '.join(FILTER_KEYS)}")
        if values.get("state") not in (None, *STATES):
            raise ValueError(f"unknown state {values['state']!r}; known: {', '.join(STATES)}")
        for k in ("since", "until"):
            if k in values:
                try:
                    date.fromisoformat(values[k])
                except ValueError:
                    raise ValueError(f"{k} {values[k]!r} is not a date YYYY-MM-DD") from None
        return cls(**values)

    def matches(self, doc: dict[str, Any]) -> bool:
        s = doc.get("scene") or {}
        day = str(s.get("datetime", ""))[:10]
        checks = (
            (self.state, doc.get("state")), (self.tile, s.get("mgrs_tile")), (self.kernel, doc.get("kernel_version")),
            (self.scene, doc.get("scene_id")), (self.collection, s.get("collection")),
        )
        if any(want is not None and want != got for want, got in checks):
            return False
        return not ((self.since and day < self.since) or (self.until and (not day or day > self.until)))


FILTER_KEYS = tuple(f for f in SceneFilter.__dataclass_fields__)


def select_scenes(app: App, flt: SceneFilter) -> Iterator[dict[str, Any]]:
    for doc in app.ledger.list(state=flt.state, since=flt.since):
        if flt.matches(doc):
            yield doc


def list_scenes(app: App, *, state: str | None = None, since: str | None = None,
                flt: SceneFilter | None = None, as_json: bool = False) -> Iterator[str]:
    flt = flt or SceneFilter(state=state, since=since)
    for doc in select_scenes(app, flt):
        scene = doc.get("scene") or {}
        if as_json:
            yield json.dumps({"scene_id": doc["scene_id"], "state": doc.get("state"),
                              "datetime": scene.get("datetime"), "tile": scene.get("mgrs_tile"),
                              "kernel_version": doc.get("kernel_version"), "n_tiles": doc.get("n_tiles"),
                              "reason": doc.get("reason")}, sort_keys=True)
            continue
        yield (f"{doc['scene_id']}\t{doc.get('state')}\t{scene.get('datetime', '')[:10]}\t"
               f"{scene.get('mgrs_tile') or ''}\ttiles={doc.get('n_tiles')}\t{doc.get('reason') or ''}")


def rerun_scenes(app: App, *, state: str | None = None, since: str | None = None, tile: str | None = None,
                 kernel: str | None = None, scene: str | None = None, flt: SceneFilter | None = None,
                 dry_run: bool = False, on_progress: Callable[[int, int], object] | None = None) -> int:
    """Re-queue every scene matching all given filters (bulk re-run); returns how many. Superseded
    scenes are left alone unless the filter asks for them by state or id: a newer product replaced
    them. Scenes the watcher only announced as superseded (never discovered) have nothing to re-run."""
    flt = flt or SceneFilter(state=state, since=since, tile=tile, kernel=kernel, scene=scene)
    chosen = [doc["scene_id"] for doc in select_scenes(app, flt)
              if doc.get("scene") and (doc.get("state") != "superseded" or flt.state or flt.scene)]
    if dry_run:
        return len(chosen)
    for done, scene_id in enumerate(chosen, start=1):
        data = app.ledger.reset(scene_id)
        if data is not None:
            ev = make_event(SCENE_DISCOVERED, data, source="greenwatch/ops", subject=scene_id,
                            trace_id=new_trace_id())
            publish(app.bus, [Outgoing(topics.SCENES, scene_id, ev)], service="ops")
        if on_progress is not None:
            on_progress(done, len(chosen))
    app.bus.flush()
    return len(chosen)


def list_dlq(app: App, topic: str | None = None) -> Iterator[str]:
    for t in [topic] if topic else list(topics.ALL):
        for r in app.bus.read_all(dlq_topic(t)):
            headers = {k: v.decode("utf-8", "replace") for k, v in r.headers}
            yield json.dumps({"topic": r.topic, "partition": r.partition, "offset": r.offset,
                              "key": r.key.decode("utf-8", "replace") if r.key else None,
                              "error": headers.get("gw-error"), "service": headers.get("gw-service"),
                              "source_topic": headers.get("gw-source-topic"), "source": headers.get("gw-source"),
                              "failed_at": headers.get("gw-failed-at"), "bytes": len(r.value)})


def status(app: App) -> str:
    """Per-service health (each process's /metrics on this host), consumer-group lag, the scene ledger,
    compliance states and DLQ sizes, as text tables (see `_status.py`)."""
    from greenwatch.services._status import gather, render  # noqa: PLC0415 - rich only for this command

    return render(gather(app))
