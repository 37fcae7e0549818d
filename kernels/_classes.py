"""Pixel classes shared by every kernel, and the class tables of the CLMS layers."""

from __future__ import annotations

import enum
from types import MappingProxyType
from typing import Final


class PixelClass(enum.IntEnum):
    """Per-pixel class written by the classification kernels (uint8 on disk)."""

    INVALID = 0  #: cloud, shadow, snow, saturated/defective, no data, fill value
    WATER = 1  #: open water (SCL 6 or NDWI above threshold)
    TREE = 2  #: tree canopy (NDVI above the tree threshold)
    OTHER_GREEN = 3  #: grass, shrub, herbaceous (low vegetation)
    NOT_GREEN = 4  #: sealed surfaces, bare soil, rock


N_CLASSES: Final = len(PixelClass)

#: Class table as data (for contracts and result metadata).
CLASS_TABLE: Final = MappingProxyType(
    {
        int(PixelClass.INVALID): "invalid: masked by SCL, fill value 0, or no observation",
        int(PixelClass.WATER): "water",
        int(PixelClass.TREE): "tree canopy",
        int(PixelClass.OTHER_GREEN): "other green: grass, shrub, herbaceous",
        int(PixelClass.NOT_GREEN): "not green: sealed, bare",
    }
)

GREEN_CLASSES: Final = (PixelClass.TREE, PixelClass.OTHER_GREEN)

#: CLC+ Backbone raster legend (CLMS), uint8, 10 m, EPSG:3035.
CLCPLUS_LEGEND: Final = MappingProxyType(
    {
        1: "sealed",
        2: "woody, needle-leaved trees",
        3: "woody, broadleaved deciduous trees",
        4: "woody, broadleaved evergreen trees",
        5: "low-growing woody plants (bushes, shrubs)",
        6: "permanent herbaceous",
        7: "periodically herbaceous",
        8: "lichens and mosses",
        9: "non- and sparsely-vegetated",
        10: "water",
        11: "snow and ice",
        253: "coastal seawater buffer (no data)",
        254: "outside area (no data)",
        255: "no data",
    }
)

#: CLC+ Backbone class -> :class:`PixelClass`. Codes not listed (0, 253, 254, 255, ...) are INVALID.
CLCPLUS_TO_CLASS: Final = MappingProxyType(
    {
        1: PixelClass.NOT_GREEN,
        2: PixelClass.TREE,
        3: PixelClass.TREE,
        4: PixelClass.TREE,
        5: PixelClass.OTHER_GREEN,
        6: PixelClass.OTHER_GREEN,
        7: PixelClass.NOT_GREEN,
        8: PixelClass.OTHER_GREEN,
        9: PixelClass.NOT_GREEN,
        10: PixelClass.WATER,
        11: PixelClass.NOT_GREEN,
    }
)
