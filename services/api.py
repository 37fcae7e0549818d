"""The read-only HTTP API (FastAPI; OpenAPI at /openapi.json, docs at /docs)."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Response

from greenwatch.services import report
from greenwatch.services.app import App
from greenwatch.services.trend import NATIONAL


def create_app(app: App) -> FastAPI:
    api = FastAPI(title="greenwatch", version="1", description="Urban green space and tree canopy under "
                  "Article 8 of Regulation (EU) 2024/1991: states, series and alerts per area.")
    names = dict(zip(app.areas.ids, app.areas.names, strict=True))

    def known(area_id: str) -> None:
        if area_id != NATIONAL and area_id not in names:
            raise HTTPException(404, f"unknown area {area_id!r}")

    @api.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/readyz")
    def readyz() -> dict[str, Any]:
        try:
            app.store.get("states", NATIONAL)
        except Exception as exc:
            raise HTTPException(503, f"store not ready: {exc}") from exc
        return {"status": "ready"}

    @api.get("/areas")
    def areas() -> list[dict[str, Any]]:
        st = {d["area_id"]: d for d in report.states(app)}
        return [{"area_id": a, "name": names[a], "state": st[a]["state"], "series": st[a]["series"]}
                for a in sorted(st) if a in names]

    @api.get("/areas/{area_id}")
    def area(area_id: str) -> dict[str, Any]:
        known(area_id)
        state = app.store.get("states", area_id)
        if state is None:
            raise HTTPException(404, f"no state yet for {area_id!r}")
        return {**state, "name": names.get(area_id), "annual": report.annual(app, area_id)}

    @api.get("/national")
    def national() -> dict[str, Any]:
        return area(NATIONAL)

    @api.get("/areas/{area_id}/series")
    def series(area_id: str) -> list[dict[str, Any]]:
        known(area_id)
        return report.series_rows(app, area_id)

    @api.get("/areas/{area_id}/series.csv", response_class=Response)
    def series_csv(area_id: str) -> Response:
        rows = series(area_id)
        buf = io.StringIO()
        if rows:
            w = csv.DictWriter(buf, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        return Response(buf.getvalue(), media_type="text/csv")

    @api.get("/areas/{area_id}/plot.png", response_class=Response)
    def plot(area_id: str) -> Response:
        known(area_id)
        return Response(report.plot_png(app, area_id), media_type="image/png")

    @api.get("/alerts")
    def alerts(area: str | None = None, type: str | None = Query(None, alias="type"),  # noqa: A002
               since: str | None = None) -> list[dict[str, Any]]:
        return report.alerts(app, area=area, alert_type=type, since=since)

    return api
