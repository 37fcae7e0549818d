"""The operator commands as an operator runs them: `greenwatch watch --backfill` (killed midway and
run again), `greenwatch scenes list/rerun --filter`, `greenwatch dlq list`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from greenwatch.schemas import decode
from greenwatch.services import topics
from greenwatch.services.bus import EmbeddedBus
from greenwatch.services.ledger import Ledger
from greenwatch.services.stac import Fault, fault_proxy
from greenwatch.services.store import SqliteStore

from .conftest import COLLECTION, T0, catalogue, make_item, series

pytestmark = [pytest.mark.stac, pytest.mark.slow]  # subprocesses: a few seconds each


def _env(data_dir: Path, url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GREENWATCH_")}
    source = {"url": url, "collection": COLLECTION, "max_cloud_cover": 60, "spatial": "none"}
    env.update({"GREENWATCH_DATA_DIR": str(data_dir), "GREENWATCH_WATCH__SOURCES": json.dumps([source]),
                "GREENWATCH_WATCH__BACKOFF_BASE_S": "0.01", "GREENWATCH_WATCH__BACKOFF_CAP_S": "0.05",
                "GREENWATCH_WATCH__BACKFILL_SLICE_DAYS": "10", "GREENWATCH_WATCH__PAGE_SIZE": "4",
                "GREENWATCH_METRICS__ENABLED": "false", **extra})
    return env


def _gw(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "greenwatch.services.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)


def _scenes(data_dir: Path) -> list[str]:
    bus = EmbeddedBus(data_dir / "bus.db", prefix="gw.")
    try:
        return [decode(r.value)["data"]["scene_id"] for r in bus.read_all(topics.SCENES)]
    finally:
        bus.close()


def test_backfill_killed_midway_resumes_and_counts_add_up(template: dict, tmp_path: Path) -> None:
    items = series(template, 30, every=timedelta(days=2), clouds=(10.0, 70.0, 30.0))  # 2024-01-01 .. 02-28
    broken = make_item(template, T0 + timedelta(days=5, hours=1))
    broken["assets"] = {}
    wanted = sorted(i["id"] for i in items if i["properties"]["eo:cloud_cover"] <= 60)
    data = tmp_path / "var"
    with catalogue(tmp_path, [*items, broken]) as url, \
            fault_proxy(url, lambda n, *_: Fault("stall", seconds=60) if n == 9 else None) as proxy:
        env = _env(data, proxy.url, GREENWATCH_WATCH__TIMEOUT_S="60")
        cmd = [sys.executable, "-m", "greenwatch.services.cli", "watch", "--backfill", "2024-01-01..2024-02-29"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while len(proxy.log) < 9 and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
            assert len(proxy.log) == 9, proc.communicate(timeout=5)
        finally:
            proc.send_signal(signal.SIGKILL)  # a crash: no clean-up, no last write
            proc.wait(timeout=10)
        before = _scenes(data)
        assert 0 < len(before) < len(wanted)
        resumed = _gw(_env(data, proxy.url), "watch", "--backfill", "2024-01-01..2024-02-29")
        again = _gw(_env(data, proxy.url), "watch", "--backfill", "2024-01-01..2024-02-29")
        dlq = _gw(_env(data, proxy.url), "dlq", "list", "--topic", "scenes")
    assert resumed.returncode == 0, resumed.stderr
    report = json.loads(resumed.stdout)
    progress = report["progress"][0]
    assert progress["finished"] and progress["next"] == "2024-03-01"
    after = _scenes(data)
    assert sorted(after) == wanted  # none lost, none twice, the cloudy third left out
    assert report["published"] == len(wanted) - len(before)
    assert json.loads(again.stdout)["seen"] == 0  # a finished backfill is not searched again
    lines = [json.loads(x) for x in dlq.stdout.splitlines()]
    assert [(x["key"], "no usable asset" in x["error"]) for x in lines] == [(broken["id"], True)]
    print(f"\nbackfill killed at request 9: {len(before)} published before the kill, "
          f"{report['published']} after the restart ({report['deduplicated']} deduplicated, "
          f"{report['filtered']} over the cloud limit), {len(after)} in all = {len(wanted)} wanted")


def test_backfill_arguments_are_checked(tmp_path: Path) -> None:
    env = _env(tmp_path / "var", "http://127.0.0.1:9")
    bad = _gw(env, "watch", "--backfill", "2024-12-31..2024-01-01")
    assert bad.returncode == 2 and "ends before it starts" in bad.stderr
    assert _gw(env, "watch", "--backfill", "2024-01-01").returncode == 2


def _ledger(data_dir: Path) -> dict[str, str]:
    """A ledger as the planner leaves it: some scenes planned, some failed, one superseded."""
    store = SqliteStore(data_dir / "state.db")
    ledger = Ledger(store)
    scenes = {}
    for i, (tile, state) in enumerate([("31UFT", "failed"), ("31UFT", "failed"), ("32ULC", "failed"),
                                       ("31UFT", "planned"), ("31UFT", "superseded")]):
        when = T0 + timedelta(days=30 * i)
        sid = f"S2B_MSIL2A_{when:%Y%m%dT%H%M%S}_N0511_R051_T{tile}_{when:%Y%m%dT%H%M%S}"
        ledger.discovered({"scene_id": sid, "item_id": sid, "collection": COLLECTION, "stac_api": "x",
                           "product_kind": "s2-l2a-eopf-zarr", "datetime": when.isoformat().replace("+00:00", "Z"),
                           "product_href": "file:///nowhere.zarr", "crs": "EPSG:32631", "bbox": [5, 52, 6, 53],
                           "mgrs_tile": tile})
        if state == "failed":
            ledger.failed(sid, "reader: boom")
        elif state == "planned":
            ledger.planned(sid, 0, "k1")
        else:
            ledger.superseded(sid, "newer")
        scenes[sid] = state
    store.close()
    return scenes


def test_scenes_list_and_rerun_by_filter(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir()
    scenes = _ledger(data)
    env = _env(data, "http://127.0.0.1:9")
    listed = _gw(env, "scenes", "list", "--filter", "state=failed", "--since", "2024-01-15", "--json")
    assert listed.returncode == 0, listed.stderr
    got = [json.loads(x) for x in listed.stdout.splitlines()]
    assert [(g["state"], g["tile"]) for g in got] == [("failed", "31UFT"), ("failed", "32ULC")]
    dry = _gw(env, "scenes", "rerun", "--filter", "state=failed,tile=31UFT", "--dry-run")
    assert dry.stdout.strip() == "would re-queue 2 scenes" and _scenes(data) == []
    done = _gw(env, "scenes", "rerun", "--filter", "tile=31UFT,date=2024-01-01..2024-12-31")
    # planned and failed 31UFT scenes again; the superseded one is left alone unless asked for
    expected = sorted(s for s, st in scenes.items() if "T31UFT" in s and st != "superseded")
    assert done.stdout.strip() == "re-queued 3 scenes" and sorted(_scenes(data)) == expected
    bad = _gw(env, "scenes", "rerun", "--filter", "colour=green")
    assert bad.returncode == 2 and "unknown key 'colour'" in bad.stderr
    bad_state = _gw(env, "scenes", "list", "--state", "lost")
    assert bad_state.returncode == 2 and "unknown state" in bad_state.stderr
