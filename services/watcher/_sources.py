"""STAC sources: where to search and what for (the ready-made presets are in `config.SOURCE_PRESETS`).

A source is one (STAC API, collection) pair with its filters. The search sent to the server holds
only what every STAC API implements the same way: `collections`, `datetime`, `bbox` or
`intersects`, `limit`. The maximum cloud cover is applied by the watcher to the items it gets back
(`eo:cloud_cover`), not sent as `query`/`filter`: servers differ there (rustac answers `query` and
`filter` with HTTP 200 and zero items; Earth Search needs CQL2; pgstac-backed APIs take both), and a
filter that a server silently ignores or empties makes a watcher publish nothing and look healthy.
Client-side filtering costs a few kB of JSON per cloudy item, and every filtered item is counted
(`PollReport.filtered`, metric outcome `filtered`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BBox = tuple[float, float, float, float]


@dataclass(frozen=True)
class Source:
    url: str
    collection: str
    product_kind: str = "s2-l2a-eopf-zarr"
    max_cloud_cover: float | None = None
    start: str = "2024-01-01"
    bbox: BBox | None = None
    intersects: dict[str, Any] | None = None  # GeoJSON geometry (lon/lat); wins over bbox

    @property
    def key(self) -> str:
        """Names the source's durable state (cursor, backfill progress)."""
        return f"{self.url.rstrip('/')}|{self.collection}"

    def search_body(self, datetime_range: str, page_size: int) -> dict[str, Any]:
        body: dict[str, Any] = {"collections": [self.collection], "datetime": datetime_range, "limit": page_size}
        if self.intersects is not None:
            body["intersects"] = self.intersects
        elif self.bbox is not None:
            body["bbox"] = list(self.bbox)
        return body

    def wants_cloud(self, cloud_cover: float | None) -> bool:
        """Items without `eo:cloud_cover` are kept: the worker's own cloud mask decides for them."""
        return self.max_cloud_cover is None or cloud_cover is None or cloud_cover <= self.max_cloud_cover


def sources_from_settings(watch: Any, *, bbox: BBox | None, hull: dict[str, Any] | None = None) -> list[Source]:
    """`watch.sources` (config `[[watch.sources]]`, presets already resolved there) as Sources;
    `bbox`/`hull` are the area set's bounds and convex hull, used unless a source sets its own
    `bbox` or `spatial = "none"`."""
    out = []
    for s in watch.sources:
        url, collection, spatial = s.url, s.collection, s.spatial
        own_bbox = tuple(s.bbox) if s.bbox else None
        out.append(Source(
            url=url, collection=collection, product_kind=s.product_kind, max_cloud_cover=s.max_cloud_cover,
            start=s.start,
            bbox=own_bbox or (bbox if spatial in ("area-bbox", "area-hull") else None),
            intersects=hull if spatial == "area-hull" and not own_bbox else None,
        ))
    return out
