"""Area sets: polygons (GeoJSON or GeoPackage) with ids, a version, and label rasters per product grid."""

from greenwatch.services.areas._areaset import BUILTIN_AREAS, AreaSet, Grid
from greenwatch.services.areas._rasterize import RASTER_RULE, rasterize

__all__ = ["BUILTIN_AREAS", "RASTER_RULE", "AreaSet", "Grid", "rasterize"]
