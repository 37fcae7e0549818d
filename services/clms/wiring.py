"""Settings -> the official-series services (called by `services/app.py` and the `clms` commands).

Three consumer groups, each scalable like the Sentinel-2 ones:

| service (group)                  | reads                   | writes                                   |
|----------------------------------|-------------------------|------------------------------------------|
| `clms` (planner + tile worker)   | scenes, clms-tasks      | clms-tasks, clms-results; ledger, Zarr    |
| `official`                       | clms-results            | observations (series 'official')          |
| `reconcile`                      | observations            | alerts ('sentinel-2 (calibrated)')        |

With `areas.urban_centres_path` set, the tile worker also counts each window over the areas' urban
centres and clusters parts (`App.ucc`) and the official series adds those figures (`ucc`) to its
observations: the basis of the Art. 8(1) exclusion.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from greenwatch.services.bus import Bus, dlq_topic
from greenwatch.services.clms._common import TOPICS
from greenwatch.services.clms._plan import ClmsPlanner, ClmsTileWorker
from greenwatch.services.clms._reconciler import Reconciler
from greenwatch.services.clms.official import OfficialSeries
from greenwatch.services.clms.reconcile import Thresholds


def ensure_topics(bus: Bus, partitions: int) -> None:
    """Create the CLMS topics and their DLQs (Kafka; a no-op on the embedded bus)."""
    bus.ensure_topics([*TOPICS, *(dlq_topic(t) for t in TOPICS)], partitions=partitions)


def thresholds_from(settings: Any) -> Thresholds:
    t = settings.trend
    return Thresholds(baseline_year=t.baseline_year, canopy_loss_alert_pct=t.canopy_loss_alert_pct,
                      z_net_loss=t.z_net_loss, season_start_month=t.season_start_month,
                      season_end_month=t.season_end_month, min_observations_per_year=t.min_observations_per_year,
                      calibration=settings.clms.calibration)


def zarr_root(settings: Any) -> str:
    return settings.clms.zarr_root or str(Path(settings.data_dir) / "clms")


def clms_services(app: Any) -> list[Any]:
    """The official-series services of an `App` (bus, store, areas, ledger, settings)."""
    from greenwatch.services.app import Composite  # noqa: PLC0415 - app imports this module lazily

    s = app.settings
    c = s.clms
    ensure_topics(app.bus, s.bus.partitions)
    cache = Path(s.data_dir) / "cache" / "areas"
    names = dict(zip(app.areas.ids, app.areas.names, strict=True))
    ucc = app.ucc  # urban centres and clusters parts (areas.urban_centres_path), or None
    return [
        Composite("clms", [
            ClmsPlanner(areas=app.areas, ledger=app.ledger, zarr_root=zarr_root(s), chunk=c.chunk,
                        tcd_tree_threshold=c.tcd_tree_threshold, cache_dir=cache,
                        allowed_href_schemes=tuple(s.work.allowed_href_schemes)),
            ClmsTileWorker(areas=app.areas, ledger=app.ledger, tcd_tree_threshold=c.tcd_tree_threshold,
                           cache_dir=cache, ucc=ucc),
        ]),
        OfficialSeries(store=app.store, areas=app.areas, min_valid_fraction=s.trend.min_valid_fraction, ucc=ucc),
        Reconciler(store=app.store, thresholds=thresholds_from(s), area_names=names),
    ]
