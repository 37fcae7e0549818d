"""Season compositor benchmark: one tile-year's per-pixel composite against the tile worker's time for the
same scenes, measured in the same run.

    python -m benchmarks.bench_composite                      # 8 dates of a 3660 x 3660 px tile
    python -m benchmarks.bench_composite --size 1830 --dates 4   # quicker

The workload it stands for: `greenwatch composite` handling one composite task of one MGRS tile and
year: reading every complete season scene's class map and canopy fraction (chunk by chunk, at the
EOPF 1830 x 1830 px chunking), majority class and median canopy fraction per pixel, counting per area.
Its baseline is what the tile workers spent on the same scenes (`greenwatch work`, class maps written:
planning, read, classify, count, maps), timed by the runtime's handler-time histogram in the same
process. Both scale with the tile's pixels, so the ratio holds for a full 10980 x 10980 tile; the
compositor's time also grows with the dates (sorting network: O(T log^2 T) per pixel). The first
composite call (JIT cache load) is reported apart; then the best of --repeats. Writes
results/bench_composite.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import date, timedelta
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import context
from greenwatch.schemas import COMPOSITE_TASK, make_event
from greenwatch.services import metrics
from greenwatch.services.app import App, drain
from greenwatch.services.config import CompositeSettings, Settings, SourceSettings, WatchSettings
from greenwatch.services.sampledata import Scenario, generate
from greenwatch.services.stac import serve_stac

RESULTS = Path(__file__).resolve().parent / "results"


def _handler_seconds(service: str) -> float:
    return metrics.REGISTRY.get_sample_value("greenwatch_handler_seconds_sum", {"service": service}) or 0.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=3660, help="tile edge in px (even; 10980 is a full tile)")
    p.add_argument("--chunk", type=int, default=1830)
    p.add_argument("--dates", type=int, default=8, help="season dates (May to September)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--data", default="var/bench-composite")
    p.add_argument("--out", type=Path, default=RESULTS / "bench_composite.json")
    a = p.parse_args(argv)
    step = 140 // max(a.dates, 1)
    dates = tuple(date(2025, 5, 5) + timedelta(days=step * k) for k in range(a.dates))
    scenario = Scenario(size=a.size, chunk=a.chunk, dates=dates, change_area=None)
    data = Path(a.data)
    sample = data / f"sample-{a.size}-{a.chunk}-{a.dates}"
    if not (sample / "stac" / "collection.json").exists():
        shutil.rmtree(sample, ignore_errors=True)
        t = time.perf_counter()
        generate(sample, scenario)
        print(f"generated {a.dates} products of {a.size} x {a.size} px in {time.perf_counter() - t:.0f} s")
    run = data / "run"
    shutil.rmtree(run, ignore_errors=True)
    stac = sample / "stac"
    with serve_stac([stac / "collection.json", *sorted((stac / "items").glob("*.json"))]) as url:
        settings = Settings(data_dir=run, watch=WatchSettings(sources=[SourceSettings(
            url=url, collection=scenario.collection, max_cloud_cover=100.0, start="2025-01-01")]),
            composite=CompositeSettings(enabled=False))  # the worker alone first
        app = App.build(settings)
        assert app.watcher().poll().published == a.dates
        t = time.perf_counter()
        drain(app, [app.worker()])
        worker_wall = time.perf_counter() - t
    worker_s = _handler_seconds("worker")
    (first,) = list(app.ledger.list(state="complete"))[:1] or [None]
    assert first is not None, "no scene completed"
    scene = first["scene"]
    data_ = {"tile": scene["mgrs_tile"], "year": 2025, "kernel_version": first["kernel_version"],
             "area_set_version": app.areas.version, "scene_id": scene["scene_id"], "date": scene["datetime"][:10]}
    task = make_event(COMPOSITE_TASK, data_, source="bench")
    runs = []
    for _ in range(a.repeats + 1):
        t = time.perf_counter()
        out = app.compositor().handle(task)  # a fresh compositor: nothing recorded, always computed
        runs.append(time.perf_counter() - t)
    best = min(runs[1:])
    result = {
        "context": context(), "tile_px": a.size, "chunk_px": a.chunk, "dates": a.dates,
        "areas_sent": len(out), "worker_handler_s": worker_s, "worker_wall_s": worker_wall,
        "composite_first_s": runs[0], "composite_best_s": best, "composite_runs_s": runs[1:],
        "ratio_composite_to_worker": best / worker_s,
        "full_tile_estimate_s": best * (10980 / a.size) ** 2,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"tile {a.size} x {a.size} px, {a.dates} dates, chunk {a.chunk}: worker {worker_s:.2f} s for the "
          f"season's scenes (handler time; wall {worker_wall:.2f} s); composite {best:.2f} s (first call "
          f"{runs[0]:.2f} s); ratio composite / worker {best / worker_s:.3f}; full 10980 px tile: "
          f"~{result['full_tile_estimate_s']:.0f} s per tile-year. {a.out}")
    app.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
