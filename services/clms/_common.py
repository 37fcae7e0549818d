"""What every part of the official-series path shares: topics, product kinds, kernel versions, errors."""

from __future__ import annotations

from typing import Final, Literal

from greenwatch import kernels
from greenwatch.services import topics
from greenwatch.services.errors import PermanentError

#: Tile tasks of CLMS layers (key: scene id) and their per-area results (key: area id). Own topics, so
#: the Sentinel-2 worker and merger never see them; each has a `.dlq` companion like every topic.
CLMS_TASKS: Final = topics.CLMS_TASKS
CLMS_RESULTS: Final = topics.CLMS_RESULTS
TOPICS: Final = (CLMS_TASKS, CLMS_RESULTS)

Layer = Literal["tcd", "clcplus"]
#: product_kind (scene-discovered, tile-task) -> layer
LAYER_OF_KIND: Final[dict[str, Layer]] = {"clms-tcd": "tcd", "clms-clcplus": "clcplus"}
KIND_OF_LAYER: Final[dict[Layer, str]] = {"tcd": "clms-tcd", "clcplus": "clms-clcplus"}
SERIES: Final = "official"
CALIBRATED: Final = "sentinel-2 (calibrated)"
LAEA: Final = "EPSG:3035"
RES_M: Final = 10.0


class InvalidRaster(PermanentError):
    """A delivered CLMS raster that can never be processed as it is (wrong CRS, grid, dtype, codes)."""


def kernel_version(layer: Layer, tcd_tree_threshold: int = kernels.TCD_TREE_THRESHOLD) -> str:
    """The version stamped on tasks and results, as the kernels stamp their AreaCounts."""
    if layer == "tcd":
        return f"{kernels.TCD_VERSION}+t{tcd_tree_threshold}"
    return kernels.CLCPLUS_VERSION


def layer_of_kernel(version: str) -> Layer:
    """Which layer a tile result counts, from its kernel version ('tcd-...' or 'clcplus-...')."""
    if version.startswith(kernels.TCD_VERSION.split("-")[0] + "-"):
        return "tcd"
    if version.startswith(kernels.CLCPLUS_VERSION.split("-")[0] + "-"):
        return "clcplus"
    raise PermanentError(f"kernel version {version!r} is not a CLMS layer kernel")


def official_date(year: int) -> str:
    """The date an official observation carries: the start of its reference year (the CLMS items'
    start_datetime). Outside any season window, so a consumer must pick official observations by
    `series`, never by month."""
    return f"{year:04d}-01-01"
