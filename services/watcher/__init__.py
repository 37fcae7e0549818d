"""The STAC watcher: searches STAC APIs, publishes each new Sentinel-2 product once as a scene, and
announces reprocessed products as superseding the ones before them."""

from greenwatch.services.watcher._client import RetryPolicy, StacClient, StacRequestRejected, StacUnavailable
from greenwatch.services.watcher._factory import area_footprint, watcher_from_settings
from greenwatch.services.watcher._items import InvalidItem, item_to_scene
from greenwatch.services.watcher._sources import Source, sources_from_settings
from greenwatch.services.watcher._supersede import datatake_key, rank
from greenwatch.services.watcher._watch import PollReport, Watcher

__all__ = [
    "InvalidItem",
    "PollReport",
    "RetryPolicy",
    "Source",
    "StacClient",
    "StacRequestRejected",
    "StacUnavailable",
    "Watcher",
    "area_footprint",
    "datatake_key",
    "item_to_scene",
    "rank",
    "sources_from_settings",
    "watcher_from_settings",
]
