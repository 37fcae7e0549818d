"""Operator commands: list and re-run scenes, list dead letters, status at a glance."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

from greenwatch.schemas import SCENE_DISCOVERED, make_event, new_trace_id
from greenwatch.services import topics
from greenwatch.services.app import App
from greenwatch.services.bus import dlq_topic
from greenwatch.services.runtime import Outgoing, publish


def list_scenes(app: App, *, state: str | None = None, since: str | None = None) -> Iterator[str]:
    for doc in app.ledger.list(state=state, since=since):
        scene = doc.get("scene") or {}
        yield (f"{doc['scene_id']}\t{doc.get('state')}\t{scene.get('datetime', '')[:10]}\t"
               f"{scene.get('mgrs_tile') or ''}\ttiles={doc.get('n_tiles')}\t{doc.get('reason') or ''}")


def rerun_scenes(app: App, *, state: str | None = None, since: str | None = None, tile: str | None = None,
                 kernel: str | None = None, scene: str | None = None) -> int:
    """Re-queue every scene matching all given filters (bulk re-run); returns how many."""
    chosen = []
    for doc in app.ledger.list(state=state, since=since):
        s = doc.get("scene") or {}
        if scene is not None and doc["scene_id"] != scene:
            continue
        if tile is not None and s.get("mgrs_tile") != tile:
            continue
        if kernel is not None and doc.get("kernel_version") != kernel:
            continue
        chosen.append(doc["scene_id"])
    for scene_id in chosen:
        data = app.ledger.reset(scene_id)
        if data is None:
            continue
        ev = make_event(SCENE_DISCOVERED, data, source="greenwatch/ops", subject=scene_id,
                        trace_id=new_trace_id())
        publish(app.bus, [Outgoing(topics.SCENES, scene_id, ev)], service="ops")
    app.bus.flush()
    return len(chosen)


def read_topic(app: App, topic: str, *, idle_polls: int = 3) -> Iterator[tuple[str, bytes, dict[str, str]]]:
    """Every record of a topic, read by a throw-away consumer group that never commits."""
    consumer = app.bus.consumer([topic], f"gw-reader-{uuid.uuid4().hex[:8]}")
    empty = 0
    try:
        while empty < idle_polls:
            records = consumer.poll(0.5, 500)
            if not records:
                empty += 1
                continue
            empty = 0
            for r in records:
                yield r.topic, r.value, {k: v.decode("utf-8", "replace") for k, v in r.headers}
    finally:
        consumer.close()


def list_dlq(app: App, topic: str | None = None) -> Iterator[str]:
    for t in [topic] if topic else list(topics.ALL):
        for name, value, headers in read_topic(app, dlq_topic(t)):
            yield json.dumps({"topic": name, "error": headers.get("gw-error"), "service": headers.get("gw-service"),
                              "failed_at": headers.get("gw-failed-at"), "bytes": len(value)})


def status(app: App) -> str:
    counts: dict[str, int] = {}
    for doc in app.ledger.list():
        counts[doc.get("state", "?")] = counts.get(doc.get("state", "?"), 0) + 1
    lines = ["scene ledger: " + (", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "empty")]
    for group, topic_list in (("worker", [topics.SCENES, topics.TASKS]), ("merger", [topics.RESULTS]),
                              ("trend", [topics.OBSERVATIONS])):
        c = app.bus.consumer(topic_list, group)
        try:
            lines.append(f"{group}: lag {c.lag()}")
        finally:
            c.close()
    states = [d for _, d in app.store.scan("states")]
    by_state: dict[str, int] = {}
    for d in states:
        by_state[d["state"]] = by_state.get(d["state"], 0) + 1
    lines.append("compliance: " + (", ".join(f"{k}={v}" for k, v in sorted(by_state.items())) or "none yet"))
    return "\n".join(lines)
