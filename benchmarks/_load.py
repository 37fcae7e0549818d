"""bench_load's arithmetic and chart: latency percentiles, per-stage busy rates from the processes'
handler-time histograms, stored bytes per tile task, and the PNG."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

READ = ("measurements/reflectance/r10m/b03", "measurements/reflectance/r10m/b04",
        "measurements/reflectance/r10m/b08", "conditions/mask/l2a_classification/r20m/scl")
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float] | None


def latency_stats(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "min": None, "max": None}
    a = np.asarray(values, dtype=float)
    return {"n": len(values), "p50": round(float(np.percentile(a, 50)), 2),
            "p95": round(float(np.percentile(a, 95)), 2), "min": round(float(a.min()), 2),
            "max": round(float(a.max()), 2)}


def stage_rates(metrics: dict[str, Samples]) -> dict[str, dict[str, float]]:
    """Per service: records handled, seconds spent in its handler (summed over its processes) and
    records per busy second: what one process of that stage sustains when it never waits."""
    out: dict[str, dict[str, float]] = {}
    for samples in metrics.values():
        for (name, labels), value in (samples or {}).items():
            service = dict(labels).get("service")
            if service is None or not name.startswith("greenwatch_handler_seconds_"):
                continue
            row = out.setdefault(service, {"records": 0.0, "busy_s": 0.0})
            if name.endswith("_count"):
                row["records"] += value
            elif name.endswith("_sum"):
                row["busy_s"] += value
    for row in out.values():
        row["records_per_busy_s"] = round(row["records"] / row["busy_s"], 2) if row["busy_s"] else 0.0
        row["busy_s"] = round(row["busy_s"], 2)
    return out


def compressed_bytes(product: Path, chunk: int) -> dict[str, float]:
    """What one tile task reads: stored (zstd) and decoded bytes of b03, b04, b08 (10 m) and SCL (20 m),
    averaged over the product's chunks, and the ratio. Measured on the synthetic products: their
    noise compresses worse than real reflectances, so the ratio is a lower bound, not a forecast."""
    stored = sum(f.stat().st_size for a in READ for f in (product / a / "c").rglob("*") if f.is_file())
    side = int(np.ceil(_shape(product) / chunk))
    tasks = side * side
    decoded_task = 3 * chunk * chunk * 2 + (chunk // 2) ** 2
    return {"tasks_in_product": tasks, "stored_bytes_per_task": round(stored / tasks),
            "decoded_bytes_per_task": decoded_task, "zstd_ratio": round(decoded_task * tasks / stored, 3),
            "product_bytes_on_disk": sum(f.stat().st_size for f in product.rglob("*") if f.is_file())}


def _shape(product: Path) -> int:
    meta = json.loads((product / READ[0] / "zarr.json").read_text())
    return int(meta["shape"][0])


def chart(path: Path, doc: dict[str, Any]) -> None:
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    runs = doc["runs"]
    fig, (lag_ax, tput_ax, lat_ax) = plt.subplots(1, 3, figsize=(15, 4.2))
    for r in runs:
        t = [s["t"] for s in r["lag"]]
        lag_ax.plot(t, [s["worker"] for s in r["lag"]], label=f"{r['workers']} worker(s): worker group")
        lag_ax.plot(t, [s["merger"] for s in r["lag"]], linestyle="--", label=f"{r['workers']} worker(s): merger")
    lag_ax.set(xlabel="seconds after the first scene was published", ylabel="consumer lag (records)",
               title="consumer lag over time")
    lag_ax.legend(fontsize=7)
    names = [str(r["workers"]) for r in runs]
    bars = tput_ax.bar(names, [r["tiles_per_s"] for r in runs], color="tab:green")
    for b, r in zip(bars, runs, strict=True):
        tput_ax.annotate(f"{r['mpx_per_s']:.0f} Mpx/s", (b.get_x() + b.get_width() / 2, b.get_height()),
                         ha="center", va="bottom", fontsize=8)
    tput_ax.set(xlabel="worker processes", ylabel="tile tasks / s (1830 x 1830 px)", title="throughput")
    x = np.arange(len(runs))
    for k, (key, label) in enumerate((("p50", "p50"), ("p95", "p95"))):
        lat_ax.bar(x + (k - 0.5) * 0.35, [r["latency_to_state_s"][key] or 0 for r in runs], 0.35, label=label)
    lat_ax.set_xticks(x, names)
    lat_ax.set(xlabel="worker processes", ylabel="seconds", title="scene published -> compliance state")
    lat_ax.legend(fontsize=8)
    ctx = doc["context"]
    sc = ctx["scenario"]
    fig.suptitle(f"greenwatch load: {sc['scenes']} scenes x {runs[0]['tile_tasks'] // max(1, sc['scenes'])} "
                 f"tile tasks, {sc['partitions']} partitions, {ctx['cores']} cores ({ctx['cpu']}), "
                 f"load {ctx['load_average_start'][0]:.1f}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
