"""The benchmark command runs end to end (tiny tile); it is not a timed test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.slow
def test_bench_kernels_smoke(tmp_path: Path) -> None:
    pytest.importorskip("xrspatial")
    from benchmarks.bench_kernels import main

    assert main(["--size", "96", "--repeats", "1", "--bandwidth-mib", "16", "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "bench_kernels.json").read_text())
    kernels = {r["kernel"] for r in doc["results"]}
    assert {"classify", "classify_count", "season_composite", "clcplus_count", "tcd_count", "xrspatial.ndvi"} <= kernels
    assert {t["target"] for t in doc["targets"]} and doc["context"]["cores"]
    assert (tmp_path / "bench_kernels.png").stat().st_size > 0
