"""Both series side by side: an HTTP router (mounted by the API) and a text table (CLI, demo, report).

`GET /official` lists every reconciled area with its latest figures; `GET /areas/{id}/official`
gives one area's official layers, its per-year comparison (Sentinel-2 annual share, official share,
difference, calibrated share with its standard error), the calibration, early warnings, and which
series the compliance state rests on (`state_series`, from the trend's state) and which one the
latest figure rests on (`basis`).
"""

from __future__ import annotations

from typing import Any

from greenwatch.services.clms._reconciler import OUTBOX, RECON
from greenwatch.services.clms.official import LAYERS
from greenwatch.services.store import Doc, Store


def comparison_rows(store: Store, names: dict[str, str] | None = None) -> list[Doc]:
    """One row per area and year with both series (shares in % of the area)."""
    names = names or {}
    rows = []
    for area, doc in sorted(store.scan(RECON)):
        state = store.get("states", area)
        for y in doc["years"]:
            def pct(v: float | None) -> float | None:
                return None if v is None else round(100.0 * v, 2)

            rows.append({
                "area_id": area, "name": names.get(area) or doc.get("area_name") or area, "year": y["year"],
                "official_canopy_pct": pct(y["official_canopy_share"]), "s2_canopy_pct": pct(y["s2_canopy_share"]),
                "canopy_diff_pp": None if y["canopy_diff_pp"] is None else round(y["canopy_diff_pp"], 2),
                "calibrated_canopy_pct": pct(y["calibrated_canopy_share"]),
                "calibrated_canopy_se_pct": pct(y["calibrated_canopy_se"]),
                "official_green_pct": pct(y["official_green_share"]), "s2_green_pct": pct(y["s2_green_share"]),
                "green_diff_pp": None if y["green_diff_pp"] is None else round(y["green_diff_pp"], 2),
                "calibrated_green_pct": pct(y["calibrated_green_share"]),
                "basis": doc["basis"], "state_series": state.get("series") if state else None,
            })
    return rows


def comparison_text(rows: list[Doc]) -> str:
    """A fixed-width table of `comparison_rows` (empty cells where a series has no value)."""
    def f(v: Any, spec: str = "6.1f") -> str:
        return format(v, spec) if isinstance(v, int | float) else " " * int(spec.split(".", maxsplit=1)[0])

    head = (f"{'area':<7} {'name':<14} {'year':>4} | {'TCD %':>6} {'S2 %':>6} {'Δ pp':>6} {'S2cal %':>7} {'±':>5} "
            f"| {'CLC+ %':>6} {'S2 %':>6} {'Δ pp':>6} {'S2cal %':>7} | basis")
    lines = ["tree canopy and green space in % of the area: official (TCD / CLC+) vs Sentinel-2 (annual median) "
             "vs Sentinel-2 calibrated on the official layers", head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['area_id']:<7} {str(r['name'])[:14]:<14} {r['year']:>4} | {f(r['official_canopy_pct'])} "
            f"{f(r['s2_canopy_pct'])} {f(r['canopy_diff_pp'], '+6.1f')} {f(r['calibrated_canopy_pct'], '7.1f')} "
            f"{f(r['calibrated_canopy_se_pct'], '5.1f')} | {f(r['official_green_pct'])} {f(r['s2_green_pct'])} "
            f"{f(r['green_diff_pp'], '+6.1f')} {f(r['calibrated_green_pct'], '7.1f')} | {r['basis']}"
        )
    return "\n".join(lines)


def area_view(store: Store, area_id: str) -> Doc | None:
    recon = store.get(RECON, area_id)
    layers = [d for _, d in store.scan(LAYERS, f"{area_id}/")]
    if recon is None and not layers:
        return None
    state = store.get("states", area_id)
    return {
        "area_id": area_id,
        "state_series": state.get("series") if state else None,
        "basis": recon["basis"] if recon else "official",
        "official_layers": [{k: v for k, v in d.items() if k != "class_counts"} | {"class_counts": d["class_counts"]}
                            for d in sorted(layers, key=lambda d: (d["layer"], d["year"]))],
        "reconciliation": recon,
    }


def official_alerts(store: Store, area: str | None = None) -> list[Doc]:
    out = [a for _, a in store.scan(OUTBOX) if area is None or a["area_id"] == area]
    return sorted(out, key=lambda a: (a["raised_at"], a["alert_id"]))


def router(app: Any) -> Any:
    """FastAPI router for `app` (an `App`): mount it with `api.include_router(router(app))`."""
    from fastapi import APIRouter, HTTPException  # noqa: PLC0415 - only the API process needs FastAPI

    names = dict(zip(app.areas.ids, app.areas.names, strict=True))
    r = APIRouter(tags=["official series (CLMS) and reconciliation"])

    @r.get("/official", summary="Both series side by side, per area and year")
    def official() -> list[dict[str, Any]]:
        return comparison_rows(app.store, names)

    @r.get("/official/alerts", summary="Early warnings raised on calibrated Sentinel-2")
    def alerts(area: str | None = None) -> list[dict[str, Any]]:
        return official_alerts(app.store, area)

    @r.get("/areas/{area_id}/official", summary="One area's official layers, reconciliation and basis")
    def area(area_id: str) -> dict[str, Any]:
        if area_id not in names:
            raise HTTPException(404, f"unknown area {area_id!r}")
        view = area_view(app.store, area_id)
        if view is None:
            raise HTTPException(404, f"no official layer or reconciliation yet for {area_id!r}")
        return view

    return r
