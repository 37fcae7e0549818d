"""The figures of docs/scale.md, computed: the Netherlands exactly from the 343 municipality polygons
(which Sentinel-2 tiles and which 1830 px tile tasks touch them, and how many areas each task
touches), the EU from stated parameters, and both turned into workers, partitions and storage with
the throughputs measured in results/bench_worker.json and results/bench_load.json.

    python -m benchmarks.scale_model            # prints the table, writes results/scale_model.json

What is computed here and what is assumed is marked in the JSON (`computed`, `assumed`, `measured`).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyproj
import shapely
from shapely.geometry import box

from greenwatch.services.areas import AreaSet

RESULTS = Path(__file__).resolve().parent / "results"
TILE_M, SQUARE_M, CHUNK_PX, TILE_PX = 109_800.0, 100_000.0, 1830, 10980
CHUNK_M = CHUNK_PX * 10.0

# measured on the synthetic run of tests/integration/test_faults.py (reference run, embedded bus)
CONTRIBUTION_BYTES = 727  # one stored tile contribution (JSON), the state store's biggest table
MAP_BYTES_PER_PX = 1.65  # class map (uint8) + canopy fraction (float32), zstd, synthetic scenes
TASK_PX = CHUNK_PX * CHUNK_PX

# --- Sentinel-2 acquisition geometry (ESA mission facts) ---------------------------------------------
SWATH_KM = 290.0
ORBITS_PER_CYCLE, CYCLE_DAYS, SATELLITES = 143, 10, 2
EQUATOR_KM = 40_075.0


def products_per_tile_per_day(lat_deg: float) -> float:
    """Products (one per tile per overlapping relative orbit and satellite pass) a tile gets per day:
    ground tracks of one satellite are EQUATOR/143 = 280 km apart at the equator, closer by cos(lat);
    a tile 109.8 km wide is touched by (swath + tile width) / spacing relative orbits, each revisited
    every 10 days by each of the 2 satellites. Partial products (the swath's edge) count: the planner
    makes tasks for every chunk that touches an area, whatever the valid fraction."""
    spacing = EQUATOR_KM / ORBITS_PER_CYCLE * math.cos(math.radians(lat_deg))
    orbits = max(1.0, (SWATH_KM + TILE_M / 1000) / spacing)
    return orbits * SATELLITES / CYCLE_DAYS


def nl_tiles(areas: AreaSet) -> dict[str, Any]:
    """Every Sentinel-2 tile (zones 31 and 32) whose 109.8 km extent touches a municipality, and per tile
    the 1830 px chunks (tile tasks) that touch one, with the number of municipalities each touches."""
    lonlat = shapely.union_all([shapely.make_valid(g) for g in areas.geoms])  # the simplified polygons self-touch
    tiles, tasks, results, core_tasks, core_results = [], 0, 0, 0, 0
    for zone in (31, 32):
        zone_box = box(6.0 * (zone - 31), 48.0, 6.0 * (zone - 30), 56.0)  # band U: 48-56 N
        crs = f"EPSG:{32600 + zone}"
        to_utm = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        geoms = areas.projected(crs)
        tree = shapely.STRtree(geoms)
        nl = shapely.transform(lonlat, to_utm.transform, interleaved=False)
        zone_utm = shapely.transform(shapely.segmentize(zone_box, 0.05), to_utm.transform, interleaved=False)
        x0s = range(100_000, 900_000, 100_000)
        y0s = range(5_300_000, 6_300_000, 100_000)
        for x0 in x0s:
            for y0 in y0s:
                square = box(x0, y0, x0 + SQUARE_M, y0 + SQUARE_M)
                if not square.intersects(zone_utm):
                    continue  # no MGRS square (no tile) of this zone there
                uly = y0 + SQUARE_M + 20.0  # ESA's tile origin: the square's NW corner (+20 m)
                extent = box(x0, uly - TILE_M, x0 + TILE_M, uly)
                if not extent.intersects(nl):
                    continue
                # the tile's core (services/areas/_mgrs.py): its 100 km square within the zone's strip
                core = square.intersection(zone_utm)
                n_tasks = n_results = n_core_tasks = n_core_results = 0
                for i in range(TILE_PX // CHUNK_PX):
                    for j in range(TILE_PX // CHUNK_PX):
                        left, top = x0 + j * CHUNK_M, uly - i * CHUNK_M
                        chunk = box(left, top - CHUNK_M, left + CHUNK_M, top)
                        hit = [k for k in tree.query(chunk) if geoms[k].intersects(chunk)]
                        if hit:
                            n_tasks += 1
                            n_results += len(hit)
                        cored = chunk.intersection(core)
                        core_hit = [k for k in hit if not cored.is_empty and geoms[k].intersects(cored)]
                        if core_hit:
                            n_core_tasks += 1
                            n_core_results += len(core_hit)
                tiles.append({"zone": zone, "x0": x0, "y0": y0, "tasks": n_tasks, "results": n_results,
                              "core_tasks": n_core_tasks, "core_results": n_core_results})
                tasks += n_tasks
                results += n_results
                core_tasks += n_core_tasks
                core_results += n_core_results
    land_km2 = sum(areas.geodesic_area_m2(i) for i in range(len(areas.ids))) / 1e6
    # tasks_per_round counts every chunk of a tile that touches an area (the model's upper bound);
    # core_tasks_per_round only those holding an area pixel of the tile's core, which the planner makes
    return {"tiles": len(tiles), "tasks_per_round": tasks, "results_per_round": results,
            "results_per_task": round(results / tasks, 2), "core_tasks_per_round": core_tasks,
            "core_results_per_round": core_results, "areas": len(areas.ids), "area_km2": round(land_km2),
            "per_tile": tiles}


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.is_file() else None


def measured() -> dict[str, Any]:
    worker, load = _load("bench_worker.json"), _load("bench_load.json")
    out: dict[str, Any] = {}
    if worker:
        tasks = worker["context"]["product"]["tasks"]
        s = worker["seconds"]
        out["worker_tasks_per_s_no_maps"] = round(tasks / s["worker.handle (+ messages, ledger)"], 2)
        out["worker_tasks_per_s_with_maps"] = round(tasks / s["worker + class maps written"], 2)
        out["bench_worker_cores"] = worker["context"]["cores"]
    if load:
        one = load["runs"][0]
        out["pipeline_tasks_per_s_1_worker"] = one["tiles_per_s"]
        out["pipeline_tasks_per_s_by_workers"] = {r["workers"]: r["tiles_per_s"] for r in load["runs"]}
        out["merger_results_per_busy_s"] = one["stages"]["merger"]["records_per_busy_s"]
        out["trend_observations_per_busy_s"] = one["stages"]["trend"]["records_per_busy_s"]
        out["stored_bytes_per_task"] = load["context"]["scenario"]["tile_bytes"]["stored_bytes_per_task"]
        out["decoded_bytes_per_task"] = load["context"]["scenario"]["tile_bytes"]["decoded_bytes_per_task"]
        out["zstd_ratio_synthetic"] = load["context"]["scenario"]["tile_bytes"]["zstd_ratio"]
        out["bench_load_cores"] = load["context"]["cores"]
    return out


def model(region: str, tasks_per_round: float, results_per_task: float, lat: float, m: dict[str, Any],
          backfill_years: float = 3.0, backfill_days: float = 2.0) -> dict[str, Any]:
    per_day = tasks_per_round * products_per_tile_per_day(lat)
    results_day = per_day * results_per_task
    # conservative: one worker inside the whole pipeline on the benchmark's 2 cores (bench_load);
    # the isolated worker with maps (bench_worker) is the optimistic bound
    task_rate = m.get("pipeline_tasks_per_s_1_worker", 1.0)
    task_rate_best = m.get("worker_tasks_per_s_with_maps", task_rate)
    merger_rate = m.get("merger_results_per_busy_s", 1.0)
    backfill_tasks = per_day * 365 * backfill_years
    window_s = backfill_days * 86400
    stored = m.get("stored_bytes_per_task", 15e6)
    return {
        "region": region,
        "tasks_per_day": round(per_day),
        "results_per_day": round(results_day),
        "live_worker_busy_s_per_day": round(per_day / task_rate),
        "live_merger_busy_s_per_day": round(results_day / merger_rate),
        "bytes_read_per_day_gb": round(per_day * stored / 1e9, 1),
        "backfill_years": backfill_years,
        "backfill_tasks": round(backfill_tasks),
        "backfill_bytes_read_tb": round(backfill_tasks * stored / 1e12, 1),
        "backfill_window_days": backfill_days,
        "workers_for_backfill": math.ceil(backfill_tasks / task_rate / window_s),
        "workers_for_backfill_isolated_rate": math.ceil(backfill_tasks / task_rate_best / window_s),
        "mergers_for_backfill": math.ceil(backfill_tasks * results_per_task / merger_rate / window_s),
        "read_gbit_s_during_backfill": round(backfill_tasks * stored * 8 / window_s / 1e9, 1),
        "contributions_per_year": round(results_day * 365),
        "state_gb_per_year": round(results_day * 365 * CONTRIBUTION_BYTES / 1e9, 2),
        "maps_tb_per_year": round(per_day * 365 * TASK_PX * MAP_BYTES_PER_PX / 1e12, 2),
    }


def main() -> int:
    areas = AreaSet.load()
    nl = nl_tiles(areas)
    m = measured()
    eu_land_km2 = 4.23e6  # assumed: EU-27 area
    chunk_km2 = (CHUNK_M / 1000) ** 2
    overlap = (TILE_M / SQUARE_M) ** 2  # each point lies in 1.21 tiles of its zone (more at zone edges)
    eu_upper_tasks = eu_land_km2 / chunk_km2 * overlap
    eu = {
        "assumed": {"land_km2": eu_land_km2, "mean_latitude": 50.0, "urban_chunk_share": [0.25, 0.6, 1.0],
                    "results_per_task": nl["results_per_task"]},
        "tasks_per_round": {k: round(eu_upper_tasks * s) for k, s in zip(("low", "central", "high"),
                                                                           (0.25, 0.6, 1.0), strict=True)},
    }
    doc = {
        "computed": {"nl": {k: v for k, v in nl.items() if k != "per_tile"},
                     "nl_tiles": nl["per_tile"],
                     "products_per_tile_per_day": {lat: round(products_per_tile_per_day(lat), 3)
                                                   for lat in (0, 40, 45, 50, 52.2, 55, 60, 65)}},
        "measured": m,
        "eu": eu,
        "model": {
            "nl": model("NL", nl["tasks_per_round"], nl["results_per_task"], 52.2, m),
            **{f"eu_{k}": model(f"EU ({k})", v, nl["results_per_task"], 50.0, m)
               for k, v in eu["tasks_per_round"].items()},
        },
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "scale_model.json").write_text(json.dumps(doc, indent=2) + "\n")
    print(json.dumps({k: v for k, v in doc.items() if k != "computed"} | {"nl": doc["computed"]["nl"]}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
