"""The HTTP API (FastAPI; OpenAPI at /openapi.json, docs at /docs).

Read-only unless `api.token` is configured: every GET is open, and the one write (acknowledging an
alert) answers 403 without a configured token and 401 without `Authorization: Bearer <token>`.
Every route declares its response model and its error responses, so the OpenAPI document is a
contract that tests/services/test_api.py checks every answer against.
"""

from __future__ import annotations

import csv
import hmac
import io
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from greenwatch.services import report
from greenwatch.services.app import App
from greenwatch.services.trend import NATIONAL
from greenwatch.services.webhook import deliveries

StateName = Literal["on-track", "at-risk", "net-loss", "insufficient-data", "excluded"]
SeriesName = Literal["sentinel-2", "official", "sentinel-2 (calibrated)"]
Regime = Literal["no-net-loss", "increasing-trend"]
AlertType = Literal["state-change", "canopy-loss", "data-gap"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(_Model):
    detail: str


class SeriesState(_Model):
    state: StateName
    latest_year: int | None
    regime: Regime | None


class AreaSummary(_Model):
    area_id: str
    name: str
    state: StateName
    series: SeriesName
    regime: Regime | None
    latest_year: int | None
    green_change_pct: float | None
    canopy_change_pct: float | None
    evaluated_at: str


class State(_Model):
    area_id: str
    state: StateName
    series: SeriesName = Field(description="the series this state rests on (official when it has a baseline)")
    regime: Regime | None
    baseline_year: int
    latest_year: int | None
    evaluated_at: str
    figures: dict[str, Any]
    reasons: list[str]
    previous_state: StateName | None = None
    series_states: dict[SeriesName, SeriesState]


class AnnualValue(_Model):
    year: int
    green_m2: float
    canopy_m2: float
    n: int = Field(description="usable observations (areas: observations in the season; national: the fewest)")
    green_se: float
    canopy_se: float
    area_m2: float
    green_share_pct: float | None
    canopy_share_pct: float | None
    method: Literal["pixel-composite", "area-median"] | None = Field(
        default=None, description="Sentinel-2: the per-pixel season composite of the class maps (n: dates "
        "composited), or the median of the season's per-date area figures; null: official layers, national totals")


class AreaDetail(State):
    name: str
    annual: dict[SeriesName, dict[str, AnnualValue]] = Field(description="per series, per year")


class SeriesRow(_Model):
    date: date
    green_area_m2: float | None
    canopy_area_m2: float | None
    water_area_m2: float | None
    area_m2: float | None
    valid_fraction: float | None
    usable: int
    n_products: int
    kernel_version: str


class Gap(_Model):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: date = Field(alias="from")
    to: date
    months: float
    open: bool


class Alert(_Model):
    alert_id: str
    area_id: str
    area_name: str | None = None
    alert_type: AlertType
    severity: Literal["info", "warning", "critical"]
    message: str
    series: SeriesName
    from_state: StateName | None = None
    to_state: StateName | None = None
    year: int | None = None
    regime: Regime | None = None
    gap: Gap | None = None
    figures: dict[str, Any] = Field(default_factory=dict)
    raised_at: str
    acknowledged_at: str | None = None


class Delivery(_Model):
    alert_id: str
    url: str
    attempt: int | None
    status: int | None
    ok: bool
    error: str | None
    at: str
    seconds: float | None = None
    dead_lettered: bool = False


class Acknowledgement(_Model):
    alert_id: str
    acknowledged_at: str
    note: str | None


class AckRequest(_Model):
    note: str | None = Field(default=None, max_length=2000)


class Health(_Model):
    status: Literal["ok"]


class Ready(_Model):
    status: Literal["ready"]
    checks: dict[str, str]


NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "unknown area or no state yet"}}
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "one row per observation"},
    **NOT_FOUND}
PNG_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}, "description": "PNG"},
    **NOT_FOUND}
AreaId = Annotated[str, Path(min_length=1, max_length=64, description="area id, e.g. GM0344")]
SeriesQ = Annotated[SeriesName, Query(description="which series")]
FromQ = Annotated[date | None, Query(alias="from", description="first date")]
ToQ = Annotated[date | None, Query(description="last date")]
BEARER = HTTPBearer(auto_error=False, description="api.token (writes only)")


def _utc(value: datetime | None) -> str | None:
    """A time filter as a string comparable with `raised_at` (UTC, ISO 8601; naive means UTC)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat()


def create_app(app: App) -> FastAPI:
    api = FastAPI(title="greenwatch", version="1", description="Urban green space and tree canopy under "
                  "Article 8 of Regulation (EU) 2024/1991: states, series and alerts per area. Read-only "
                  "unless api.token is configured.")
    names = dict(zip(app.areas.ids, app.areas.names, strict=True))
    token = app.settings.api.token.get_secret_value() if app.settings.api.token else None

    def known(area_id: str) -> None:
        if area_id != NATIONAL and area_id not in names:
            raise HTTPException(404, f"unknown area {area_id!r}")

    def state_of(area_id: str) -> dict[str, Any]:
        known(area_id)
        state = app.store.get("states", area_id)
        if state is None:
            raise HTTPException(404, f"no state yet for {area_id!r}")
        return state

    def writer(cred: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]) -> None:
        if token is None:
            raise HTTPException(403, "the API is read-only: configure api.token to enable writes")
        if cred is None or not hmac.compare_digest(cred.credentials.encode(), token.encode()):
            raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})

    @api.get("/healthz", response_model=Health, tags=["health"])
    def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @api.get("/readyz", response_model=Ready, tags=["health"],
             responses={503: {"model": Problem, "description": "state store or time series not readable"}})
    def readyz() -> dict[str, Any]:
        """The state store and the time series can be read."""
        checks = {}
        try:
            app.store.get("states", NATIONAL)
            checks["store"] = "ok"
            checks["series"] = f"ok ({len(app.series.area_ids)} areas)"
        except Exception as exc:  # any failure means not ready, with the reason
            raise HTTPException(503, f"not ready: {type(exc).__name__}: {exc}") from exc
        return {"status": "ready", "checks": checks}

    @api.get("/areas", response_model=list[AreaSummary], tags=["areas"])
    def areas(state: Annotated[StateName | None, Query(description="only areas in this state")] = None
              ) -> list[dict[str, Any]]:
        """Every evaluated area with its current state."""
        out = []
        for d in sorted(report.states(app), key=lambda d: d["area_id"]):
            if d["area_id"] not in names or (state is not None and d["state"] != state):
                continue
            f = d["figures"]
            out.append({"area_id": d["area_id"], "name": names[d["area_id"]], "state": d["state"],
                        "series": d["series"], "regime": d.get("regime"), "latest_year": d.get("latest_year"),
                        "green_change_pct": f.get("green_change_pct"), "canopy_change_pct": f.get("canopy_change_pct"),
                        "evaluated_at": d["evaluated_at"]})
        return out

    @api.get("/areas/{area_id}", response_model=AreaDetail, responses=NOT_FOUND, tags=["areas"])
    def area(area_id: AreaId) -> dict[str, Any]:
        """An area's state with its figures, reasons, the state on each series and the annual values."""
        return {**state_of(area_id), "name": names.get(area_id, "national total"),
                "annual": report.annual(app, area_id)}

    @api.get("/areas/{area_id}/history", response_model=list[State], responses=NOT_FOUND, tags=["areas"])
    def history(area_id: AreaId) -> list[dict[str, Any]]:
        """Every state the area has had, oldest first."""
        known(area_id)
        return report.history(app, area_id)

    @api.get("/national", response_model=AreaDetail, responses=NOT_FOUND, tags=["national"])
    def national() -> dict[str, Any]:
        """The national totals: state, figures, each area's contribution and the annual totals."""
        return area(NATIONAL)

    def rows(area_id: str, series: SeriesName, start: date | None, end: date | None) -> list[dict[str, Any]]:
        if area_id == NATIONAL:
            raise HTTPException(404, "the national total has no per-date series; see /national")
        known(area_id)
        return report.series_rows(app, area_id, series, start.isoformat() if start else None,
                                  end.isoformat() if end else None)

    @api.get("/areas/{area_id}/series", response_model=list[SeriesRow], responses=NOT_FOUND, tags=["series"])
    def series(area_id: AreaId, series: SeriesQ = "sentinel-2", start: FromQ = None,
               to: ToQ = None) -> list[dict[str, Any]]:
        """An area's observations, one per date (valid_fraction < the minimum: usable 0)."""
        return rows(area_id, series, start, to)

    @api.get("/areas/{area_id}/series.csv", response_class=Response, responses=CSV_RESPONSE, tags=["series"])
    def series_csv(area_id: AreaId, series: SeriesQ = "sentinel-2", start: FromQ = None,
                   to: ToQ = None) -> Response:
        """The same as CSV."""
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(report.SERIES_FIELDS), extrasaction="ignore", lineterminator="\n")
        w.writeheader()
        w.writerows(rows(area_id, series, start, to))
        return Response(buf.getvalue(), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{area_id}-{series}.csv"'})

    @api.get("/areas/{area_id}/plot.png", response_class=Response, responses=PNG_RESPONSE, tags=["series"])
    def plot(area_id: AreaId) -> Response:
        """Observations, annual values, baseline and Theil-Sen trend of the series the state rests on."""
        known(area_id)
        return Response(report.plot_png(app, area_id), media_type="image/png")

    @api.get("/alerts", response_model=list[Alert], tags=["alerts"])
    def alerts(area: Annotated[str | None, Query(description="area id (or 'national')")] = None,
               type: Annotated[AlertType | None, Query(description="alert type")] = None,  # noqa: A002
               since: Annotated[datetime | None, Query(description="ISO date-time or date (UTC if no offset)")] = None,
               limit: Annotated[int | None, Query(ge=1, le=10000, description="the latest N")] = None,
               ) -> list[dict[str, Any]]:
        """Alerts, oldest first, filtered by area, type and time raised."""
        return report.alerts(app, area=area, alert_type=type, since=_utc(since), limit=limit)

    @api.get("/alerts/{alert_id}/deliveries", response_model=list[Delivery], tags=["alerts"],
             responses={404: {"model": Problem, "description": "unknown alert"}})
    def alert_deliveries(alert_id: Annotated[str, Path(pattern="^[0-9a-f]{24}$")]) -> list[dict[str, Any]]:
        """The webhook delivery log of one alert (every attempt)."""
        if app.store.get("outbox", alert_id) is None:
            raise HTTPException(404, f"unknown alert {alert_id!r}")
        return deliveries(app.store, alert_id)

    @api.post("/alerts/{alert_id}/ack", response_model=Acknowledgement, tags=["alerts"],
              dependencies=[Depends(writer)],
              responses={401: {"model": Problem, "description": "missing or wrong bearer token"},
                         403: {"model": Problem, "description": "read-only: no api.token configured"},
                         404: {"model": Problem, "description": "unknown alert"}})
    def acknowledge(alert_id: Annotated[str, Path(pattern="^[0-9a-f]{24}$")],
                    body: AckRequest | None = None) -> dict[str, Any]:
        """Acknowledge an alert (needs the API token)."""
        doc = report.acknowledge(app, alert_id, body.note if body else None)
        if doc is None:
            raise HTTPException(404, f"unknown alert {alert_id!r}")
        return doc

    from greenwatch.services.clms.api import router as clms_router  # noqa: PLC0415 - optional part

    api.include_router(clms_router(app))
    return api
