"""Kernel benchmarks on a full synthetic Sentinel-2 tile: one command, one run, ratios from that run.

    python -m benchmarks.bench_kernels            # or: python benchmarks/bench_kernels.py
    python -m benchmarks.bench_kernels --size 2048 --repeats 3   # quicker, smaller tile

Measures, in the same process: the read bandwidth (Numba integer sum over 1 GiB, 1 and all threads),
the NumPy reference of each kernel, each Numba kernel on 1 thread and on all threads, and
xarray-spatial's ``ndvi`` for reference. Prints a table (Mpx/s, GB/s of input read, % of read
bandwidth, speed-up against NumPy and against 1 thread), the issue's targets as ratios, and writes
``benchmarks/results/bench_kernels.json`` and ``bench_kernels.png``. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numba
import numpy as np

import greenwatch.kernels as gk
from greenwatch.kernels import reference

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._report import Row, context, table, targets, write
from benchmarks._tile import TILE, Tile, make_tile, read_bandwidth

RESULTS = Path(__file__).resolve().parent / "results"
SEASON_DATES = 12


def _best(func: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """(best of ``repeats`` timed calls, duration of the first, untimed-for-best call)."""
    start = time.perf_counter()
    func()
    first = time.perf_counter() - start
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - start)
    return best, first


def _once(func: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = func()
    return time.perf_counter() - start, result


def _differences(got: Any, want: Any) -> int:
    """Elements that differ between a kernel's result and its reference (NaN equals NaN)."""
    if isinstance(got, gk.AreaCounts):
        got = (got.class_counts, got.valid, got.canopy_sum)
        want = (want.class_counts, want.valid, want.canopy_sum)
    return sum(
        int(np.count_nonzero(~((a == b) | (np.isnan(a) & np.isnan(b)) if a.dtype.kind == "f" else a == b)))
        for a, b in zip(got, want, strict=True)
    )


def run(size: int, repeats: int, out_dir: Path, bandwidth_mib: int = 1024) -> int:
    ctx = context()
    if ctx["load_average_start"][0] > 0.5 * (ctx["cores"] or 1):
        print(f"WARNING: load average {ctx['load_average_start']}: other processes compete for the cores; "
              "multi-thread figures (and the read bandwidth) will be low", flush=True)  # fmt: skip
    max_threads = numba.config.NUMBA_NUM_THREADS
    thread_counts = sorted({1, max_threads})
    print(f"context: {ctx['cpu']}, {ctx['cores']} cores, numba {ctx['versions']['numba']}, "
          f"threads {thread_counts}, load average {ctx['load_average_start']}", flush=True)  # fmt: skip

    bandwidth = {t: read_bandwidth(t, bandwidth_mib << 20) for t in thread_counts}
    print("read bandwidth GB/s:", {t: round(v, 2) for t, v in bandwidth.items()}, flush=True)

    tile: Tile = make_tile(size)
    ctx["tile"] = {"shape": [size, size], "pixels": tile.pixels, "areas": tile.n_areas}
    px = tile.pixels
    params, radiometry = gk.ClassifyParams(), gk.Radiometry()
    bands = (tile.b03, tile.b04, tile.b08)
    out = (np.empty(tile.b03.shape, np.uint8), np.empty(tile.b03.shape, np.float32))
    half = max(1, size // 2)
    rng = np.random.default_rng(1)
    stack = rng.uniform(-0.2, 0.9, (SEASON_DATES, half, half)).astype(np.float32)
    stack[rng.random(stack.shape, dtype=np.float32) < 0.3] = np.nan

    s2_bytes = 3 * 2 * px + tile.scl.nbytes
    cases: list[tuple[str, str, Callable[[int], Any], Callable[[], Any], int, int]] = [
        ("classify", "class map + canopy fraction of one tile (worker, per scene; output buffers reused)",
         lambda t: gk.classify(*bands, tile.scl, radiometry, params, threads=t, out=out),
         lambda: reference.classify(*bands, tile.scl, radiometry, params), px, s2_bytes),
        ("classify_count", "per-area class counts + canopy of one tile, no map (worker, main path)",
         lambda t: gk.classify_count(*bands, tile.scl, tile.labels, tile.n_areas, radiometry, params, threads=t),
         lambda: reference.classify_count(*bands, tile.scl, tile.labels, tile.n_areas, radiometry, params),
         px, s2_bytes + tile.labels.nbytes),
        ("classify_ndvi", "classes of an NDVI composite (annual indicator)",
         lambda t: gk.classify_ndvi(tile.ndvi, params, threads=t),
         lambda: reference.classify_ndvi(tile.ndvi, params), px, tile.ndvi.nbytes),
        ("season_composite", f"median NDVI of {SEASON_DATES} dates, quarter tile (annual indicator)",
         lambda t: gk.season_composite(stack, threads=t),
         lambda: reference.season_composite(stack), half * half, stack.nbytes),
        ("clcplus_count", "CLC+ Backbone classes per area (official layer)",
         lambda t: gk.clcplus_count(tile.clcplus, tile.labels, tile.n_areas, threads=t),
         lambda: reference.clcplus_count(tile.clcplus, tile.labels, tile.n_areas),
         px, tile.clcplus.nbytes + tile.labels.nbytes),
        ("tcd_count", "Tree Cover Density canopy per area (official layer)",
         lambda t: gk.tcd_count(tile.tcd, tile.labels, tile.n_areas, threads=t),
         lambda: reference.tcd_count(tile.tcd, tile.labels, tile.n_areas),
         px, tile.tcd.nbytes + tile.labels.nbytes),
    ]  # fmt: skip

    rows: list[Row] = []
    for name, workload, kernel, ref, pixels, nbytes in cases:
        ref_s, want = _once(ref)
        for t in thread_counts:
            best, first = _best(lambda kernel=kernel, t=t: kernel(t), repeats)
            diff = _differences(kernel(t), want)
            rows.append(Row(name, workload, t, best, first, pixels, nbytes, ref_s if t == 1 else None, diff))
            ref_note = f" (NumPy reference {pixels / ref_s / 1e6:.1f} Mpx/s)" if t == 1 else ""
            print(f"  {name} threads={t}: {pixels / best / 1e6:.0f} Mpx/s{ref_note}, "
                  f"elements differing from the reference: {diff}", flush=True)  # fmt: skip
        del want
        gc.collect()
    rows.append(_xrspatial(tile, repeats))
    ctx["threading_layer_used"] = numba.threading_layer()

    tgts = targets(rows, bandwidth)
    print()
    print(table(rows, bandwidth))
    print("\ntargets (ratios from this run):")
    for tg in tgts:
        print(f"  [{'met' if tg['met'] else 'MISS'}] {tg['target']}: {tg['value']} (goal {tg['goal']})")
    json_path, png_path = write(out_dir, ctx, rows, bandwidth, tgts)
    print(f"\nwrote {json_path} and {png_path}")
    return 0


def _xrspatial(tile: Tile, repeats: int) -> Row:
    import xarray as xr
    from xrspatial.multispectral import ndvi

    nir, red = xr.DataArray(tile.b08, dims=("y", "x")), xr.DataArray(tile.b04, dims=("y", "x"))
    best, first = _best(lambda: ndvi(nir, red), repeats)
    workload = "xarray-spatial ndvi(B08, B04): float32 NDVI only, for reference (its own 1-thread loop)"
    return Row("xrspatial.ndvi", workload, 1, best, first, tile.pixels, tile.b08.nbytes + tile.b04.nbytes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=TILE, help=f"tile side in pixels (default {TILE})")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per kernel; the best is kept")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON and PNG")
    parser.add_argument("--bandwidth-mib", type=int, default=1024, help="buffer summed for the read bandwidth")
    args = parser.parse_args(argv)
    return run(args.size, args.repeats, args.out, args.bandwidth_mib)


if __name__ == "__main__":
    raise SystemExit(main())
