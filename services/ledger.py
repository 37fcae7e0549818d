"""The scene ledger: where every discovered scene stands, so none is lost.

States: discovered -> planned -> complete | incomplete (some tiles failed); or superseded (a newer
processing baseline of the same datatake) or failed (dead-lettered, with the reason).

One writer per key (docs/adr/0001): the `scenes` document is written by the planner that owns the
scene's partition (discovered, planned, failed, superseded) or by an operator's re-run; each tile's
outcome is its own key in `tiles`, written once by the worker that ran it. Completion is derived
when read (planned + every tile in), never stored, so no two processes write the same document.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from greenwatch.services import metrics
from greenwatch.services.store import Doc, Store

SCENES = "scenes"
TILES = "tiles"
STATES = ("discovered", "planned", "complete", "incomplete", "superseded", "failed")


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Ledger:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- reads: the scene document with its derived state -----------------------------------------
    def get(self, scene_id: str) -> Doc | None:
        doc = self.store.get(SCENES, scene_id)
        return None if doc is None else self._derive(doc)

    def _derive(self, doc: Doc) -> Doc:
        if doc.get("state") != "planned" or not doc.get("n_tiles"):
            return doc
        tiles = [v for _, v in self.store.scan(TILES, doc["scene_id"] + "/")]
        if len(tiles) < doc["n_tiles"]:
            return {**doc, "tiles_done": len(tiles)}
        failed = [t["reason"] for t in tiles if not t["ok"]]
        if failed:
            reason = f"{len(failed)} of {doc['n_tiles']} tiles failed: {failed[0]}"
            return {**doc, "state": "incomplete", "reason": reason, "tiles_done": len(tiles)}
        return {**doc, "state": "complete", "tiles_done": len(tiles)}

    def list(self, state: str | None = None, since: str | None = None) -> Iterator[Doc]:
        for _, raw in self.store.scan(SCENES):
            if since is not None and (raw.get("scene") or {}).get("datetime", "") < since:
                continue
            doc = self._derive(raw)
            if state is None or doc.get("state") == state:
                yield doc

    # -- writes by the planner --------------------------------------------------------------------
    def _write(self, scene_id: str, **changes: Any) -> None:
        doc = self.store.get(SCENES, scene_id) or {"scene_id": scene_id, "history": []}
        if "state" in changes and changes["state"] != doc.get("state"):
            doc["history"] = [*doc.get("history", []), {"state": changes["state"], "at": _now()}][-20:]
            metrics.SCENES.labels(changes["state"]).inc()
        doc.update(changes, updated_at=_now())
        self.store.put(SCENES, scene_id, doc)

    def discovered(self, scene: Doc) -> bool:
        """Record a scene; False if it was already known."""
        if self.store.get(SCENES, scene["scene_id"]) is not None:
            return False
        self._write(scene["scene_id"], state="discovered", scene=scene, reason=None)
        return True

    def planned(self, scene_id: str, n_tiles: int, kernel_version: str) -> None:
        doc = self.store.get(SCENES, scene_id) or {}
        if doc.get("state") == "superseded":
            return
        self._write(scene_id, state="planned", n_tiles=n_tiles, kernel_version=kernel_version,
                    reason=None if n_tiles else "no tile touches an area")

    def failed(self, scene_id: str, reason: str) -> None:
        self._write(scene_id, state="failed", reason=reason)

    def superseded(self, scene_id: str, by: str) -> None:
        self._write(scene_id, state="superseded", reason=f"superseded by {by}", superseded_by=by)

    # -- writes by the worker that ran the tile ---------------------------------------------------
    def tile_done(self, scene_id: str, task_id: str) -> None:
        self.store.put(TILES, f"{scene_id}/{task_id}", {"ok": True, "at": _now()})

    def tile_failed(self, scene_id: str, task_id: str, reason: str) -> None:
        self.store.put(TILES, f"{scene_id}/{task_id}", {"ok": False, "reason": reason, "at": _now()})

    # -- operator ---------------------------------------------------------------------------------
    def reset(self, scene_id: str) -> Doc | None:
        """Forget tile outcomes so a re-run starts clean; returns the scene's discovered message data."""
        doc = self.store.get(SCENES, scene_id)
        if doc is None:
            return None
        for key, _ in list(self.store.scan(TILES, scene_id + "/")):
            self.store.delete(TILES, key)
        self._write(scene_id, state="discovered", reason="re-run requested", n_tiles=None)
        scene: Doc | None = doc.get("scene")
        return scene
