"""Progress for operators: a backfill reports each finished slice, a bulk re-run each scene."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from .conftest import Rig, catalogue, series


def test_backfill_reports_progress_after_each_slice(rig: Rig, template: dict, tmp_path: Path) -> None:
    items = series(template, 10, every=timedelta(days=3))
    seen: list[tuple[str, int, int]] = []
    with catalogue(tmp_path, items) as url:
        report = rig.watcher(url, slice_days=10).backfill("2024-01-01", "2024-01-31",
                                                          on_slice=lambda *a: seen.append(a))
    assert report.ok and report.slices == 4
    assert [done for _, done, _ in seen] == [10, 20, 30, 31]
    assert {total for _, _, total in seen} == {31}
