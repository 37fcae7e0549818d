"""The worker: plans scenes into chunk-aligned tile tasks and turns each task into per-area counts."""

from greenwatch.services.worker._plan import Planner
from greenwatch.services.worker._tile import TileWorker

__all__ = ["Planner", "TileWorker"]
