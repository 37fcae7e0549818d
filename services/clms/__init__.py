"""The official series: CLMS Tree Cover Density and CLC+ Backbone, and their reconciliation with
the Sentinel-2 series (issue 7).

Data flow (own topics beside the Sentinel-2 ones):

```
scenes (clms-tcd, clms-clcplus) --ClmsPlanner: ingest GeoTIFF -> Zarr, areas on the LAEA grid--> clms-tasks
clms-tasks --ClmsTileWorker: tcd_count / clcplus_count per window--> clms-results (key: area)
clms-results --OfficialSeries: per area and layer-year, all tiles--> observations (series 'official')
observations --Reconciler: calibration, calibrated Sentinel-2, early warning--> alerts
                                                                    ('sentinel-2 (calibrated)')
```

Scenes come from the watcher (STAC sources with `product_kind = "clms-tcd" | "clms-clcplus"`,
mapped by `clms_item_to_scene`) or from a file listing (`greenwatch clms ingest`).
"""

from greenwatch.services.clms._common import (
    CALIBRATED,
    CLMS_RESULTS,
    CLMS_TASKS,
    InvalidRaster,
    kernel_version,
    official_date,
)
from greenwatch.services.clms._items import InvalidClmsItem, clms_item_to_scene, file_to_scene
from greenwatch.services.clms._plan import ClmsPlanner, ClmsTileWorker
from greenwatch.services.clms._reconciler import Reconciler
from greenwatch.services.clms.official import OfficialSeries, area_pixels_on_lattice, layer_figure
from greenwatch.services.clms.reconcile import Annual, Calibration, Thresholds, calibrate, reconcile

__all__ = [
    "CALIBRATED",
    "CLMS_RESULTS",
    "CLMS_TASKS",
    "Annual",
    "Calibration",
    "ClmsPlanner",
    "ClmsTileWorker",
    "InvalidClmsItem",
    "InvalidRaster",
    "OfficialSeries",
    "Reconciler",
    "Thresholds",
    "area_pixels_on_lattice",
    "calibrate",
    "clms_item_to_scene",
    "file_to_scene",
    "kernel_version",
    "layer_figure",
    "official_date",
    "reconcile",
]
