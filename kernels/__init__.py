"""greenwatch kernels: pure NumPy/Numba array functions (no I/O, logging or configuration).

Sentinel-2 L2A classification of water, tree canopy and other green space with a fractional canopy
estimate; the same classification fused with per-area counting; season composites; CLMS layers
(CLC+ Backbone, Tree Cover Density) through the same aggregation path. Every kernel declares a
:class:`KernelContract` and a version that is stamped on its results. NumPy reference
implementations: :mod:`greenwatch.kernels.reference`.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from ._classes import CLASS_TABLE, CLCPLUS_LEGEND, CLCPLUS_TO_CLASS, GREEN_CLASSES, N_CLASSES, PixelClass
from ._clms import (
    CLCPLUS_CONTRACT,
    CLCPLUS_VERSION,
    TCD_CONTRACT,
    TCD_TREE_THRESHOLD,
    TCD_VERSION,
    clcplus_count,
    tcd_count,
)
from ._composite import (
    SEASON_COMPOSITE_CONTRACT,
    SEASON_MAJORITY_CONTRACT,
    SEASON_MAJORITY_VERSION,
    SEASON_MEDIAN_VERSION,
    season_composite,
    season_majority,
)
from ._contract import ArraySpec, KernelContract
from ._counts import CANOPY_UNITS, AreaCounts
from ._jit import FASTMATH, num_threads
from ._params import ClassifyParams, Radiometry, kernel_version, parse_baseline, radiometry_for
from ._s2 import (
    CLASSIFY_CONTRACT,
    CLASSIFY_COUNT_CONTRACT,
    CLASSIFY_NDVI_CONTRACT,
    classify,
    classify_count,
    classify_ndvi,
)

#: Every kernel's contract, by kernel name.
CONTRACTS: Final = MappingProxyType(
    {
        c.name: c
        for c in (
            CLASSIFY_CONTRACT,
            CLASSIFY_COUNT_CONTRACT,
            CLASSIFY_NDVI_CONTRACT,
            SEASON_COMPOSITE_CONTRACT,
            SEASON_MAJORITY_CONTRACT,
            CLCPLUS_CONTRACT,
            TCD_CONTRACT,
        )
    }
)

__all__ = [
    "CANOPY_UNITS",
    "CLASSIFY_CONTRACT",
    "CLASSIFY_COUNT_CONTRACT",
    "CLASSIFY_NDVI_CONTRACT",
    "CLASS_TABLE",
    "CLCPLUS_CONTRACT",
    "CLCPLUS_LEGEND",
    "CLCPLUS_TO_CLASS",
    "CLCPLUS_VERSION",
    "CONTRACTS",
    "FASTMATH",
    "GREEN_CLASSES",
    "N_CLASSES",
    "SEASON_COMPOSITE_CONTRACT",
    "SEASON_MAJORITY_CONTRACT",
    "SEASON_MAJORITY_VERSION",
    "SEASON_MEDIAN_VERSION",
    "TCD_CONTRACT",
    "TCD_TREE_THRESHOLD",
    "TCD_VERSION",
    "AreaCounts",
    "ArraySpec",
    "ClassifyParams",
    "KernelContract",
    "PixelClass",
    "Radiometry",
    "classify",
    "classify_count",
    "classify_ndvi",
    "clcplus_count",
    "kernel_version",
    "num_threads",
    "parse_baseline",
    "radiometry_for",
    "season_composite",
    "season_majority",
    "tcd_count",
]
