"""A task's window of a product as independent read jobs (b03, b04, b08, scl), so that a thread pool
decodes them in parallel and ahead of the kernel.

A window that is exactly one chunk of the 10 m bands (what the planner makes) reads each band chunk
with `ChunkSource` (decoded straight into the array the kernel gets) and its SCL from the 20 m chunk(s)
under it; the decoded SCL chunks are kept for a while, because with the v2 layout (5490 px chunks
everywhere) one 20 m chunk lies under four 10 m chunks. Any other window reads through Zarr.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future

import numpy as np

from greenwatch.services.worker._buffers import BufferPool
from greenwatch.services.worker._chunks import ChunkSource
from greenwatch.services.worker.reader import EopfProduct, _check_window, _scl_window

BAND_NAMES = ("b03", "b04", "b08")
Job = Callable[[], np.ndarray]


class ProductWindows:
    def __init__(self, product: EopfProduct, keep_scl_chunks: int = 4, pool: BufferPool | None = None) -> None:
        self.product = product
        self.pool = pool
        self.sources = {name: ChunkSource(arr, f"{product.href}/{product.array_path(name)}")
                        for name, arr in product.arrays().items()}
        self._scl: OrderedDict[tuple[int, int], Future[np.ndarray]] = OrderedDict()
        self._keep = keep_scl_chunks
        self._lock = threading.Lock()

    def is_chunk(self, row: int, col: int, height: int, width: int) -> bool:
        src = self.sources["b03"]
        ch, cw = src.chunks
        if row % ch or col % cw:
            return False
        rows, cols = src.extent(row // ch, col // cw)
        return (height, width) == (rows.stop - rows.start, cols.stop - cols.start)

    def jobs(self, row: int, col: int, height: int, width: int) -> list[Job]:
        """Four callables returning b03, b04, b08 (uint16, height x width) and the SCL (uint8, 20 m)."""
        _check_window(self.product.shape, row, col, height, width)
        scl_rows, scl_cols = _scl_window(row, col, height, width)
        if not self.is_chunk(row, col, height, width):
            r10, c10 = slice(row, row + height), slice(col, col + width)
            jobs: list[Job] = [_bind(self.product.read_part, name, r10, c10) for name in BAND_NAMES]
            return [*jobs, _bind(self.product.read_part, "scl", scl_rows, scl_cols)]
        ch, cw = self.sources["b03"].chunks
        i, j = row // ch, col // cw
        jobs = [_bind(self.sources[name].read, i, j, self.pool) for name in BAND_NAMES]
        return [*jobs, _bind(self._scl_window, scl_rows, scl_cols)]

    def _scl_window(self, rows: slice, cols: slice) -> np.ndarray:
        src = self.sources["scl"]
        sh, sw = src.chunks
        blocks = [(i, j) for i in range(rows.start // sh, (rows.stop - 1) // sh + 1)
                  for j in range(cols.start // sw, (cols.stop - 1) // sw + 1)]
        if len(blocks) == 1:
            chunk_rows, chunk_cols = src.extent(*blocks[0])
            data = self._scl_chunk(*blocks[0])
            if (chunk_rows, chunk_cols) == (rows, cols):
                return data
            r0, c0 = rows.start - chunk_rows.start, cols.start - chunk_cols.start
            return np.ascontiguousarray(data[r0 : r0 + rows.stop - rows.start, c0 : c0 + cols.stop - cols.start])
        out = np.empty((rows.stop - rows.start, cols.stop - cols.start), dtype=np.uint8)
        for i, j in blocks:
            br, bc = src.extent(i, j)
            r0, r1 = max(rows.start, br.start), min(rows.stop, br.stop)
            c0, c1 = max(cols.start, bc.start), min(cols.stop, bc.stop)
            data = self._scl_chunk(i, j)
            out[r0 - rows.start : r1 - rows.start, c0 - cols.start : c1 - cols.start] = data[
                r0 - br.start : r1 - br.start, c0 - bc.start : c1 - bc.start
            ]
        return out

    def _scl_chunk(self, i: int, j: int) -> np.ndarray:
        """One decoded SCL chunk; concurrent requests for the same chunk wait for one decode."""
        with self._lock:
            fut = self._scl.get((i, j))
            mine = fut is None
            if fut is None:
                fut = Future()
                self._scl[(i, j)] = fut
                while len(self._scl) > self._keep:
                    self._scl.popitem(last=False)
            else:
                self._scl.move_to_end((i, j))
        if mine:
            try:
                fut.set_result(self.sources["scl"].read(i, j))
            except Exception as exc:  # noqa: BLE001 - handed to every waiter, then raised
                with self._lock:
                    if self._scl.get((i, j)) is fut:
                        del self._scl[(i, j)]  # a failed read is not cached: a retry reads again
                fut.set_exception(exc)
        return fut.result()


def _bind(func: Callable[..., np.ndarray], *args: object) -> Job:
    return lambda: func(*args)
