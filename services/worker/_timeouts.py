"""Read timeouts for remote products, in the form each fsspec filesystem takes them.

Why: a stalled object-store read must fail, not hang. fsspec's HTTP filesystem (aiohttp) waits up to
5 minutes for a response by default, and a worker stuck on one chunk holds its partitions; past
Kafka's `max.poll.interval.ms` it is thrown out of its group and another member redoes the batch,
perhaps stalling too. With a timeout the read raises a transient error (`asyncio.TimeoutError`, an
`OSError` for s3fs/botocore), the runtime retries the task and dead-letters it after
`work.max_attempts`. Local files need none.
"""

from __future__ import annotations

from typing import Any

_NESTED = ("client_kwargs", "config_kwargs")


def timeout_options(scheme: str, seconds: float | None) -> dict[str, Any]:
    """fsspec storage options that bound connecting and each socket read to `seconds`."""
    if seconds is None:
        return {}
    if scheme in ("http", "https"):
        import aiohttp  # noqa: PLC0415 - fsspec's HTTP filesystem depends on it anyway

        return {"client_kwargs": {"timeout": aiohttp.ClientTimeout(total=None, sock_connect=seconds,
                                                                    sock_read=seconds)}}
    if scheme in ("s3", "s3a"):
        return {"config_kwargs": {"connect_timeout": seconds, "read_timeout": seconds}}
    return {}


def with_timeouts(scheme: str, seconds: float | None, options: dict[str, Any] | None) -> dict[str, Any] | None:
    """`options` with the read timeout added; what `options` sets explicitly wins."""
    timeouts = timeout_options(scheme, seconds)
    if not timeouts:
        return options
    merged: dict[str, Any] = {**timeouts, **(options or {})}
    for key in _NESTED:
        if key in timeouts and isinstance((options or {}).get(key), dict):
            merged[key] = {**timeouts[key], **(options or {})[key]}
    return merged
