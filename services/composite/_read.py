"""Reading the worker's class maps (services/worker/_maps.py) for a composite: which scenes of a
tile-year have maps, their common grid, and one window of one scene with a clear error when it is bad.

Listing goes through the maps store (`<root>/<tile>/<YYYY>-*.zarr/<scene>/`), not the whole scene
ledger, so it costs one directory listing per tile-year; the ledger is then asked about those scenes
only (complete? which kernel?).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import fsspec
import numpy as np
import zarr
from numpy.typing import NDArray

from greenwatch.services.areas import Grid
from greenwatch.services.errors import PermanentError
from greenwatch.services.worker._maps import NOT_PROCESSED, maps_group_path


@dataclass(frozen=True)
class SceneMaps:
    """One scene's class map and canopy fraction arrays (opened, not read)."""

    scene_id: str
    date: str
    class_map: zarr.Array[Any]
    canopy_fraction: zarr.Array[Any]
    grid: Grid
    chunks: tuple[int, int]

    def window(self, r0: int, c0: int, h: int, w: int, labelled: NDArray[np.bool_]) -> tuple[NDArray[np.uint8],
                                                                                            NDArray[np.float32]]:
        """Class map and canopy fraction of a window. A window whose labelled pixels all read
        NOT_PROCESSED is a missing chunk (every chunk that touches an area had a task in a complete
        scene); an undecodable chunk is corrupt: both are permanent, named by scene and chunk. I/O
        errors (OSError, timeouts) pass through and are retried."""
        where = f"maps of scene {self.scene_id} ({self.date}), chunk at row {r0}, col {c0} ({h}x{w} px)"
        sel = (slice(r0, r0 + h), slice(c0, c0 + w))
        try:
            cls = np.asarray(self.class_map[sel], dtype=np.uint8)
            frac = np.asarray(self.canopy_fraction[sel], dtype=np.float32)
        except (OSError, TimeoutError):
            raise
        except Exception as exc:  # a codec or metadata error: the bytes are bad
            raise PermanentError(f"{where}: unreadable ({type(exc).__name__}: {exc})") from exc
        if labelled.any() and bool((cls[labelled] == NOT_PROCESSED).all()):
            raise PermanentError(f"{where}: missing (not processed, though the scene is complete)")
        return cls, frac


def list_scene_maps(root: str, tile: str, year: int) -> list[tuple[str, str]]:
    """(date, scene id) of every scene group under `<root>/<tile>/<year>-*.zarr/`."""
    fs, base = fsspec.core.url_to_fs(root)
    found = []
    for path in fs.glob(f"{base.rstrip('/')}/{tile}/{year}-??-??.zarr/*/zarr.json"):
        parts = str(path).rstrip("/").split("/")
        date, scene = parts[-3].removesuffix(".zarr"), parts[-2]
        found.append((date, scene))
    return sorted(found)


def open_scene_maps(root: str, tile: str, date: str, scene_id: str) -> SceneMaps:
    url = f"{root.rstrip('/')}/{maps_group_path(tile, date)}"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", zarr.errors.ZarrUserWarning)
            group = zarr.open_group(url, mode="r")[scene_id]
        if not isinstance(group, zarr.Group):
            raise TypeError("not a group")
        attrs: dict[str, Any] = dict(group.attrs.asdict())
        cls, frac = group["class_map"], group["canopy_fraction"]
        if not isinstance(cls, zarr.Array) or not isinstance(frac, zarr.Array):
            raise TypeError("class_map or canopy_fraction is not an array")
        a, b, c, d, e, f = (float(v) for v in attrs["transform"])
        grid = Grid(crs=str(attrs["crs"]), transform=(a, b, c, d, e, f), shape=(int(cls.shape[0]), int(cls.shape[1])))
        chunks = (int(cls.chunks[0]), int(cls.chunks[1]))
    except (OSError, TimeoutError):
        raise
    except Exception as exc:  # missing arrays or attributes: the group is incomplete
        raise PermanentError(f"maps of scene {scene_id} ({date}) at {url}: unusable ({type(exc).__name__}: {exc})") \
            from exc
    if tuple(frac.shape) != grid.shape:
        raise PermanentError(f"maps of scene {scene_id} ({date}): canopy_fraction of shape {frac.shape}, "
                             f"class_map {grid.shape}")
    return SceneMaps(scene_id, date, cls, frac, grid, chunks)
