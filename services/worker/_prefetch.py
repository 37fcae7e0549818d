"""Reading the next tasks while the current one is classified: decompression overlaps the kernel.

The runtime hands the worker each polled batch before handling it (`prefetch`); the worker announces
the batch's tasks here (`hint`), and up to `depth` of them beyond the one being handled are read on a
thread pool (numcodecs' decoders and Numba's kernels release the GIL, so on two cores two decoders and
the kernel run at once). `take(key, plan)` returns a task's arrays, read ahead or now.

Nothing here decides outcomes: a read that failed raises its exception from `take`, in the handler,
where the runtime's retry and dead-letter rules apply; a failed or retried task is read afresh.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

Job = Callable[[], np.ndarray]
Plan = Callable[[], list[Job]]  # opens what it needs and returns the task's read jobs


class Prefetcher:
    def __init__(self, threads: int, depth: int) -> None:
        self.depth = max(0, depth)
        self._pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="gw-read")
        self._started: OrderedDict[str, list[Future[np.ndarray]]] = OrderedDict()
        self._queue: list[tuple[str, Plan]] = []
        self._lock = threading.Lock()

    def hint(self, upcoming: Sequence[tuple[str, Plan]]) -> None:
        """The tasks that will be taken next, in order; reads not among them are dropped."""
        keys = {k for k, _ in upcoming}
        with self._lock:
            for key in [k for k in self._started if k not in keys]:
                for f in self._started.pop(key):
                    f.cancel()
            self._queue = [(k, p) for k, p in upcoming if k not in self._started]
            self._fill()

    def take(self, key: str, plan: Plan) -> list[np.ndarray]:
        """The task's arrays (blocking); the next hinted tasks start reading meanwhile."""
        with self._lock:
            futures = self._started.pop(key, None)
            self._queue = [(k, p) for k, p in self._queue if k != key]
            if futures is None:
                futures = self._submit(plan)
            self._fill()
        try:
            return [f.result() for f in futures]
        finally:
            for f in futures:
                f.cancel()

    def _fill(self) -> None:
        while self._queue and len(self._started) < self.depth:
            key, plan = self._queue.pop(0)
            self._started[key] = self._submit(plan)

    def _submit(self, plan: Plan) -> list[Future[np.ndarray]]:
        try:
            jobs = plan()
        except Exception as exc:  # noqa: BLE001 - surfaces in take(), where the runtime decides
            failed: Future[np.ndarray] = Future()
            failed.set_exception(exc)
            return [failed]
        return [self._pool.submit(job) for job in jobs]

    def close(self) -> None:
        with self._lock:
            for futures in self._started.values():
                for f in futures:
                    f.cancel()
            self._started.clear()
            self._queue = []
        self._pool.shutdown(wait=False, cancel_futures=True)
