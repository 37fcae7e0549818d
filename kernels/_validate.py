"""Input checks shared by the public kernel functions (run once per call, outside the hot loops)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt


def as_2d(name: str, a: npt.ArrayLike, dtype: type[np.generic]) -> npt.NDArray[Any]:
    """``a`` as a C-contiguous 2-D array of exactly ``dtype`` (no silent casting)."""
    arr = np.asarray(a)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {arr.shape}")
    if arr.dtype != np.dtype(dtype):
        raise TypeError(f"{name} must be {np.dtype(dtype).name}, got {arr.dtype.name}")
    return np.ascontiguousarray(arr)


def same_shape(shape: tuple[int, ...], **arrays: npt.NDArray[Any]) -> None:
    for name, arr in arrays.items():
        if arr.shape != shape:
            raise ValueError(f"{name} has shape {arr.shape}, expected {shape}")


def scl_shape(shape_10m: tuple[int, ...]) -> tuple[int, int]:
    """Shape of the 20 m grid whose pixel [0, 0] covers 10 m pixels [0:2, 0:2]."""
    h, w = shape_10m
    return (h + 1) // 2, (w + 1) // 2


def n_areas_ok(n_areas: int) -> int:
    n = int(n_areas)
    if n < 0:
        raise ValueError(f"n_areas must be >= 0, got {n_areas}")
    return n


def out_array(
    name: str, out: npt.NDArray[Any] | None, shape: tuple[int, ...], dtype: type[np.generic]
) -> npt.NDArray[Any]:
    """A caller-provided output buffer (checked) or a new one."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    if out.shape != shape or out.dtype != np.dtype(dtype) or not out.flags.c_contiguous:
        raise ValueError(f"{name} must be a C-contiguous {np.dtype(dtype).name} array of shape {shape}")
    return out
