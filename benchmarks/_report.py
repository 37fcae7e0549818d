"""Run context, the results table, targets, JSON and the chart."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numba


@dataclass
class Row:
    kernel: str
    workload: str  #: the real workload this stands for
    threads: int
    seconds: float  #: best of the timed runs
    first_call_s: float  #: first call in this process (cache load or JIT compile)
    pixels: int
    input_bytes: int
    ref_seconds: float | None = None  #: NumPy reference on the same input, same run
    differing: int | None = None  #: output elements that differ from the NumPy reference (0: bit-identical)

    @property
    def mpx_s(self) -> float:
        return self.pixels / self.seconds / 1e6

    @property
    def gb_s(self) -> float:
        return self.input_bytes / self.seconds / 1e9


def context() -> dict[str, Any]:
    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        cpu = next((ln.split(":", 1)[1].strip() for ln in cpuinfo.read_text().splitlines() if "model name" in ln), cpu)
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True, timeout=5,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "time_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "threading_layer": numba.config.THREADING_LAYER,
        "load_average_start": os.getloadavg(),
        "python": platform.python_version(),
        "versions": {d: version(d) for d in ("numpy", "numba", "llvmlite", "xarray-spatial", "greenwatch")},
        "git_commit": commit,
    }


def table(rows: list[Row], bandwidth: dict[int, float]) -> str:
    one = {r.kernel: r for r in rows if r.threads == 1}
    head = (
        f"{'kernel':22s} {'thr':>3s} {'Mpx/s':>8s} {'GB/s in':>8s} {'% read BW':>9s} "
        f"{'x NumPy':>8s} {'x 1 thr':>8s} {'1st call s':>10s} {'!= ref':>6s}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        pct = 100 * r.gb_s / bandwidth[r.threads] if r.threads in bandwidth else float("nan")
        ref = one.get(r.kernel, r).ref_seconds
        x_np = f"{ref / r.seconds:8.1f}" if ref else f"{'':8s}"
        base = one.get(r.kernel)
        x_one = f"{base.seconds / r.seconds:8.2f}" if base and r.threads > 1 else f"{'':8s}"
        lines.append(
            f"{r.kernel:22s} {r.threads:3d} {r.mpx_s:8.0f} {r.gb_s:8.2f} {pct:9.1f} {x_np} {x_one} "
            f"{r.first_call_s:10.2f} {'' if r.differing is None else r.differing:>6}"
        )
    for t, bw in sorted(bandwidth.items()):
        lines.append(f"{'read bandwidth':22s} {t:3d} {'':8s} {bw:8.2f} {100.0:9.1f}")
    return "\n".join(lines)


def targets(rows: list[Row], bandwidth: dict[int, float]) -> list[dict[str, Any]]:
    """The issue's targets, as ratios from this one run."""
    by = {(r.kernel, r.threads): r for r in rows}
    cls1, cls2 = by[("classify", 1)], by.get(("classify", 2))
    cnt1, cnt2 = by[("classify_count", 1)], by.get(("classify_count", 2))
    out = [
        ("classify: % of 1-thread read bandwidth", 100 * cls1.gb_s / bandwidth[1], ">=", 50.0),
        ("classify_count: Gpx/s on 1 thread", cnt1.mpx_s / 1000, ">=", 1.0),
        ("classify: x NumPy reference (1 thread)", (cls1.ref_seconds or 0) / cls1.seconds, ">=", 40.0),
        ("classify_count: x NumPy reference (1 thread)", (cnt1.ref_seconds or 0) / cnt1.seconds, ">=", 40.0),
    ]
    if cls2 and cnt2:
        out += [
            ("classify: 2 threads / 1 thread", cls1.seconds / cls2.seconds, ">=", 1.7),
            ("classify_count: 2 threads / 1 thread", cnt1.seconds / cnt2.seconds, ">=", 1.7),
        ]
    return [
        {"target": name, "value": round(v, 3), "goal": f"{op} {goal}", "met": v >= goal} for name, v, op, goal in out
    ]


def write(
    out_dir: Path, ctx: dict[str, Any], rows: list[Row], bandwidth: dict[int, float], tgts: list[dict[str, Any]]
) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = {**ctx, "load_average_end": os.getloadavg()}
    doc = {
        "context": ctx,
        "read_bandwidth_gb_s": {str(k): v for k, v in bandwidth.items()},
        "results": [{**asdict(r), "mpx_s": r.mpx_s, "gb_s": r.gb_s} for r in rows],
        "targets": tgts,
    }
    json_path = out_dir / "bench_kernels.json"
    json_path.write_text(json.dumps(doc, indent=2) + "\n")
    png_path = out_dir / "bench_kernels.png"
    _chart(png_path, rows, bandwidth, ctx)
    return json_path, png_path


def _chart(path: Path, rows: list[Row], bandwidth: dict[int, float], ctx: dict[str, Any]) -> None:
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    kernels = list(dict.fromkeys(r.kernel for r in rows))
    threads = sorted({r.threads for r in rows})
    fig, ax = plt.subplots(figsize=(10, 0.55 * len(kernels) + 1.8))
    height = 0.8 / len(threads)
    for k, t in enumerate(threads):
        vals = [next((r.gb_s for r in rows if r.kernel == name and r.threads == t), 0.0) for name in kernels]
        ax.barh([i + k * height for i in range(len(kernels))], vals, height, label=f"{t} thread{'s' * (t > 1)}")
        if t in bandwidth:
            ax.axvline(bandwidth[t], linestyle="--", color=f"C{k}", linewidth=1)
            ax.text(bandwidth[t], len(kernels) - 0.4, f" read BW {t}t", color=f"C{k}", fontsize=8)
    ax.set_yticks([i + height * (len(threads) - 1) / 2 for i in range(len(kernels))], kernels)
    ax.invert_yaxis()
    ax.set_xlabel("GB/s of input read (dashed: Numba sum over 1 GiB)")
    ax.set_title(f"greenwatch kernels, {ctx['cpu']}, {ctx['cores']} cores, {ctx['time_utc']}", fontsize=9)
    ax.legend(loc="center right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
