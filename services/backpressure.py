"""Backpressure in the consumer loop: a slow store slows consumption down; it never piles records up in
memory, and it never makes Kafka take the partitions away.

What holds records in a process, and what bounds it (see docs/scale.md, "Backpressure"):

* the consumer's fetch buffer: kafka-python fetches ahead at most `max_partition_fetch_bytes` (1 MiB)
  per partition and `fetch_max_bytes` (50 MiB) per request, and only for partitions whose buffered
  records have been taken;
* one polled batch: the runtime polls again only after the batch is handled, flushed and committed;
* the producer: kafka-python 3 has no `buffer_memory` cap (its accumulator takes whatever is sent),
  but the runtime flushes after every batch, so it holds at most one batch's outputs;
* the tile worker's read-ahead: `work.prefetch_tasks` tasks.

So when the store is slow the loop is slow, and the backlog waits in Kafka, where the lag gauge and
the autoscaler see it. What does break is Kafka's patience: a member must poll again within
`max.poll.interval.ms` (300 s by default), or it is thrown out of the group and its batch goes to
another member that is just as slow, which is thrown out in turn: a rebalance storm that makes no
progress. `BatchBudget` therefore sizes each poll from the measured time per record, so that a batch
takes about `max_batch_s` at most (default 60 s, a fifth of Kafka's interval); it starts at one
record and doubles per batch (a cold cache or a first JIT compile is not mistaken for the steady
state).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class BatchBudget:
    """How many records the next poll may return. `observe` after every batch that handled records."""

    max_batch_s: float = 60.0
    max_records: int = 50
    smoothing: float = 0.5  #: weight of the newest batch in the seconds-per-record average
    per_record_s: float | None = field(default=None, init=False)
    _limit: int = field(default=1, init=False)

    def __post_init__(self) -> None:
        if self.max_batch_s <= 0 or self.max_records < 1 or not 0 < self.smoothing <= 1:
            raise ValueError("max_batch_s > 0, max_records >= 1 and 0 < smoothing <= 1 are required")

    def limit(self) -> int:
        return self._limit

    def observe(self, records: int, seconds: float) -> None:
        """A batch of `records` took `seconds` (poll to commit)."""
        if records <= 0:
            return
        sample = max(seconds, 0.0) / records
        s = self.smoothing
        self.per_record_s = sample if self.per_record_s is None else s * sample + (1 - s) * self.per_record_s
        fits = math.floor(self.max_batch_s / self.per_record_s) if self.per_record_s > 0 else self.max_records
        self._limit = max(1, min(self.max_records, 2 * self._limit, fits))
