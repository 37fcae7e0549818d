"""The worker's side of the season composite (services/composite): after a tile task, if its scene is
now complete and its date is inside the season window, ask for the tile-year's composite to be
recomputed.

Two workers finishing a scene's last two tasks at the same time may both see it complete and both
send a task: the compositor skips a composite that is up to date (one store read), so that is cheap.
They must not both MISS it: on a store where other processes' writes appear only after `refresh()`
(the Kafka compacted topic), a scene that looks incomplete is looked at again after a refresh. Each
worker's own tile outcome is durable before its refresh reads the topic to its end, so of two
workers finishing last, the one that refreshes later sees both outcomes.
"""

from __future__ import annotations

from typing import Any

from greenwatch.schemas import COMPOSITE_TASK, make_event, stable_id
from greenwatch.services import topics
from greenwatch.services.ledger import Ledger
from greenwatch.services.runtime import Outgoing
from greenwatch.services.trend._annual import in_season

SOURCE = "greenwatch/worker"


def composite_key(tile: str, year: int) -> str:
    """The message key of a tile-year's composite tasks: one compositor handles a tile-year at a time."""
    return f"{tile}/{year}"


def composite_trigger(ledger: Ledger, task: dict[str, Any], season: tuple[int, int] | None, *,
                      trace_id: str | None = None) -> list[Outgoing]:
    """The composite task to send after `task` is done, if any. `season` None: composites are off (no
    class maps are written)."""
    if season is None or not in_season(int(task["date"][5:7]), season):
        return []
    doc = ledger.get(task["scene_id"])
    if doc is not None and doc.get("state") == "planned":  # not complete in this view: other workers' tiles?
        ledger.store.refresh()
        doc = ledger.get(task["scene_id"])
    if doc is None or doc.get("state") != "complete":
        return []
    year = int(task["date"][:4])
    data = {"tile": task["tile"], "year": year, "kernel_version": task["kernel_version"],
            "area_set_version": task["area_set_version"], "scene_id": task["scene_id"], "date": task["date"]}
    key = composite_key(task["tile"], year)
    event_id = stable_id("composite-task", key, task["kernel_version"], task["area_set_version"], task["scene_id"])
    ev = make_event(COMPOSITE_TASK, data, source=SOURCE, subject=key, event_id=event_id, trace_id=trace_id)
    return [Outgoing(topics.COMPOSITE_TASKS, key, ev)]
