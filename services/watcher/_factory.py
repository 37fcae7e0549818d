"""A Watcher from the `watch` configuration section and an area set (called by `app.py`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import shapely
from shapely.geometry import mapping

from greenwatch.services.areas import AreaSet
from greenwatch.services.bus import Bus
from greenwatch.services.ledger import Ledger
from greenwatch.services.store import Store
from greenwatch.services.watcher._client import RetryPolicy, StacClient
from greenwatch.services.watcher._sources import Source, sources_from_settings
from greenwatch.services.watcher._watch import Watcher


def area_footprint(areas: AreaSet) -> tuple[tuple[float, float, float, float], dict[str, Any]]:
    """The area set's lon/lat bounding box and convex hull (a handful of vertices: cheap to send)."""
    x0, y0, x1, y1 = shapely.total_bounds(areas.geoms)
    hull = shapely.convex_hull(shapely.geometrycollections(list(areas.geoms)))  # no union: area sets may be invalid
    return (float(x0), float(y0), float(x1), float(y1)), dict(mapping(hull))


def watcher_from_settings(watch: Any, *, bus: Bus, store: Store, ledger: Ledger, areas: AreaSet,
                          sources: list[Source] | None = None) -> Watcher:
    if sources is None:
        bbox, hull = area_footprint(areas)
        sources = sources_from_settings(watch, bbox=bbox, hull=hull)
    policy = RetryPolicy(max_attempts=watch.max_attempts, base_s=watch.backoff_base_s, cap_s=watch.backoff_cap_s,
                         max_retry_after_s=watch.max_retry_after_s, timeout_s=watch.timeout_s)
    return Watcher(bus=bus, store=store, ledger=ledger, sources=sources, overlap=timedelta(days=watch.overlap_days),
                   page_size=watch.page_size, client=StacClient(policy),
                   backfill_slice=timedelta(days=watch.backfill_slice_days))
