"""`greenwatch demo`: sample data -> a real STAC API on 127.0.0.1 -> the whole pipeline on the
embedded bus -> a compliance table, the alerts and an HTML report."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from greenwatch.services.app import App, drain
from greenwatch.services.clms.api import comparison_rows, comparison_text
from greenwatch.services.config import Settings, SourceSettings, WatchSettings
from greenwatch.services.report import alerts, table_text, write_html
from greenwatch.services.sampledata import Scenario, generate
from greenwatch.services.sampledata.clms import generate_clms
from greenwatch.services.stac import serve_stac


def run_demo(settings: Settings, out: Path | None = None, scenario: Scenario | None = None) -> int:
    out = out or settings.data_dir / "demo"
    scenario = scenario or Scenario()
    t0 = time.perf_counter()
    sample = out / "sample"
    stac_dir = sample / "stac"
    if not (stac_dir / "collection.json").exists():
        shutil.rmtree(sample, ignore_errors=True)
        products = generate(sample, scenario)
        print(f"generated {len(products)} synthetic EOPF Zarr v{scenario.zarr_format} products "
              f"({scenario.size}x{scenario.size} px, chunk {scenario.chunk}) in {time.perf_counter() - t0:.1f} s")
        # the official layers: Tree Cover Density 2024 (the canopy baseline) and 2025, CLC+ Backbone 2023
        layers = generate_clms(sample, scenario, tcd_years=(2024, 2025), clcplus_years=(2023,))
        print(f"generated {len(layers)} synthetic CLMS GeoTIFF tiles (TCD 2024, 2025; CLC+ Backbone 2023)")
    shutil.rmtree(out / "var", ignore_errors=True)  # every demo run starts from an empty state
    items = sorted((stac_dir / "items").glob("*.json"))
    clms_stac = sample / "clms" / "stac"
    with serve_stac([stac_dir / "collection.json", *items, clms_stac]) as url:
        print(f"STAC API (rustac serve) on {url} with {len(items)} Sentinel-2 items and the CLMS layers")
        collection = "sentinel-2-l2a-zarr3" if scenario.zarr_format == 3 else "sentinel-2-l2a"
        demo = settings.model_copy(update={
            "data_dir": out / "var",
            "watch": WatchSettings(sources=[
                SourceSettings(url=url, collection=collection, max_cloud_cover=100.0, start="2024-01-01"),
                SourceSettings(url=url, collection="clms-tcd", product_kind="clms-tcd", max_cloud_cover=None,
                               start="2018-01-01"),
                SourceSettings(url=url, collection="clms-clcplus", product_kind="clms-clcplus",
                               max_cloud_cover=None, start="2018-01-01"),
            ]),
        })
        app = App.build(demo)
        t1 = time.perf_counter()
        report = app.watcher().poll()
        handled = drain(app, app.services())
    print(f"watcher: {report.seen} items seen, {report.published} scenes published; "
          f"pipeline handled {handled} messages in {time.perf_counter() - t1:.1f} s")
    print()
    print(table_text(app))
    print()
    names = dict(zip(app.areas.ids, app.areas.names, strict=True))
    print("official (CLMS) and Sentinel-2 series side by side, % of area:")
    print(comparison_text(comparison_rows(app.store, names)))
    print()
    found = alerts(app)
    print(f"{len(found)} alerts:")
    for a in found:
        print(f"  [{a['severity']}] {a['alert_type']}: {a['message']}")
    html = write_html(app, out / "report.html")
    print(f"\nHTML report: {html}\ntime series (xarray.open_zarr): {out / 'var' / 'series.zarr'}")
    print(f"total {time.perf_counter() - t0:.1f} s")
    app.close()
    return 0
