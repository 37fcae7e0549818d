"""`make bench-worker` keeps working: one quick run on a small tile writes its JSON and chart (no timing
is asserted here; the figures come from a real run of the benchmark)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import bench_worker


def test_bench_worker_runs_on_a_small_tile(tmp_path: Path) -> None:
    assert bench_worker.main(["--size", "488", "--chunk", "122", "--repeats", "1", "--data", str(tmp_path / "d"),
                              "--out", str(tmp_path / "out")]) == 0
    doc = json.loads((tmp_path / "out" / "bench_worker.json").read_text())
    assert doc["context"]["product"]["tasks"] == 16
    assert set(doc["mb_s"]) >= {"raw zstd decode, 1 thread", "worker: read + classify + count"}
    assert 0 < doc["target"]["value"] < 5 and 0 < doc["ceiling_decode_over_decode_plus_kernel"] <= 1
    assert (tmp_path / "out" / "bench_worker.png").stat().st_size > 1000
