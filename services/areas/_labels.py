"""An area set's label raster on one product grid, cached in Zarr and read one chunk at a time.

Why chunks: a full Sentinel-2 tile's labels are 482 MB of int32. The worker needs only its task's
window and the planner only which areas each chunk touches, so the raster is rasterized once per
(area-set version, grid, chunking), written to a Zarr store chunked like the product, with the areas
of every chunk in its attributes; afterwards a window is one chunk decode (labels compress to almost
nothing) and planning reads no pixels at all.

The store is written to a temporary name and renamed into place, so a crash never leaves a partial
cache that would read missing chunks as "no area"; a store whose attributes do not match (another
version, rule, grid, chunking or pixel domain) is ignored and rebuilt.

A raster restricted to a tile's core (`PixelDomain`, see `_mgrs.py`) has other labels than the whole
product's on the same grid, so the core is part of the path (`<grid>-<chunks>-<core>.zarr`) and of the
attributes (`pixel_domain`, `domain_rule`): a raster built without a core is never read for one, nor
the other way round. CACHE_FORMAT stays 1: a raster without a core keeps its old path and attributes
(an absent `pixel_domain` reads as none), so caches written before cores existed stay valid.
"""

from __future__ import annotations

import json
import shutil
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import zarr
from numpy.typing import NDArray
from zarr.codecs import ZstdCodec
from zarr.storage import LocalStore

from greenwatch.services.areas._mgrs import DOMAIN_RULE, PixelDomain
from greenwatch.services.areas._rasterize import RASTER_RULE

CACHE_FORMAT = 1


@dataclass(frozen=True)
class Grid:
    """A raster grid: CRS, rasterio-ordered affine transform (a, b, c, d, e, f) and shape (rows, cols)."""

    crs: str
    transform: tuple[float, float, float, float, float, float]
    shape: tuple[int, int]

    @property
    def key(self) -> str:
        import hashlib  # noqa: PLC0415

        text = json.dumps([self.crs, list(self.transform), list(self.shape)])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def pixel_area_m2(self) -> float:
        return abs(self.transform[0] * self.transform[4])


class LabelRaster:
    """Labels of one grid, chunked; `window` returns int32 labels, `chunk_areas` the area indices present
    in each chunk (both identical whether the raster lives in memory or in the Zarr cache).
    `pixel_domain`: the key of the tile core the labels are restricted to (None: the whole grid)."""

    def __init__(self, grid: Grid, chunks: tuple[int, int], source: NDArray[np.int32] | zarr.Array[Any],
                 chunk_areas: dict[tuple[int, int], tuple[int, ...]], keep_chunks: int = 64,
                 pixel_domain: str | None = None) -> None:
        self.grid, self.chunks, self._source = grid, chunks, source
        self.chunk_areas = chunk_areas
        self.pixel_domain = pixel_domain
        self._decoded: OrderedDict[tuple[int, int], NDArray[np.int32]] = OrderedDict()
        self._keep = keep_chunks
        self._lock = threading.Lock()
        self._full: NDArray[np.int32] | None = None

    @property
    def in_memory(self) -> bool:
        return isinstance(self._source, np.ndarray)

    def areas_in(self, row: int, col: int, height: int, width: int) -> tuple[int, ...]:
        """Area indices with at least one pixel in a chunk-aligned window (any number of whole chunks)."""
        ch, cw = self.chunks
        found: set[int] = set()
        for i in range(row // ch, (row + height - 1) // ch + 1):
            for j in range(col // cw, (col + width - 1) // cw + 1):
                found.update(self.chunk_areas.get((i, j), ()))
        return tuple(sorted(found))

    def window(self, row: int, col: int, height: int, width: int) -> NDArray[np.int32]:
        if isinstance(self._source, np.ndarray):
            return self._source[row : row + height, col : col + width]
        ch, cw = self.chunks
        if row % ch == 0 and col % cw == 0 and (height, width) == self._extent(row // ch, col // cw):
            return self._chunk(row // ch, col // cw)
        return np.asarray(self._source[row : row + height, col : col + width], dtype=np.int32)

    def full(self) -> NDArray[np.int32]:
        """The whole raster in memory (decoded once and kept: callers that index it per task expect that)."""
        if isinstance(self._source, np.ndarray):
            return self._source
        with self._lock:
            if self._full is None:
                self._full = np.asarray(self._source[...], dtype=np.int32)
            return self._full

    def _extent(self, i: int, j: int) -> tuple[int, int]:
        (ch, cw), (h, w) = self.chunks, self.grid.shape
        return min(ch, h - i * ch), min(cw, w - j * cw)

    def _chunk(self, i: int, j: int) -> NDArray[np.int32]:
        with self._lock:
            if (i, j) in self._decoded:
                self._decoded.move_to_end((i, j))
                return self._decoded[(i, j)]
        data = _read_chunk(self._source, (i, j), self.chunks)  # type: ignore[arg-type]
        with self._lock:
            self._decoded[(i, j)] = data
            while len(self._decoded) > self._keep:
                self._decoded.popitem(last=False)
        return data


def _read_chunk(arr: zarr.Array[Any], chunk: tuple[int, int], chunks: tuple[int, int]) -> NDArray[np.int32]:
    """One chunk of the cache. The cache is ours (bytes + zstd, written by `write_cache`), so a local chunk
    file is decoded directly into the array the kernel gets: a tile's labels are 482 MB of int32, and
    Zarr's general read path took ~15x longer than the decode itself."""
    store: Any = arr.store_path.store
    codecs = tuple(arr.metadata.codecs) if arr.metadata.zarr_format == 3 else ()
    direct = len(codecs) == 2 and isinstance(codecs[1], ZstdCodec) and isinstance(store, LocalStore)
    if direct:
        key = f"{arr.store_path.path}/{arr.metadata.encode_chunk_key(chunk)}".lstrip("/")
        try:
            blob = (Path(store.root) / key).read_bytes()
        except FileNotFoundError:
            blob = None  # never written: all fill (-1)
        if blob is not None:
            out = np.empty(chunks, dtype=np.int32)
            numcodecs.Zstd().decode(blob, out=out)
            h = min(chunks[0], arr.shape[0] - chunk[0] * chunks[0])
            w = min(chunks[1], arr.shape[1] - chunk[1] * chunks[1])
            return out if (h, w) == chunks else np.ascontiguousarray(out[:h, :w])
    return np.asarray(arr.get_block_selection(chunk), dtype=np.int32)


def index_chunks(labels: NDArray[np.int32], chunks: tuple[int, int]) -> dict[tuple[int, int], tuple[int, ...]]:
    """Area indices present in each chunk (chunks touching no area are left out)."""
    ch, cw = chunks
    out: dict[tuple[int, int], tuple[int, ...]] = {}
    for i in range(0, labels.shape[0], ch):
        for j in range(0, labels.shape[1], cw):
            block = labels[i : i + ch, j : j + cw]
            present = np.unique(block)
            ids = tuple(int(v) for v in present if v >= 0)
            if ids:
                out[(i // ch, j // cw)] = ids
    return out


def cache_path(cache_dir: Path, version: str, grid: Grid, chunks: tuple[int, int],
               domain: PixelDomain | None = None) -> Path:
    core = "" if domain is None else "-" + domain.key.replace(":", "").replace("/", "_")
    return cache_dir / version.replace("@", "_").replace("/", "_") / f"{grid.key}-{chunks[0]}x{chunks[1]}{core}.zarr"


def _expected_attrs(version: str, grid: Grid, chunks: tuple[int, int], domain: PixelDomain | None) -> dict[str, Any]:
    return {"cache_format": CACHE_FORMAT, "area_set_version": version, "rule": RASTER_RULE, "crs": grid.crs,
            "transform": list(grid.transform), "shape": list(grid.shape), "chunks": list(chunks),
            "pixel_domain": None if domain is None else domain.key,
            "domain_rule": None if domain is None else DOMAIN_RULE}


def open_cached(path: Path, version: str, grid: Grid, chunks: tuple[int, int],
                domain: PixelDomain | None = None) -> LabelRaster | None:
    """The cached raster at `path`, or None if there is none or it was made for something else."""
    if not (path / "zarr.json").is_file():
        return None
    try:
        arr = zarr.open_array(path, mode="r")
        attrs = dict(arr.attrs.asdict())
    except (OSError, ValueError, KeyError):
        return None
    expected = _expected_attrs(version, grid, chunks, domain)
    if any(attrs.get(k) != v for k, v in expected.items()) or "chunk_areas" not in attrs:
        return None
    raw = attrs["chunk_areas"]
    if not isinstance(raw, dict):
        return None
    index: dict[tuple[int, int], tuple[int, ...]] = {}
    for k, v in raw.items():
        i, j = (int(p) for p in k.split(","))
        index[(i, j)] = tuple(int(a) for a in v)
    if not isinstance(arr, zarr.Array):
        return None
    return LabelRaster(grid, chunks, arr, index, pixel_domain=None if domain is None else domain.key)


def write_cache(path: Path, labels: NDArray[np.int32], version: str, grid: Grid, chunks: tuple[int, int],
                index: dict[tuple[int, int], tuple[int, ...]], domain: PixelDomain | None = None) -> None:
    """Write the raster under a temporary name and rename it into place (atomic on one file system)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    attrs = {**_expected_attrs(version, grid, chunks, domain),
             "chunk_areas": {f"{i},{j}": list(v) for (i, j), v in sorted(index.items())}}
    z = zarr.create_array(tmp, shape=labels.shape, dtype="int32", chunks=chunks, fill_value=-1,
                          compressors=ZstdCodec(level=3), attributes=attrs, config={"write_empty_chunks": True})
    z[...] = labels
    if path.exists():  # a stale cache (another version of the same grid key) or a concurrent writer
        stale = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.old")
        try:
            path.replace(stale)
            shutil.rmtree(stale, ignore_errors=True)
        except OSError:
            pass
    try:
        tmp.replace(path)
    except OSError:  # another process renamed its (identical) store first
        shutil.rmtree(tmp, ignore_errors=True)
