"""Area sets: polygons (GeoJSON or GeoPackage) with ids, a version, and label rasters per product grid."""

from greenwatch.services.areas._areaset import BUILTIN_AREAS, AreaSet
from greenwatch.services.areas._gpkg import GeoPackageError, read_gpkg
from greenwatch.services.areas._labels import Grid, LabelRaster
from greenwatch.services.areas._mgrs import PixelDomain, core_key, domain_for, mgrs_square
from greenwatch.services.areas._rasterize import RASTER_RULE, rasterize
from greenwatch.services.areas._ucc import UCC_CLASSES, UccLayer, UccLayerError, load_ucc, load_ucc_parts, ucc_parts

__all__ = ["BUILTIN_AREAS", "RASTER_RULE", "AreaSet", "GeoPackageError", "Grid", "LabelRaster", "rasterize",
           "read_gpkg"]
__all__ += ["PixelDomain", "core_key", "domain_for", "mgrs_square"]
__all__ += ["UCC_CLASSES", "UccLayer", "UccLayerError", "load_ucc", "load_ucc_parts", "ucc_parts"]
