"""The results Zarr: each scene's class map and canopy fraction, so maps can be drawn and numbers audited.

Layout: `<root>/<MGRS tile>/<date>.zarr/<scene id>/` holds `class_map` (uint8 `PixelClass`, 255 where
no task ran: chunks that touch no area), `canopy_fraction` (float32 0..1, NaN where invalid or not
processed) and the pixel-centre coordinates `x`, `y`, all chunked like the product's 10 m bands, with
the CRS, transform, kernel version and class table as attributes:

    xr.open_zarr("var/maps/31UFT/2024-06-10.zarr", group="S2B_MSIL2A_...")

One group per scene (not one per date) because a date can have two products of the same tile (a
reprocessed baseline) and each map must say which product it shows. Every task writes exactly the
chunks of its own window, so concurrent workers never write the same object, and a redelivered task
rewrites identical bytes. Group metadata is deterministic, so two workers creating it at once write the
same documents. The per-area numbers of a task are recomputable from these maps and the area labels:
class counts by counting, canopy sums by truncating fraction x 2**24 as the kernel does.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import zarr
from zarr.codecs import ZstdCodec
from zarr.core.common import JSON
from zarr.errors import ContainsArrayError, ContainsGroupError

from greenwatch.kernels import CLASS_TABLE
from greenwatch.services.areas import Grid

NOT_PROCESSED = 255


def maps_group_path(tile: str, date: str) -> str:
    return f"{tile}/{date}.zarr"


class MapWriter:
    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")
        self._ready: dict[tuple[str, str, str], zarr.Group] = {}
        self._lock = threading.Lock()

    def group_url(self, tile: str, date: str) -> str:
        return f"{self.root}/{maps_group_path(tile, date)}"

    def write(self, task: Mapping[str, Any], grid: Grid, chunks: tuple[int, int], class_map: np.ndarray,
              canopy_fraction: np.ndarray) -> None:
        """Write a task's window of both layers (the window is whole chunks of the group's arrays)."""
        group = self._group(task, grid, chunks)
        w = task["window"]
        sel = (slice(w["row"], w["row"] + w["height"]), slice(w["col"], w["col"] + w["width"]))
        for name, data in (("class_map", class_map), ("canopy_fraction", canopy_fraction)):
            arr = group[name]
            if not isinstance(arr, zarr.Array):
                raise ValueError(f"{self.group_url(task['tile'], task['date'])}: {name} is not an array")
            arr[sel] = data

    def _group(self, task: Mapping[str, Any], grid: Grid, chunks: tuple[int, int]) -> zarr.Group:
        key = (task["tile"], task["date"], task["scene_id"])
        with self._lock:
            if key in self._ready:
                return self._ready[key]
        url = self.group_url(task["tile"], task["date"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", zarr.errors.ZarrUserWarning)
            root = _require_group(zarr.open_group, url)
            scene = root.get(task["scene_id"])
            if not isinstance(scene, zarr.Group) or "canopy_fraction" not in scene:
                scene = _create_scene(root, task, grid, chunks)
        class_map = scene["class_map"]
        shape = tuple(class_map.shape) if isinstance(class_map, zarr.Array) else None
        if shape != grid.shape:
            raise ValueError(f"{url}/{task['scene_id']}: map of shape {shape} exists, product grid is {grid.shape}")
        with self._lock:
            self._ready[key] = scene
        return scene


def _require_group(opener: Any, url: str) -> zarr.Group:
    try:
        group: zarr.Group = opener(url, mode="a", zarr_format=3)
    except (ContainsArrayError, ContainsGroupError):  # created by someone else meanwhile
        group = opener(url, mode="r+")
    return group


def _create_scene(root: zarr.Group, task: Mapping[str, Any], grid: Grid, chunks: tuple[int, int]) -> zarr.Group:
    attrs = {
        "scene_id": task["scene_id"], "tile": task["tile"], "date": task["date"], "crs": grid.crs,
        "transform": list(grid.transform), "kernel_version": task["kernel_version"],
        "product_href": task["product_href"], "classes": {str(k): v for k, v in CLASS_TABLE.items()},
        "not_processed": NOT_PROCESSED,
    }
    try:
        scene = root.create_group(task["scene_id"], attributes=attrs, overwrite=False)
    except (ContainsArrayError, ContainsGroupError):
        scene = root[task["scene_id"]]  # type: ignore[assignment]
    a, _, c, _, e, f = grid.transform
    h, w = grid.shape
    for name, values in (("x", c + a * (np.arange(w) + 0.5)), ("y", f + e * (np.arange(h) + 0.5))):
        try:
            arr = scene.create_array(name, shape=values.shape, dtype="float64", chunks=values.shape,
                                     fill_value=float("nan"), dimension_names=(name,),
                                     attributes={"units": "m", "crs": grid.crs})
        except (ContainsArrayError, ContainsGroupError):
            arr = scene[name]  # type: ignore[assignment]
        arr[:] = values  # deterministic: rewriting after a crash between create and write is harmless
    # canopy_fraction last: its presence is what tells a later task that the group is complete
    arrays: dict[str, tuple[str, Any, ZstdCodec, dict[str, JSON]]] = {
        "class_map": ("uint8", NOT_PROCESSED, ZstdCodec(level=3), {"long_name": "greenwatch pixel class"}),
        "canopy_fraction": ("float32", float("nan"), ZstdCodec(level=1),
                            {"long_name": "canopy fraction", "units": "1"}),
    }
    for name, (dtype, fill, codec, extra) in arrays.items():
        with contextlib.suppress(ContainsArrayError, ContainsGroupError):  # made by a concurrent writer
            scene.create_array(name, shape=grid.shape, dtype=dtype, chunks=chunks, fill_value=fill,
                               compressors=codec, dimension_names=("y", "x"), attributes=extra)
    return scene
