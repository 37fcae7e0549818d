"""Views of the results shared by the API, the demo and the HTML report: tables, series, plots.

Read-only: everything here reads the state store (states, history, annual indicators, alerts, the
webhook delivery log) and the Zarr time series; the only write is an operator's acknowledgement of
an alert (`acknowledge`), kept in its own table so that no other writer's document is touched.
"""

from __future__ import annotations

import base64
import html
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from greenwatch.services.app import App, rules_from
from greenwatch.services.trend import NATIONAL, Annual, national_totals, theil_sen

Doc = dict[str, Any]
ACKS = "alert_acks"
SERIES_FIELDS = ("date", "green_area_m2", "canopy_area_m2", "water_area_m2", "area_m2", "valid_fraction",
                 "usable", "n_products", "kernel_version")


def states(app: App) -> list[Doc]:
    return [d for _, d in app.store.scan("states")]


def history(app: App, area: str) -> list[Doc]:
    return [d for _, d in app.store.scan("state_history", area + "/")]


def alerts(app: App, *, area: str | None = None, alert_type: str | None = None, since: str | None = None,
           limit: int | None = None) -> list[Doc]:
    """Alerts raised at or after `since` (an ISO date or date-time, compared in UTC), oldest first."""
    acks = dict(app.store.scan(ACKS))
    out = []
    raised = [a for _, a in app.store.scan("outbox")] + [a for _, a in app.store.scan("clms_outbox")]
    for a in raised:
        if area is not None and a["area_id"] != area:
            continue
        if alert_type is not None and a["alert_type"] != alert_type:
            continue
        if since is not None and a["raised_at"] < since:
            continue
        out.append({**a, "acknowledged_at": (acks.get(a["alert_id"]) or {}).get("acknowledged_at")})
    out.sort(key=lambda a: (a["raised_at"], a["alert_id"]))
    return out[-limit:] if limit else out


def acknowledge(app: App, alert_id: str, note: str | None = None) -> Doc | None:
    if app.store.get("outbox", alert_id) is None:
        return None
    doc = {"alert_id": alert_id, "acknowledged_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
           "note": note}
    app.store.put(ACKS, alert_id, doc)
    return doc


def annual(app: App, area: str) -> dict[str, dict[str, Doc]]:
    """{series: {year: annual indicator}}; for the national total, the totals over the same areas."""
    if area != NATIONAL:
        return app.store.get("annual", area) or {}
    by_series: dict[str, dict[str, dict[int, Annual]]] = {}
    for a, doc in app.store.scan("annual"):
        for s, years in doc.items():
            by_series.setdefault(s, {})[a] = {int(y): Annual.from_doc(v) for y, v in years.items()}
    rules = rules_from(app.settings)
    return {s: {str(y): t.to_doc() for y, t in national_totals(areas, rules)[0].items()}
            for s, areas in by_series.items()}


def series_rows(app: App, area: str, series: str = "sentinel-2", start: str | None = None,
                end: str | None = None) -> list[Doc]:
    """One row per observation date: the Zarr time series (Sentinel-2) or the stored observations of
    another series (official)."""
    if series == "sentinel-2":
        s = app.series.series(area)
        rows = [{"date": str(t), **{k: _py(v[i]) for k, v in s.items() if k != "time"}}
                for i, t in enumerate(s["time"])]
    else:
        rows = [{k: (int(d[k]) if k == "usable" else d.get(k)) for k in SERIES_FIELDS}
                for _, d in app.store.scan("obs", f"{area}/{series}/")]
    return [r for r in rows if (start is None or r["date"] >= start) and (end is None or r["date"] <= end)]


def _py(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and np.isnan(v):
        return None
    return v


def plot_png(app: App, area: str) -> bytes:
    """Observations (usable filled), annual values, the baseline and the Theil-Sen trend of the annual
    values, for the series the state rests on."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    st = app.store.get("states", area)
    series = st["series"] if st else "sentinel-2"
    fig, ax = plt.subplots(figsize=(9, 3.2), dpi=90)
    rows = series_rows(app, area, series) if area != NATIONAL else []
    ann = annual(app, area).get(series, {})
    base_year = app.settings.trend.baseline_year
    for key, colour, label in (("green", "tab:green", "green space"), ("canopy", "tab:brown", "tree canopy")):
        if rows:
            dates = np.array([r["date"] for r in rows], dtype="datetime64[D]")
            vals = np.array([np.nan if r[f"{key}_area_m2"] is None else r[f"{key}_area_m2"] for r in rows]) / 1e6
            usable = np.array([bool(r["usable"]) for r in rows])
            ax.plot(dates[usable], vals[usable], "o", color=colour, ms=4, label=f"{label} (usable)")
            ax.plot(dates[~usable], vals[~usable], "o", color=colour, ms=4, mfc="none", alpha=0.5)
        if ann:
            years = sorted(int(y) for y in ann)
            yv = [ann[str(y)][f"{key}_m2"] / 1e6 for y in years]
            mid = np.array([f"{y}-07-01" for y in years], dtype="datetime64[D]")
            ax.plot(mid, yv, "s", color=colour, ms=6, label=f"{label}, annual")
            if str(base_year) in ann:
                ax.axhline(ann[str(base_year)][f"{key}_m2"] / 1e6, color=colour, ls=":", lw=1,
                           label=f"{label}, baseline {base_year}")
            if len(years) >= 2:
                slope, icpt = theil_sen([float(y) for y in years], yv)
                ax.plot(mid[[0, -1]], [icpt + slope * years[0], icpt + slope * years[-1]], "--", color=colour,
                        lw=1.5, label=f"{label}, Theil-Sen {slope * 1e2:+.2f} ha/yr")
    ax.set_title(f"{area} — {st['state']} ({series})" if st else area, fontsize=10)
    ax.set_ylabel("km²")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def table_text(app: App) -> str:
    names = dict(zip(app.areas.ids, app.areas.names, strict=True))
    rows = sorted(states(app), key=lambda d: (d["area_id"] == NATIONAL, d["area_id"]))
    head = (f"{'area':<10} {'name':<22} {'state':<18} {'green Δ%':>9} {'canopy Δ%':>10} {'latest':>6}  "
            f"{'regime':<16} {'series':<23} latest annual value from")
    lines = [head, "-" * len(head)]
    for d in rows:
        f = d["figures"]
        g, c = f.get("green_change_pct"), f.get("canopy_change_pct")
        lines.append(
            f"{d['area_id']:<10} {names.get(d['area_id'], 'national total')[:22]:<22} {d['state']:<18} "
            f"{'' if g is None else f'{g:+.1f}':>9} {'' if c is None else f'{c:+.1f}':>10} "
            f"{d.get('latest_year') or '':>6}  {d.get('regime') or '':<16} {d['series']:<23} {_method(f, d['series'])}"
        )
    return "\n".join(lines)


def _method(figures: Doc, series: str) -> str:
    """How the latest annual value was made (trend `method_figures`): an area's method, or for the
    national total the number of areas per method; the official series' are the CLMS layers."""
    if series == "official":
        return "CLMS layers" if figures.get("latest_green_m2") is not None else ""
    if figures.get("latest_method"):
        return str(figures["latest_method"])
    counts = figures.get("latest_methods") or {}
    return ", ".join(f"{m} x{n}" for m, n in counts.items())


def _comparison(app: App) -> str:
    from greenwatch.services.clms.api import comparison_rows, comparison_text  # noqa: PLC0415

    return comparison_text(comparison_rows(app.store, dict(zip(app.areas.ids, app.areas.names, strict=True))))


def write_html(app: App, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = ["<!doctype html><meta charset='utf-8'><title>greenwatch report</title>",
             "<style>body{font-family:sans-serif;max-width:900px;margin:auto}pre{background:#f6f6f6;padding:8px}"
             "</style><h1>greenwatch — Article 8 compliance</h1>",
             "<h2>States</h2><pre>", html.escape(table_text(app)), "</pre>",
             "<h2>Official (CLMS) and Sentinel-2 series side by side</h2><pre>",
             html.escape(_comparison(app)), "</pre><h2>Alerts</h2><ul>"]
    for a in alerts(app):
        parts.append(f"<li><b>{html.escape(a['alert_type'])}</b> [{a['severity']}] {html.escape(a['message'])}</li>")
    parts.append("</ul><h2>Areas</h2>")
    for d in sorted(states(app), key=lambda d: (d["area_id"] != NATIONAL, d["area_id"])):
        png = base64.b64encode(plot_png(app, d["area_id"])).decode()
        parts.append(f"<h3>{html.escape(d['area_id'])}</h3><p>{html.escape('; '.join(d['reasons']))}</p>"
                     f"<img src='data:image/png;base64,{png}'>")
    path.write_text("".join(parts), encoding="utf-8")
    return path


__all__ = ["ACKS", "acknowledge", "alerts", "annual", "history", "plot_png", "series_rows",
           "states", "table_text", "write_html"]
