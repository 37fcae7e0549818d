"""Whole-chunk reads that decode straight from the stored bytes into the output buffer.

Why: the worker's windows are the product's chunks, and decompression is the bound. Zarr's generic
read path (asyncio, codec pipeline, a copy into the selection) reached about two thirds of the raw
zstd decode speed of the same chunks on the reference machine; decoding each stored chunk with
numcodecs into a fresh buffer, which becomes the window's array without another copy, keeps the
worker at the decoder's speed. numcodecs' zstd and blosc decoders release the GIL, so a thread pool
decodes several chunks at once while a Numba kernel runs.

Only codec chains known to be plain byte streams take this path: Zarr v3 `bytes` + `zstd` (the EOPF
`sentinel-2-l2a-zarr3` encoding) and Zarr v2 with a single blosc or zstd compressor and no filters
(`sentinel-2-l2a`). Anything else (sharding, filters, big-endian data) reads through Zarr.

Errors: a chunk missing from the store, or one that does not decode to exactly the chunk's size,
raises `ProductReadError` naming the array and chunk; network faults propagate (transient).
"""

from __future__ import annotations

import mmap
from pathlib import Path
from typing import Any

import numcodecs
import numpy as np
import zarr
from numcodecs.abc import Codec
from zarr.codecs import BytesCodec, ZstdCodec
from zarr.core.buffer import default_buffer_prototype
from zarr.core.sync import sync
from zarr.storage import LocalStore, WrapperStore

from greenwatch.services.worker._buffers import BufferPool
from greenwatch.services.worker.reader import ProductReadError, _is_transient


def direct_codec(array: zarr.Array[Any]) -> Codec | None:
    """The numcodecs decoder of `array`'s chunks when they are one compressed C-order byte stream
    in native (little-endian) order, else None (read through Zarr)."""
    dtype = np.dtype(array.dtype)
    if dtype.byteorder == ">" or array.ndim != 2:
        return None
    meta = array.metadata
    if meta.zarr_format == 3:
        codecs = tuple(meta.codecs)
        if (
            len(codecs) == 2
            and isinstance(codecs[0], BytesCodec)
            and (codecs[0].endian is None or codecs[0].endian.value == "little")
            and isinstance(codecs[1], ZstdCodec)
        ):
            return numcodecs.Zstd()
        return None
    compressor = getattr(meta, "compressor", None)
    if getattr(meta, "filters", None) or getattr(meta, "order", "C") != "C":
        return None
    if isinstance(compressor, numcodecs.Blosc | numcodecs.Zstd):
        return compressor
    return None


class ChunkSource:
    """Reads whole chunks (i, j) of one 2-D array; `read` returns the chunk clipped to the array."""

    def __init__(self, array: zarr.Array[Any], label: str) -> None:
        self.array = array
        self.label = label  # href/path, for error messages
        self.chunks = (int(array.chunks[0]), int(array.chunks[1]))
        self.shape = (int(array.shape[0]), int(array.shape[1]))
        self.dtype = np.dtype(array.dtype)
        self.codec = direct_codec(array)
        self._root = local_root(array)

    def extent(self, i: int, j: int) -> tuple[slice, slice]:
        ch, cw = self.chunks
        return slice(i * ch, min((i + 1) * ch, self.shape[0])), slice(j * cw, min((j + 1) * cw, self.shape[1]))

    def read(self, i: int, j: int, pool: BufferPool | None = None) -> np.ndarray:
        """The chunk, decoded into a buffer from `pool` when given (see `_buffers.py`)."""
        rows, cols = self.extent(i, j)
        if rows.start >= rows.stop or cols.start >= cols.stop:
            raise ValueError(f"chunk ({i}, {j}) is outside {self.label} of shape {self.shape}")
        if self.codec is None:
            return self._through_zarr(rows, cols, (i, j))
        key = f"{self.array.store_path.path}/{self.array.metadata.encode_chunk_key((i, j))}".lstrip("/")
        ch, cw = self.chunks
        out = pool.get((ch, cw), self.dtype) if pool is not None else np.empty((ch, cw), dtype=self.dtype)
        if self._root is not None:
            self._decode_file(self._root / key, out, (i, j), key)
        else:
            self._decode(self._fetch(key, (i, j)), out, (i, j), key)
        h, w = rows.stop - rows.start, cols.stop - cols.start
        return out if (h, w) == (ch, cw) else np.ascontiguousarray(out[:h, :w])

    def _fetch(self, key: str, chunk: tuple[int, int]) -> Any:
        try:
            buf = sync(self.array.store_path.store.get(key, prototype=default_buffer_prototype()))
        except ProductReadError:
            raise
        except Exception as exc:
            if _is_transient(exc):
                raise
            raise ProductReadError(f"cannot read chunk ({type(exc).__name__}: {exc})", path=self.label,
                                   chunk=chunk) from exc
        if buf is None:
            raise ProductReadError("chunk missing from the store", path=self.label, chunk=chunk, key=key)
        return buf.as_numpy_array()

    def _decode_file(self, path: Path, out: np.ndarray, chunk: tuple[int, int], key: str) -> None:
        """A local chunk file, decoded from its page-cache pages (mmap): no copy into a bytes object."""
        try:
            fh = path.open("rb")
        except FileNotFoundError as exc:
            raise ProductReadError("chunk missing from the store", path=self.label, chunk=chunk, key=key) from exc
        except OSError as exc:
            if _is_transient(exc):
                raise
            raise ProductReadError(f"cannot read chunk ({type(exc).__name__}: {exc})", path=self.label,
                                   chunk=chunk) from exc
        with fh:
            if path.stat().st_size == 0:
                self._decode(b"", out, chunk, key)
                return
            with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                self._decode(mapped, out, chunk, key)

    def _decode(self, data: Any, out: np.ndarray, chunk: tuple[int, int], key: str) -> None:
        codec = self.codec
        if codec is None:  # read() only comes here with a codec
            raise RuntimeError("no direct codec")
        try:
            decoded = codec.decode(data, out=out)
        except Exception as exc:
            raise ProductReadError(f"corrupt chunk ({type(exc).__name__}: {exc})", path=self.label,
                                   chunk=chunk, key=key) from exc
        if np.asarray(decoded).nbytes != out.nbytes:
            raise ProductReadError(
                f"corrupt chunk (decoded {np.asarray(decoded).nbytes} bytes, expected {out.nbytes})",
                path=self.label, chunk=chunk, key=key,
            )

    def _through_zarr(self, rows: slice, cols: slice, chunk: tuple[int, int]) -> np.ndarray:
        try:
            return np.asarray(self.array[rows, cols])
        except ProductReadError:
            raise
        except Exception as exc:
            if _is_transient(exc):
                raise
            raise ProductReadError(f"corrupt chunk ({type(exc).__name__}: {exc})", path=self.label,
                                   chunk=chunk) from exc


def local_root(array: zarr.Array[Any]) -> Path | None:
    """The folder of a local store under any wrappers (chunk files are read from disk directly), else None."""
    store: Any = array.store_path.store
    while isinstance(store, WrapperStore):
        store = store._store
    return Path(store.root) if isinstance(store, LocalStore) else None
