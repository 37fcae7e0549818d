from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from greenwatch.services.store import SqliteStore
from greenwatch.services.store.timeseries import TimeSeriesStore


def test_sqlite_store_roundtrip_and_scan(tmp_path: Path) -> None:
    s = SqliteStore(tmp_path / "s.db")
    s.put_many("t", [("a/1", {"x": 1}), ("a/2", {"x": 2}), ("b/1", {"x": 3})])
    assert s.get("t", "a/2") == {"x": 2}
    assert [k for k, _ in s.scan("t", "a/")] == ["a/1", "a/2"]
    s.delete("t", "a/1")
    s.close()
    s2 = SqliteStore(tmp_path / "s.db")
    assert [k for k, _ in s2.scan("t")] == ["a/2", "b/1"]
    assert s2.get("other", "a/2") is None


def test_timeseries_store_opens_with_xarray(tmp_path: Path) -> None:
    url = str(tmp_path / "ts.zarr")
    ts = TimeSeriesStore(url, ["A", "B"])
    ts.write("B", date(2024, 6, 1), {"green_area_m2": 5.0, "n_products": 1, "usable": 1, "kernel_version": "k"})
    ts.write("B", date(2024, 6, 1), {"green_area_m2": 5.0, "n_products": 1, "usable": 1, "kernel_version": "k"})
    ts.write("A", date(2025, 7, 2), {"green_area_m2": 7.0, "n_products": 1, "usable": 0, "kernel_version": "k"})
    ds = xr.open_zarr(url)
    got = ds["green_area_m2"].sel(area="B").dropna("time")
    assert got.values.tolist() == [5.0]
    assert str(got.time.values[0])[:10] == "2024-06-01"
    again = TimeSeriesStore(url, ["A", "B"]).series("A")
    assert list(again["time"]) == [np.datetime64("2025-07-02")]
    with pytest.raises(ValueError, match="another area set"):
        TimeSeriesStore(url, ["A", "C"])
