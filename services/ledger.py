"""The scene ledger: where every discovered scene stands, so none is lost.

States: discovered -> planned (tiles expected) -> complete; or superseded (a newer processing
baseline of the same datatake), failed (dead-lettered with a reason), incomplete (some tiles failed).
Tile completion is one key per (scene, task) written once, so several workers never race on a count.
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

    def get(self, scene_id: str) -> Doc | None:
        return self.store.get(SCENES, scene_id)

    def _update(self, scene_id: str, **changes: Any) -> Doc:
        doc = self.store.get(SCENES, scene_id) or {"scene_id": scene_id, "history": []}
        if "state" in changes and changes["state"] != doc.get("state"):
            doc["history"] = [*doc.get("history", []), {"state": changes["state"], "at": _now()}][-20:]
            metrics.SCENES.labels(changes["state"]).inc()
        doc.update(changes, updated_at=_now())
        self.store.put(SCENES, scene_id, doc)
        return doc

    def discovered(self, scene: Doc) -> bool:
        """Record a scene from the watcher; False if it was already known (a duplicate)."""
        if self.store.get(SCENES, scene["scene_id"]) is not None:
            return False
        self._update(scene["scene_id"], state="discovered", scene=scene, reason=None)
        return True

    def planned(self, scene_id: str, n_tiles: int, kernel_version: str) -> None:
        doc = self.get(scene_id) or {}
        if doc.get("state") in ("complete", "superseded"):
            return
        self._update(scene_id, state="planned", n_tiles=n_tiles, kernel_version=kernel_version, reason=None)
        if n_tiles == 0:
            self._update(scene_id, state="complete", reason="no tile touches an area")

    def tile_done(self, scene_id: str, task_id: str) -> None:
        self.store.put(TILES, f"{scene_id}/{task_id}", {"ok": True, "at": _now()})
        self._check_complete(scene_id)

    def tile_failed(self, scene_id: str, task_id: str, reason: str) -> None:
        self.store.put(TILES, f"{scene_id}/{task_id}", {"ok": False, "reason": reason, "at": _now()})
        self._check_complete(scene_id)

    def _check_complete(self, scene_id: str) -> None:
        doc = self.get(scene_id)
        if doc is None or doc.get("n_tiles") is None or doc.get("state") == "superseded":
            return
        tiles = [v for _, v in self.store.scan(TILES, scene_id + "/")]
        if len(tiles) < doc["n_tiles"]:
            return
        failed = [t["reason"] for t in tiles if not t["ok"]]
        if failed:
            if doc.get("state") != "incomplete":
                self._update(
                    scene_id, state="incomplete", reason=f"{len(failed)} of {doc['n_tiles']} tiles failed: {failed[0]}"
                )
        elif doc.get("state") != "complete":
            self._update(scene_id, state="complete", reason=None)

    def failed(self, scene_id: str, reason: str) -> None:
        self._update(scene_id, state="failed", reason=reason)

    def superseded(self, scene_id: str, by: str) -> None:
        self._update(scene_id, state="superseded", reason=f"superseded by {by}", superseded_by=by)

    def reset(self, scene_id: str) -> Doc | None:
        """Forget tile outcomes so a re-run starts clean; returns the scene's discovered message data."""
        doc = self.get(scene_id)
        if doc is None:
            return None
        for key, _ in list(self.store.scan(TILES, scene_id + "/")):
            self.store.delete(TILES, key)
        self._update(scene_id, state="discovered", reason="re-run requested", n_tiles=None)
        scene: Doc | None = doc.get("scene")
        return scene

    def list(self, state: str | None = None, since: str | None = None) -> Iterator[Doc]:
        for _, doc in self.store.scan(SCENES):
            if state is not None and doc.get("state") != state:
                continue
            if since is not None and (doc.get("scene") or {}).get("datetime", "") < since:
                continue
            yield doc
