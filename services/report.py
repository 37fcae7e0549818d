"""Views of the results shared by the API, the demo and the HTML report: tables, series, plots."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import numpy as np

from greenwatch.services.app import App
from greenwatch.services.trend import NATIONAL

Doc = dict[str, Any]


def states(app: App) -> list[Doc]:
    return [d for _, d in app.store.scan("states")]


def alerts(app: App, *, area: str | None = None, alert_type: str | None = None, since: str | None = None) -> list[Doc]:
    out = []
    for _, a in app.store.scan("outbox"):
        if area is not None and a["area_id"] != area:
            continue
        if alert_type is not None and a["alert_type"] != alert_type:
            continue
        if since is not None and a["raised_at"] < since:
            continue
        out.append(a)
    return sorted(out, key=lambda a: (a["raised_at"], a["alert_id"]))


def annual(app: App, area: str) -> Doc:
    return app.store.get("annual", area) or {}


def series_rows(app: App, area: str) -> list[Doc]:
    s = app.series.series(area)
    rows = []
    for i, t in enumerate(s["time"]):
        rows.append({"date": str(t), **{k: _py(v[i]) for k, v in s.items() if k != "time"}})
    return rows


def _py(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and np.isnan(v):
        return None
    return v


def plot_png(app: App, area: str) -> bytes:
    """Green space and canopy per observation (usable ones filled), annual values and the baseline."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=90)
    rows = series_rows(app, area) if area != NATIONAL else []
    ann = annual(app, area)
    for key, colour, label in (("green_area_m2", "tab:green", "green space"),
                               ("canopy_area_m2", "tab:brown", "tree canopy")):
        if rows:
            dates = np.array([r["date"] for r in rows], dtype="datetime64[D]")
            vals = np.array([r[key] or np.nan for r in rows]) / 1e6
            usable = np.array([bool(r["usable"]) for r in rows])
            ax.plot(dates[usable], vals[usable], "o", color=colour, ms=4, label=f"{label} (usable)")
            ax.plot(dates[~usable], vals[~usable], "o", color=colour, ms=4, mfc="none", alpha=0.5)
        if ann:
            years = sorted(int(y) for y in ann)
            key_a = "green_m2" if key == "green_area_m2" else "canopy_m2"
            yv = [ann[str(y)][key_a] / 1e6 for y in years]
            mid = np.array([f"{y}-07-01" for y in years], dtype="datetime64[D]")
            ax.plot(mid, yv, "-s", color=colour, lw=2, label=f"{label}, annual median")
    st = app.store.get("states", area)
    if st and st["figures"].get("baseline_canopy_m2"):
        ax.axhline(st["figures"]["baseline_canopy_m2"] / 1e6, color="tab:brown", ls=":", lw=1)
        ax.axhline(st["figures"]["baseline_green_m2"] / 1e6, color="tab:green", ls=":", lw=1)
    title = f"{area} — {st['state']}" if st else area
    ax.set_title(title, fontsize=10)
    ax.set_ylabel("km²")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def table_text(app: App) -> str:
    names = dict(zip(app.areas.ids, app.areas.names, strict=True))
    rows = sorted(states(app), key=lambda d: (d["area_id"] == NATIONAL, d["area_id"]))
    head = f"{'area':<10} {'name':<22} {'state':<18} {'green Δ%':>9} {'canopy Δ%':>10} {'latest':>6}  series"
    lines = [head, "-" * len(head)]
    for d in rows:
        f = d["figures"]
        g = f.get("green_change_pct")
        c = f.get("canopy_change_pct")
        lines.append(
            f"{d['area_id']:<10} {names.get(d['area_id'], 'national total')[:22]:<22} {d['state']:<18} "
            f"{'' if g is None else f'{g:+.1f}':>9} {'' if c is None else f'{c:+.1f}':>10} "
            f"{d.get('latest_year') or '':>6}  {d['series']}"
        )
    return "\n".join(lines)


def write_html(app: App, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = ["<!doctype html><meta charset='utf-8'><title>greenwatch report</title>",
             "<style>body{font-family:sans-serif;max-width:900px;margin:auto}pre{background:#f6f6f6;padding:8px}"
             "</style><h1>greenwatch — Article 8 compliance</h1>",
             "<h2>States</h2><pre>", html.escape(table_text(app)), "</pre><h2>Alerts</h2><ul>"]
    for a in alerts(app):
        parts.append(f"<li><b>{html.escape(a['alert_type'])}</b> [{a['severity']}] {html.escape(a['message'])}</li>")
    parts.append("</ul><h2>Areas</h2>")
    for d in sorted(states(app), key=lambda d: (d["area_id"] != NATIONAL, d["area_id"])):
        png = base64.b64encode(plot_png(app, d["area_id"])).decode()
        parts.append(f"<h3>{html.escape(d['area_id'])}</h3><p>{html.escape('; '.join(d['reasons']))}</p>"
                     f"<img src='data:image/png;base64,{png}'>")
    path.write_text("".join(parts), encoding="utf-8")
    return path
