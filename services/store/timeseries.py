"""The per-area time-series store: one Zarr v3 group that `xarray.open_zarr` opens directly.

Dimensions (area, time). `time` is a fixed daily axis (one slot per day between `start` and `end`),
so the store never resizes: two mergers that own different areas write different chunks (chunk =
one area x one year) and metadata never changes after creation, so concurrent writers cannot lose
each other's updates. Days without an observation are NaN (`ds.dropna("time", how="all")`).
Works on any fsspec URL (local path, s3://, memory://).
"""

from __future__ import annotations

import threading
import warnings
from datetime import date, timedelta
from typing import Any

import numpy as np
import zarr
from numpy.typing import NDArray

FLOAT_VARS = ("green_area_m2", "canopy_area_m2", "water_area_m2", "area_m2", "valid_fraction")
INT_VARS = ("n_products", "usable")
STR_VARS = ("kernel_version",)
EPOCH = date(1970, 1, 1)


class TimeSeriesStore:
    def __init__(self, url: str, area_ids: list[str], *, start: date = date(2015, 1, 1),
                 end: date = date(2040, 12, 31), storage_options: dict[str, Any] | None = None) -> None:
        self.url = url
        self._lock = threading.Lock()
        try:
            self.group = zarr.open_group(url, mode="r+", storage_options=storage_options)
        except FileNotFoundError:
            self.group = self._create(url, area_ids, start, end, storage_options)
        attrs = self.group.attrs.asdict()
        self.area_ids: list[str] = [str(a) for a in np.asarray(self._array("area")[...]).tolist()]
        if self.area_ids != list(area_ids):
            raise ValueError(f"{url} holds another area set; use a new store for area set changes")
        self.start = date.fromisoformat(str(attrs["start"]))
        self.n_days = int(self._array("time").shape[0])
        self._area_index = {a: i for i, a in enumerate(self.area_ids)}

    @staticmethod
    def _create(url: str, area_ids: list[str], start: date, end: date,
                storage_options: dict[str, Any] | None) -> zarr.Group:
        n_days = (end - start).days + 1
        g = zarr.open_group(url, mode="w-", storage_options=storage_options, zarr_format=3,
                            attributes={"start": start.isoformat(), "title": "greenwatch per-area observations"})
        area = g.create_array("area", shape=(len(area_ids),), dtype=str, dimension_names=["area"])
        area[...] = np.array(area_ids, dtype=object)
        t = g.create_array("time", shape=(n_days,), dtype="int64", chunks=(n_days,), dimension_names=["time"],
                           attributes={"units": "days since 1970-01-01", "calendar": "proleptic_gregorian"})
        t[...] = np.arange(n_days, dtype=np.int64) + (start - EPOCH).days
        chunks = (1, 366)
        for name in FLOAT_VARS:
            g.create_array(name, shape=(len(area_ids), n_days), dtype="float64", chunks=chunks,
                           fill_value=np.nan, dimension_names=["area", "time"])
        for name in INT_VARS:
            g.create_array(name, shape=(len(area_ids), n_days), dtype="int32", chunks=chunks,
                           fill_value=0, dimension_names=["area", "time"])
        for name in STR_VARS:
            g.create_array(name, shape=(len(area_ids), n_days), dtype=str, chunks=chunks,
                           fill_value="", dimension_names=["area", "time"])
        with warnings.catch_warnings():  # consolidated metadata is safe: it never changes after creation
            warnings.simplefilter("ignore", category=UserWarning)
            zarr.consolidate_metadata(g.store)
        return zarr.open_group(url, mode="r+", storage_options=storage_options)

    def _array(self, name: str) -> zarr.Array[Any]:
        arr = self.group[name]
        if not isinstance(arr, zarr.Array):
            raise TypeError(f"{self.url}/{name} is not an array")
        return arr

    def _t(self, day: date) -> int:
        t = (day - self.start).days
        if not 0 <= t < self.n_days:
            raise ValueError(f"{day} is outside the store's time axis")
        return t

    def write(self, area_id: str, day: date, values: dict[str, Any]) -> None:
        """Set one (area, day) cell of each variable given (idempotent)."""
        a, t = self._area_index[area_id], self._t(day)
        with self._lock:
            for name, value in values.items():
                self._array(name)[a, t] = value

    def series(self, area_id: str) -> dict[str, NDArray[Any]]:
        """Days with an observation for one area: {'time': datetime64[D], var: values...}."""
        a = self._area_index[area_id]
        n = np.asarray(self._array("n_products")[a, :])
        days = np.nonzero(n > 0)[0]
        out: dict[str, NDArray[Any]] = {
            "time": np.datetime64(self.start, "D") + days.astype("timedelta64[D]")
        }
        for name in (*FLOAT_VARS, *INT_VARS, *STR_VARS):
            out[name] = np.asarray(self._array(name)[a, :])[days]
        return out

    def day(self, t: int) -> date:
        return self.start + timedelta(days=t)
