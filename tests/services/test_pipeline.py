"""The walking skeleton end to end on the embedded bus: STAC API -> scenes -> tasks -> results ->
observations -> states -> alerts; redelivery changes nothing; a killed run restarts to the same result."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from greenwatch import kernels
from greenwatch.services.app import App, drain
from greenwatch.services.ops import rerun_scenes
from greenwatch.services.report import alerts
from greenwatch.services.worker.reader import open_product

from ..conftest import CHANGE_AREA, Sample

pytestmark = pytest.mark.stac


def _series(data_dir: Path) -> xr.Dataset:
    ds = xr.open_zarr(data_dir / "series.zarr").load()
    keep = ds["n_products"].sum("area") > 0
    return ds.isel(time=np.nonzero(keep.values)[0])


def test_scenes_end_complete_and_states_and_alerts_follow(finished: App) -> None:
    ledger = list(finished.ledger.list())
    assert len(ledger) == 6 and {d["state"] for d in ledger} == {"complete"}
    states = {d["area_id"]: d for _, d in finished.store.scan("states")}
    evaluated = [a for a, d in states.items() if d["state"] != "insufficient-data" and a != "national"]
    assert len(evaluated) >= 3
    assert states[CHANGE_AREA]["state"] == "net-loss"
    assert states[CHANGE_AREA]["figures"]["canopy_change_pct"] < -20
    got = alerts(finished)
    assert any(a["area_id"] == CHANGE_AREA and a["alert_type"] == "canopy-loss" for a in got)
    # no other municipality loses canopy beyond the alert threshold
    assert {a["area_id"] for a in got if a["alert_type"] == "canopy-loss"} <= {CHANGE_AREA, "national"}


def test_per_area_counts_equal_a_brute_force_numpy_computation(finished: App, sample: Sample) -> None:
    """The chunked, fused Numba path against the NumPy reference over the whole scene at once."""
    from greenwatch.kernels import reference

    scene = sorted(finished.ledger.list(), key=lambda d: d["scene_id"])[0]["scene"]
    product = open_product(scene["product_href"])
    b03, b04, b08, scl = product.read_window(0, 0, *product.shape)
    from greenwatch.services.worker._common import area_labels

    _, labels = area_labels(finished.areas, product, None)
    radiometry = kernels.radiometry_for(scene["processing_baseline"], product.scale_factor, product.add_offset)
    ref = reference.classify_count(b03, b04, b08, scl, labels, len(finished.areas.ids), radiometry,
                                   kernels.ClassifyParams())
    contributions = [d for _, d in finished.store.scan("contributions") if d["scene_id"] == scene["scene_id"]]
    assert contributions
    names = ("invalid", "water", "tree", "other_green", "not_green")
    for area_id in {c["area_id"] for c in contributions}:
        i = finished.areas.index(area_id)
        mine = [c for c in contributions if c["area_id"] == area_id]
        for k, name in enumerate(names):
            assert sum(c["class_counts"][name] for c in mine) == ref.class_counts[i, k], (area_id, name)
        assert sum(c["valid_count"] for c in mine) == ref.valid[i]
        assert sum(c["canopy_fraction_sum"] for c in mine) == pytest.approx(ref.canopy_sum[i], rel=1e-9)


def test_delivering_every_scene_again_changes_nothing(finished: App) -> None:
    before = _series(finished.settings.data_dir)
    n_alerts = len(alerts(finished))
    assert rerun_scenes(finished) == 6  # the same scenes published again, every message redone
    drain(finished, finished.services())
    after = _series(finished.settings.data_dir)
    xr.testing.assert_identical(before, after)
    assert len(alerts(finished)) == n_alerts


def test_a_run_killed_after_tile_results_restarts_to_the_same_series(
    finished: App, tmp_path: Path, stac_url: str
) -> None:
    env = {**os.environ, "GREENWATCH_DATA_DIR": str(tmp_path),
           "GREENWATCH_WATCH__SOURCES": f'[{{"url": "{stac_url}", "collection": "sentinel-2-l2a-zarr3", '
                                        f'"max_cloud_cover": 100, "start": "2024-01-01"}}]'}
    cmd = [sys.executable, "-m", "greenwatch.services.cli", "run", "--until-idle"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    db = tmp_path / "bus.db"
    killed_at = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=5) as conn:
                    (results,) = conn.execute("SELECT COUNT(*) FROM records WHERE topic = 'gw.results'").fetchone()
                    merged = conn.execute("SELECT COUNT(*) FROM group_offsets WHERE grp = 'gw.merger'").fetchone()[0]
            except sqlite3.OperationalError:  # the run has created the file but not its tables yet
                results, merged = 0, 0
            if results > 0 and merged == 0:
                proc.send_signal(signal.SIGKILL)
                killed_at = results
                break
        time.sleep(0.05)
    proc.wait(timeout=30)
    assert killed_at is not None, "the run ended before it could be killed between results and merge"
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=300)
    xr.testing.assert_identical(_series(tmp_path), _series(finished.settings.data_dir))


def test_a_bulk_rerun_reports_progress_per_scene(finished: App) -> None:
    before = _series(finished.settings.data_dir)
    calls: list[tuple[int, int]] = []
    first_two = sorted(d["scene_id"] for d in finished.ledger.list())[:1]
    n = rerun_scenes(finished, scene=first_two[0], on_progress=lambda done, total: calls.append((done, total)))
    assert n == 1 and calls == [(1, 1)]
    drain(finished, finished.services())
    xr.testing.assert_identical(before, _series(finished.settings.data_dir))
