"""Load benchmark: N scenes x M tile tasks through the real Kafka broker with 1, 2 and 4 worker processes.

    python -m benchmarks.bench_load                         # or: make bench-load (starts its own broker)
    python -m benchmarks.bench_load --scenes 6 --workers 1,2  # quicker

The workload it stands for: a backfill burst. The watcher publishes N scenes at once (one STAC poll),
`greenwatch work` processes (W of them, one consumer group), one `merge` and one `trend` process run
as real processes on one machine, sharing a data directory (SQLite state store, Zarr time series), as
in `deploy/compose.yaml`. Products are synthetic EOPF Zarr v3 (zstd) at the real chunking (1830 x 1830
px per tile task); class maps are written (the default `work.write_maps`).

Measured per worker count, in one run:
* throughput: tile tasks and megapixels per second, from the first scene's publish time to the last
  tile result (the worker group's output); also each stage's busy rate from its handler-time histogram;
* end-to-end latency per scene: from the watcher's publish time (the scene event's `time`) to the
  trend service's commit of the scene's last observation (its compliance states durable; the group's
  committed offsets are sampled every 0.25 s), and to the observation (the merger's event `time`);
  p50/p95 over the burst's scenes, so queueing behind earlier scenes is included;
* consumer lag of every group over time (sampled every 0.25 s).

On 2 cores the worker count is bounded by the cores: past 2 processes they compete for the same CPUs
(with the merger and trend), so the 4-worker figure shows oversubscription, not scale-out. Tasks are
keyed by scene id, so a scene's tasks go to one partition (one worker): parallelism is across scenes.
Writes results/bench_load.json and results/bench_load.png; the products are generated once under
--data (default var/bench-load, git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._cluster import GROUPS, Deployment, scrape, wait_until
from benchmarks._load import chart, compressed_bytes, latency_stats, stage_rates
from benchmarks._report import context
from greenwatch.schemas import decode
from greenwatch.services import topics
from greenwatch.services.app import App
from greenwatch.services.config import BusSettings, ClmsSettings, Settings, SourceSettings, WatchSettings
from greenwatch.services.sampledata import Scenario, generate
from greenwatch.services.stac import serve_stac
from greenwatch.services.worker._common import ProductOpener, label_raster

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
SAMPLE_EVERY_S = 0.25


def scenario_for(data: Path, scenes: int, size: int, chunk: int) -> tuple[Path, Scenario]:
    dates = tuple(date(2024, 4, 1) + timedelta(days=5 * i) for i in range(scenes))
    scenario = Scenario(size=size, chunk=chunk, dates=dates, change_area=None)
    folder = data / f"scenes-{scenes}-{size}-{chunk}"
    if not (folder / "done").is_file():
        shutil.rmtree(folder, ignore_errors=True)
        print(f"generating {scenes} products of {size} x {size} px (chunks {chunk}) under {folder} ...", flush=True)
        started = time.perf_counter()
        generate(folder, scenario)
        print(f"  {time.perf_counter() - started:.0f} s", flush=True)
        (folder / "done").touch()
    return folder, scenario


def _settings(data_dir: Path, stac_url: str, bootstrap: str, prefix: str, partitions: int) -> Settings:
    return Settings(
        data_dir=data_dir,
        bus=BusSettings(kind="kafka", bootstrap=bootstrap, topic_prefix=prefix, partitions=partitions),
        watch=WatchSettings(sources=[SourceSettings(url=stac_url, collection="sentinel-2-l2a-zarr3",
                                                    max_cloud_cover=100.0, start="2024-01-01")]),
        clms=ClmsSettings(enabled=False),
    )


class Sampler(threading.Thread):
    """Every SAMPLE_EVERY_S: each group's lag, and the trend group's committed offset per partition."""

    def __init__(self, app: App, bootstrap: str, prefix: str) -> None:
        super().__init__(daemon=True)
        from kafka import KafkaAdminClient

        self.app, self.prefix = app, prefix
        self.admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        self.samples: list[dict[str, Any]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        from kafka import TopicPartition

        parts = [TopicPartition(self.prefix + topics.OBSERVATIONS, p)
                 for p in range(self.app.settings.bus.partitions)]
        group = self.prefix + "trend"
        while not self.stop.is_set():
            t = time.time()
            try:
                lag = {g: self.app.bus.group_lag(list(tps), g) for g, tps in GROUPS.values()}
                committed = self.admin.list_group_offsets({group: parts}).get(group, {})
                trend = {tp.partition: c.offset for tp, c in committed.items() if c is not None}
            except Exception as exc:  # noqa: BLE001 - a missed sample is not a failed run
                print(f"  sample failed: {exc!r}", flush=True)
            else:
                self.samples.append({"t": t, "lag": lag, "trend_committed": trend})
            self.stop.wait(SAMPLE_EVERY_S)
        self.admin.close()


def run_one(workers: int, args: argparse.Namespace, folder: Path, stac_url: str, cache: Path) -> dict[str, Any]:
    data_dir = args.data / f"run-{workers}"
    shutil.rmtree(data_dir, ignore_errors=True)
    (data_dir / "cache").mkdir(parents=True)
    (data_dir / "cache" / "areas").symlink_to(cache, target_is_directory=True)  # label rasters made once
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    app = App.build(_settings(data_dir, stac_url, args.bootstrap, prefix, args.partitions))
    dep = Deployment(data_dir, args.bootstrap, prefix, partitions=args.partitions)
    sampler = Sampler(app, args.bootstrap, prefix)
    try:
        for i in range(workers):
            dep.start("work", f"work-{i + 1}")
        dep.start("merge")
        dep.start("trend")
        dep.wait_serving()
        sampler.start()
        published_at = time.time()
        n = app.watcher().poll().published
        settled = wait_until(lambda: _settled(app, n, dep), "the burst to be processed", args.timeout, 0.25)
        time.sleep(2 * SAMPLE_EVERY_S)
        sampler.stop.set()
        sampler.join()
        metrics = {name: scrape(p.port) for name, p in dep.procs.items()}
    finally:
        dep.stop()
    try:
        return _measure(app, workers, n, published_at, settled, sampler.samples, metrics)
    finally:
        app.close()


def _settled(app: App, n: int, dep: Deployment) -> bool:
    dep.check_alive()
    if sum(1 for d in app.ledger.list() if d.get("state") == "complete") < n:
        return False
    return all(app.bus.group_lag(list(tps), g) == 0 for g, tps in GROUPS.values())


def _time(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()


def _measure(app: App, workers: int, n: int, published_at: float, settled_s: float,
             samples: list[dict[str, Any]], metrics: dict[str, Any]) -> dict[str, Any]:
    scenes = {decode(r.value)["data"]["scene_id"]: _time(decode(r.value)) for r in app.bus.read_all(topics.SCENES)}
    tasks = {}
    per_partition: dict[int, int] = {}
    for r in app.bus.read_all(topics.TASKS):
        task = decode(r.value)["data"]
        if task["task_id"] not in tasks:
            per_partition[r.partition] = per_partition.get(r.partition, 0) + 1
        tasks[task["task_id"]] = task["window"]["height"] * task["window"]["width"]
    results = [decode(r.value) for r in app.bus.read_all(topics.RESULTS)]
    first, last_result = min(scenes.values()), max(_time(e) for e in results)
    obs_at: dict[str, float] = {}
    state_at: dict[str, float] = {}
    for r in app.bus.read_all(topics.OBSERVATIONS):
        ev = decode(r.value)
        committed = next((s["t"] for s in samples if s["trend_committed"].get(r.partition, -1) > r.offset), None)
        for sid in ev["data"]["scene_ids"]:
            obs_at[sid] = max(obs_at.get(sid, 0.0), _time(ev))
            if committed is not None:
                state_at[sid] = max(state_at.get(sid, 0.0), committed)
    worker_s = last_result - first
    pixels = sum(tasks.values())
    return {
        "workers": workers,
        "scenes": n,
        "tile_tasks": len(tasks),
        "tasks_per_partition": dict(sorted(per_partition.items())),
        "tile_results": len(results),
        "megapixels": round(pixels / 1e6, 1),
        "tiles_per_s": round(len(tasks) / worker_s, 3),
        "mpx_per_s": round(pixels / 1e6 / worker_s, 2),
        "worker_span_s": round(worker_s, 2),
        "settled_s": round(settled_s, 2),
        "publish_to_first_event_s": round(first - published_at, 3),
        "latency_to_observation_s": latency_stats([obs_at[s] - t for s, t in scenes.items() if s in obs_at]),
        "latency_to_state_s": latency_stats([state_at[s] - t for s, t in scenes.items() if s in state_at]),
        "stages": stage_rates(metrics),
        "lag": [{"t": round(s["t"] - first, 2), **s["lag"]} for s in samples],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenes", type=int, default=12, help="scenes in the burst (default 12)")
    parser.add_argument("--size", type=int, default=3660, help="product side in 10 m px (default 3660: 4 tasks)")
    parser.add_argument("--chunk", type=int, default=1830, help="chunk side = tile task (default 1830, EOPF zarr3)")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts to run (default 1,2,4)")
    parser.add_argument("--partitions", type=int, default=4, help="partitions per topic (default 4)")
    parser.add_argument("--bootstrap", default=os.environ.get("GREENWATCH_TEST_KAFKA", "127.0.0.1:9092"))
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds one worker count may take")
    parser.add_argument("--data", type=Path, default=ROOT / "var" / "bench-load", help="products and runs")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON and PNG")
    args = parser.parse_args(argv)
    counts = [int(w) for w in args.workers.split(",")]

    ctx = context()
    if ctx["load_average_start"][0] > 0.5 * int(ctx["cores"] or 1):
        print(f"WARNING: load average {ctx['load_average_start']}: other processes compete for the cores", flush=True)
    folder, scenario = scenario_for(args.data, args.scenes, args.size, args.chunk)
    items = sorted((folder / "stac" / "items").glob("*.json"))
    products = sorted((folder / "products").glob("*.zarr"))
    cache = args.data / "label-cache"
    label_raster(App.build(_settings(args.data / "warm", "http://127.0.0.1:1", args.bootstrap, "bench-warm.", 1)
                           ).areas, ProductOpener(["file"])(str(products[0])), cache)
    sizes = compressed_bytes(products[0], args.chunk)
    runs = []
    with serve_stac([folder / "stac" / "collection.json", *items]) as url:
        for w in counts:
            print(f"{w} worker process(es) ...", flush=True)
            run = run_one(w, args, folder, url, cache)
            runs.append(run)
            print(f"  {run['tiles_per_s']:.2f} tiles/s, {run['mpx_per_s']:.1f} Mpx/s, latency to state p50 "
                  f"{run['latency_to_state_s']['p50']} s p95 {run['latency_to_state_s']['p95']} s, "
                  f"settled after {run['settled_s']:.1f} s", flush=True)
    base = runs[0]
    for r in runs:
        r["speedup_vs_first"] = round(r["tiles_per_s"] / base["tiles_per_s"], 3)
    doc = {
        "context": {**ctx, "load_average_end": os.getloadavg(),
                    "scenario": {"scenes": args.scenes, "size": args.size, "chunk": args.chunk,
                                 "partitions": args.partitions, "tile_bytes": sizes,
                                 "dates": [d.isoformat() for d in scenario.dates]}},
        "runs": runs,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_load.json").write_text(json.dumps(doc, indent=2) + "\n")
    chart(args.out / "bench_load.png", doc)
    print(f"wrote {args.out / 'bench_load.json'} and {args.out / 'bench_load.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

