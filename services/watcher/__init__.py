"""The STAC watcher: polls STAC APIs with pystac-client and publishes new scenes."""

from greenwatch.services.watcher._items import InvalidItem, item_to_scene
from greenwatch.services.watcher._watch import PollReport, Source, Watcher

__all__ = ["InvalidItem", "PollReport", "Source", "Watcher", "item_to_scene"]
