"""The per-pixel season composite (issue 6): when a scene of the season is complete, the tile-year's
class maps are composited per pixel (majority class, median canopy fraction) and counted per area;
the trend service uses those counts as the Sentinel-2 annual value where they cover the area."""

from greenwatch.services.composite._compute import COMPOSITE_VERSION, CompositeCounts, composite_counts
from greenwatch.services.composite._service import DONE, Compositor

__all__ = ["COMPOSITE_VERSION", "DONE", "CompositeCounts", "Compositor", "composite_counts"]
