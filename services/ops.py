"""Operator commands: list and re-run scenes, list dead letters, status at a glance."""

from __future__ import annotations

import json
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


def list_dlq(app: App, topic: str | None = None) -> Iterator[str]:
    for t in [topic] if topic else list(topics.ALL):
        for r in app.bus.read_all(dlq_topic(t)):
            headers = {k: v.decode("utf-8", "replace") for k, v in r.headers}
            yield json.dumps({"topic": r.topic, "partition": r.partition, "offset": r.offset,
                              "error": headers.get("gw-error"), "service": headers.get("gw-service"),
                              "source_topic": headers.get("gw-source-topic"),
                              "failed_at": headers.get("gw-failed-at"), "bytes": len(r.value)})


def status(app: App) -> str:
    counts: dict[str, int] = {}
    for doc in app.ledger.list():
        counts[doc.get("state", "?")] = counts.get(doc.get("state", "?"), 0) + 1
    lines = ["scene ledger: " + (", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "empty")]
    for group, topic_list in (("worker", [topics.SCENES, topics.TASKS]), ("merger", [topics.RESULTS]),
                              ("trend", [topics.OBSERVATIONS])):
        lines.append(f"{group}: lag {app.bus.group_lag(topic_list, group)}")
    states = [d for _, d in app.store.scan("states")]
    by_state: dict[str, int] = {}
    for d in states:
        by_state[d["state"]] = by_state.get(d["state"], 0) + 1
    lines.append("compliance: " + (", ".join(f"{k}={v}" for k, v in sorted(by_state.items())) or "none yet"))
    return "\n".join(lines)
