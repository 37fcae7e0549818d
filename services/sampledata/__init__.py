"""Synthetic Sentinel-2 L2A products in the EOPF Zarr layout, with a known land-cover truth.

`generate(out_dir, Scenario(...))` writes products, STAC items and the truth; `generate_demo`
writes the default Utrecht series. See `generate.py` for the output layout and `truth.py` for
the class table.
"""

from ._areas import Area, AreaMask, default_areas_path, load_areas, rasterize
from ._grid import Grid, utm_epsg
from ._radiometry import BANDS, CLEAR_SCL, season, spectra
from ._scenario import COLLECTIONS, DEMO_CENTRE, DEMO_CHANGE_AREA, DEMO_CHANGE_DATE, DEMO_DATES, Scenario
from .generate import GeneratedProduct, generate, generate_demo, read_product_truth, true_area_counts
from .truth import CLASS_KEYS, AreaTruth, LandCover, Truth, build_truth

__all__ = [
    "BANDS",
    "CLASS_KEYS",
    "CLEAR_SCL",
    "COLLECTIONS",
    "DEMO_CENTRE",
    "DEMO_CHANGE_AREA",
    "DEMO_CHANGE_DATE",
    "DEMO_DATES",
    "Area",
    "AreaMask",
    "AreaTruth",
    "GeneratedProduct",
    "Grid",
    "LandCover",
    "Scenario",
    "Truth",
    "build_truth",
    "default_areas_path",
    "generate",
    "generate_demo",
    "load_areas",
    "rasterize",
    "read_product_truth",
    "season",
    "spectra",
    "true_area_counts",
    "utm_epsg",
]
