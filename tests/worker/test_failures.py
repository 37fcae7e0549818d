"""Completeness and failure through the real consumer loop (embedded bus): a corrupt or missing chunk fails
its task alone, which is dead-lettered with the reason while the rest of the scene is processed, and the
ledger says the scene is incomplete and why; transient faults are retried, then dead-lettered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from greenwatch.schemas import decode, encode
from greenwatch.services import topics
from greenwatch.services.app import App, drain
from greenwatch.services.bus import dlq_topic
from greenwatch.services.config import Settings, WorkSettings
from greenwatch.services.sampledata import GeneratedProduct
from greenwatch.services.worker import _chunks

from .conftest import R10M, SCL, chunk_file, copy_product, scene_event, scene_of


def _run(tmp_path: Path, scene: dict[str, Any], **work: Any) -> App:
    app = App.build(Settings(data_dir=tmp_path / "var", work=WorkSettings(**work)))
    app.bus.send(topics.SCENES, encode(scene_event(scene)), key=scene["scene_id"].encode())
    app.bus.flush()
    drain(app, [app.worker()])  # type: ignore[list-item]
    return app


def _tasks(app: App) -> list[dict[str, Any]]:
    return [decode(r.value)["data"] for r in app.bus.read_all(topics.TASKS)]


@pytest.mark.parametrize(("fmt", "array", "damage"), [(3, f"{R10M}/b04", "garbage"), (2, SCL, "missing")])
def test_a_bad_chunk_fails_its_task_and_the_scene_says_incomplete_and_why(
    layouts: dict[int, GeneratedProduct], tmp_path: Path, fmt: int, array: str, damage: str
) -> None:
    product = layouts[fmt]
    path = copy_product(product, tmp_path)
    bad = chunk_file(path, array, fmt, 2, 3)
    if damage == "missing":
        bad.unlink()
    else:
        bad.write_bytes(b"\x28\xb5\x2f\xfd" + bytes(range(256)) * 8)
    scene = scene_of(product, href=path.as_uri())
    app = _run(tmp_path, scene)
    tasks = _tasks(app)
    # 10 m chunk (2, 3) is rows 244-365, cols 366-487; the 20 m SCL chunk (2, 3) (61 px) covers the same
    failed = [t for t in tasks if (t["window"]["row"], t["window"]["col"]) == (244, 366)]
    assert len(tasks) == 36 and len(failed) == 1
    dead = app.bus.read_all(dlq_topic(topics.TASKS))
    assert len(dead) == 1 and decode(dead[0].value)["data"]["task_id"] == failed[0]["task_id"]
    reason = (dead[0].header("gw-error") or b"").decode()
    what = "corrupt chunk" if damage == "garbage" else "chunk missing"
    assert "ProductReadError" in reason and what in reason and array in reason, reason
    # every other task ran: one result per (task, area) of its window
    results = [decode(r.value)["data"] for r in app.bus.read_all(topics.RESULTS)]
    assert {r["task_id"] for r in results} == {t["task_id"] for t in tasks} - {failed[0]["task_id"]}
    assert len(results) == sum(len(t["area_tiles"]) for t in tasks if t is not failed[0])
    doc = app.ledger.get(scene["scene_id"])
    assert doc is not None and doc["state"] == "incomplete" and doc["tiles_done"] == 36
    assert doc["reason"].startswith("1 of 36 tiles failed: ProductReadError") and what in doc["reason"]
    app.close()


def test_a_fault_that_persists_is_retried_then_dead_lettered(
    layouts: dict[int, GeneratedProduct], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: dict[tuple[str, int, int], int] = {}
    real = _chunks.ChunkSource.read

    def flaky(self: _chunks.ChunkSource, i: int, j: int, pool: Any = None) -> Any:
        key = (self.label.rsplit("/", 1)[-1], i, j)
        calls[key] = calls.get(key, 0) + 1
        if key == ("b08", 0, 0) or (key == ("b03", 1, 1) and calls[key] == 1):
            raise ConnectionResetError("peer reset the connection")  # an OSError: transient
        return real(self, i, j, pool)

    monkeypatch.setattr(_chunks.ChunkSource, "read", flaky)
    scene = scene_of(layouts[3])
    app = _run(tmp_path, scene, max_attempts=3)
    dead = app.bus.read_all(dlq_topic(topics.TASKS))
    assert len(dead) == 1
    assert decode(dead[0].value)["data"]["window"] == {"row": 0, "col": 0, "height": 122, "width": 122}
    assert "failed 3 times, last: ConnectionResetError" in (dead[0].header("gw-error") or b"").decode()
    assert calls[("b08", 0, 0)] == 3 and calls[("b03", 1, 1)] == 2  # the passing fault cost one retry
    doc = app.ledger.get(scene["scene_id"])
    assert doc is not None and doc["state"] == "incomplete" and "ConnectionResetError" in doc["reason"]
    app.close()
