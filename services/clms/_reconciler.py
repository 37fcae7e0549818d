"""Observations of both series in, per-area reconciliation documents and early-warning alerts out.

The reconciler is its own consumer group on `observations` (keyed by area), so it owns its tables per
area (single writer): `recon_obs` (its copy of the observations, latest per area, series and date),
`reconciliation` (the document the API and reports show) and an alert outbox of its own
(`clms_outbox`, `clms_outbox_pending`; `services/outbox.py`, as the trend service's): an alert is
stored under its deterministic id before it is sent, stays pending until the bus acknowledged it,
and is never raised twice. Alerts go to the shared `alerts` topic with series 'sentinel-2 (calibrated)'.

Sentinel-2 annual values follow the trend's definition (median of the usable in-season
observations) applied to shares of the area (`reconcile.annual_shares`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from greenwatch.schemas import OBSERVATION, Event, stable_id
from greenwatch.services import topics
from greenwatch.services.clms._common import CALIBRATED, SERIES
from greenwatch.services.clms.reconcile import Thresholds, annual_shares, reconcile
from greenwatch.services.outbox import AlertOutbox
from greenwatch.services.runtime import Outgoing
from greenwatch.services.store import Doc, Store

SOURCE = "greenwatch/reconcile"
OBS, RECON, OUTBOX, PENDING = "recon_obs", "reconciliation", "clms_outbox", "clms_outbox_pending"


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def official_shares(observations: list[Doc]) -> tuple[dict[str, dict[int, float]], float | None]:
    """Usable official shares per year, and the official area (m2) of the latest one."""
    out: dict[str, dict[int, float]] = {"canopy": {}, "green": {}}
    area = None
    for o in sorted(observations, key=lambda o: o["date"]):
        if not o["usable"] or not o.get("area_m2"):
            continue
        y = int(o["date"][:4])
        out["canopy"][y] = o["canopy_area_m2"] / o["area_m2"]
        out["green"][y] = o["green_area_m2"] / o["area_m2"]
        area = float(o["area_m2"])
    return out, area


class Reconciler:
    name = "reconcile"
    topics = (topics.OBSERVATIONS,)

    def __init__(self, *, store: Store, thresholds: Thresholds, area_names: dict[str, str] | None = None) -> None:
        self.store = store
        self.thresholds = thresholds
        self.area_names = area_names or {}
        self.outbox = AlertOutbox(store, table=OUTBOX, pending_table=PENDING, source=SOURCE)

    def handle(self, event: Event) -> list[Outgoing]:
        if event["type"] != OBSERVATION.type:
            return []
        obs = event["data"]
        area, series = obs["area_id"], obs["series"]
        self.store.put(OBS, f"{area}/{series}/{obs['date']}", obs)
        s2 = annual_shares([d for _, d in self.store.scan(OBS, f"{area}/sentinel-2/")], self.thresholds)
        official, area_m2 = official_shares([d for _, d in self.store.scan(OBS, f"{area}/{SERIES}/")])
        doc = reconcile(area, s2, official, area_m2, self.thresholds)
        self.store.put(RECON, area, {**doc, "area_name": self.area_names.get(area), "updated_at": _now()})
        for w in doc["early_warnings"]:
            if w["alert"]:
                self._raise(area, w)
        return self.outbox.pending(area)

    def after_flush(self) -> None:
        self.outbox.after_flush()

    def _label(self, area: str) -> str:
        name = self.area_names.get(area)
        return f"{name} ({area})" if name else area

    def _raise(self, area: str, w: Doc) -> None:
        alert_id = stable_id(area, "canopy-loss", CALIBRATED, None, None, w["year"])
        if self.outbox.raised(alert_id):
            return  # raised before: never twice
        se_pct = 100.0 * w["canopy_se_m2"] / w["baseline_canopy_m2"]
        years = ", ".join(map(str, w["calibration_years"]))
        message = (f"{self._label(area)}: early warning, tree canopy {w['canopy_change_pct']:+.1f} % "
                   f"(± {se_pct:.1f} %) in {w['year']} against the official {w['baseline_year']} figure; "
                   f"basis: Sentinel-2 calibrated on the official layers of {years} ({w['calibration']} model) "
                   f"until an official {w['year']} layer exists")
        figures: dict[str, Any] = {
            "baseline_canopy_m2": w["baseline_canopy_m2"], "latest_canopy_m2": w["latest_canopy_m2"],
            "canopy_change_pct": w["canopy_change_pct"], "canopy_z": w["canopy_z"],
            "canopy_se_m2": w["canopy_se_m2"], "baseline_green_m2": w["baseline_green_m2"],
            "latest_green_m2": w["latest_green_m2"], "green_change_pct": w["green_change_pct"],
            "calibration": w["calibration"], "calibration_years": w["calibration_years"],
            "official_year": w["official_year"],
        }
        alert = {
            "alert_id": alert_id, "area_id": area, "area_name": self.area_names.get(area),
            "alert_type": "canopy-loss", "severity": "critical", "message": message, "series": CALIBRATED,
            "from_state": None, "to_state": None, "figures": figures, "raised_at": _now(),
        }
        self.outbox.put(alert)
