"""What planner and tile worker share: opening products safely and the area labels of their grid.

The labels a product counts with are restricted to its tile's core (the MGRS 100 km square within the
UTM zone's strip, `greenwatch.services.areas.domain_for`), so the day's products of overlapping tiles
count disjoint pixels and the merger can add them. Planner, tile worker and the season compositor
must all use `AreaSet.tile_raster` with the same tile id: the planner's `area_tiles` promise, the
worker's counts and the compositor's per-pixel figures then rest on the same pixels.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from greenwatch.services.areas import AreaSet, Grid, LabelRaster
from greenwatch.services.errors import PermanentError
from greenwatch.services.worker._timeouts import with_timeouts
from greenwatch.services.worker.reader import EopfProduct, open_product


class ProductOpener:
    """Opens products by href, only for allowed URL schemes (a STAC item must not make a worker fetch
    an arbitrary URL), and keeps a few open for the tasks of the same scene."""

    def __init__(self, allowed_schemes: Sequence[str], storage_options: dict[str, Any] | None = None,
                 keep: int = 4, read_timeout_s: float | None = None,
                 allowed_hosts: Sequence[str] | None = None) -> None:
        """`read_timeout_s`: a remote (https, s3) read stalled this long fails and the task is retried.
        `allowed_hosts`: hosts, or `*.suffix` patterns, a product URL may name; None: any host."""
        self.allowed_schemes = set(allowed_schemes)
        self.allowed_hosts = None if allowed_hosts is None else [h.lower() for h in allowed_hosts]
        self.storage_options = storage_options
        self.read_timeout_s = read_timeout_s
        self._open: OrderedDict[str, EopfProduct] = OrderedDict()
        self._keep = keep
        self._lock = threading.Lock()

    def __call__(self, href: str) -> EopfProduct:
        scheme = urlparse(href).scheme or "file"
        if len(scheme) == 1:  # a Windows drive letter
            scheme = "file"
        if scheme not in self.allowed_schemes:
            raise PermanentError(f"href scheme {scheme!r} not allowed (allowed: {sorted(self.allowed_schemes)})")
        host = (urlparse(href).hostname or "").lower()
        if host and self.allowed_hosts is not None and not any(
            host == h or (h.startswith("*.") and host.endswith(h[1:])) for h in self.allowed_hosts
        ):
            raise PermanentError(f"href host {host!r} not allowed (allowed: {self.allowed_hosts})")
        with self._lock:
            if href in self._open:
                self._open.move_to_end(href)
                return self._open[href]
        # ProductReadError (missing or corrupt data) is permanent: the task is dead-lettered with the
        # reason; network errors pass through and are retried.
        product = open_product(href, storage_options=with_timeouts(scheme, self.read_timeout_s, self.storage_options))
        with self._lock:
            self._open[href] = product
            while len(self._open) > self._keep:
                self._open.popitem(last=False)
        return product


def product_grid(product: EopfProduct) -> Grid:
    a, b, c, d, e, f = (float(v) for v in product.transform)
    h, w = (int(v) for v in product.shape)
    return Grid(crs=product.crs, transform=(a, b, c, d, e, f), shape=(h, w))


def label_raster(areas: AreaSet, product: EopfProduct, cache_dir: Path | None, tile: str | None = None) -> LabelRaster:
    """The area labels on the product's grid, chunked like its 10 m bands (planner and worker share it),
    restricted to `tile`'s core; without `tile`, the whole product (tools, benchmarks)."""
    return areas.tile_raster(tile, product_grid(product), product.chunks, cache_dir)


def area_labels(areas: AreaSet, product: EopfProduct, cache_dir: Path | None,
                tile: str | None = None) -> tuple[Grid, Any]:
    """The grid and the whole label raster (for tools and brute-force checks)."""
    raster = label_raster(areas, product, cache_dir, tile)
    return raster.grid, raster.full()
