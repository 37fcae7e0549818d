"""The worker's trigger: a composite task once a scene of the season is complete, keyed by tile/year;
none out of season, before completion, or with composites off; and never missed by two workers that
finish a scene's last two tiles at once on a store that shows other processes' writes after refresh."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from greenwatch.schemas import COMPOSITE_TASK
from greenwatch.services import topics
from greenwatch.services.ledger import Ledger
from greenwatch.services.store import Doc, SqliteStore
from greenwatch.services.trend._annual import in_season
from greenwatch.services.worker._composite_trigger import composite_trigger

KERNEL, AREAS = "s2-ndvi-1.0.0+test", "tiny@000000000000"


def _task(scene: str, date: str, n: int) -> dict:
    return {"scene_id": scene, "task_id": f"{scene}-{n}", "tile": "31UFT", "date": date, "kernel_version": KERNEL,
            "area_set_version": AREAS}


def _plan(ledger: Ledger, scene: str, date: str, n_tiles: int) -> None:
    ledger.discovered({"scene_id": scene, "datetime": f"{date}T10:46:19Z", "mgrs_tile": "31UFT"})
    ledger.planned(scene, n_tiles, KERNEL)


def test_a_complete_season_scene_asks_for_its_tile_year(tmp_path: Path) -> None:
    ledger = Ledger(SqliteStore(tmp_path / "s.db"))
    _plan(ledger, "S1", "2025-06-14", 2)
    ledger.tile_done("S1", "S1-0")
    assert composite_trigger(ledger, _task("S1", "2025-06-14", 0), (5, 9)) == []  # one tile still out
    ledger.tile_done("S1", "S1-1")
    (out,) = composite_trigger(ledger, _task("S1", "2025-06-14", 1), (5, 9), trace_id="0" * 32)
    assert (out.topic, out.key, out.event["type"]) == (topics.COMPOSITE_TASKS, "31UFT/2025", COMPOSITE_TASK.type)
    assert out.event["data"] == {"tile": "31UFT", "year": 2025, "kernel_version": KERNEL, "area_set_version": AREAS,
                                 "scene_id": "S1", "date": "2025-06-14"}
    assert out.event["traceid"] == "0" * 32
    assert composite_trigger(ledger, _task("S1", "2025-06-14", 1), None) == []  # composites off


def test_out_of_season_scenes_ask_for_nothing(tmp_path: Path) -> None:
    ledger = Ledger(SqliteStore(tmp_path / "s.db"))
    _plan(ledger, "S1", "2025-03-02", 1)
    ledger.tile_done("S1", "S1-0")
    assert composite_trigger(ledger, _task("S1", "2025-03-02", 0), (5, 9)) == []
    assert composite_trigger(ledger, _task("S1", "2025-03-02", 0), (11, 3))  # a window across new year
    assert [m for m in range(1, 13) if in_season(m, (11, 2))] == [1, 2, 11, 12]


class LaggingStore:
    """One process's view of a shared store: its own writes at once, other processes' after refresh()
    (as the Kafka compacted-topic store)."""

    def __init__(self, shared: SqliteStore) -> None:
        self.shared = shared
        self.view: dict[tuple[str, str], Doc] = {}
        self.refresh()

    def refresh(self) -> int:
        self.view = {(t, k): v for t in ("scenes", "tiles") for k, v in self.shared.scan(t)}
        return len(self.view)

    def get(self, table: str, key: str) -> Doc | None:
        return self.view.get((table, key))

    def put(self, table: str, key: str, value: Doc) -> None:
        self.shared.put(table, key, value)
        self.view[(table, key)] = value

    def scan(self, table: str, prefix: str = "") -> Iterator[tuple[str, Doc]]:
        for (t, k), v in sorted(self.view.items()):
            if t == table and k.startswith(prefix):
                yield k, v


def test_two_workers_finishing_the_last_two_tiles_at_once_do_not_both_miss_it(tmp_path: Path) -> None:
    shared = SqliteStore(tmp_path / "s.db")
    _plan(Ledger(shared), "S1", "2025-06-14", 2)
    a, b = Ledger(LaggingStore(shared)), Ledger(LaggingStore(shared))  # type: ignore[arg-type]
    a.tile_done("S1", "S1-0")
    b.tile_done("S1", "S1-1")  # neither has seen the other's tile yet
    assert a.get("S1")["state"] == b.get("S1")["state"] == "planned"
    sent = composite_trigger(a, _task("S1", "2025-06-14", 0), (5, 9)) + \
        composite_trigger(b, _task("S1", "2025-06-14", 1), (5, 9))
    assert len(sent) >= 1
