"""`greenwatch clms ...`: ingest CLMS files, run the official-series services, make sample rasters,
and print both series side by side. Added to the main parser by `services/cli.py`; receives the
Settings built there (this module reads no configuration itself)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

KINDS = {"tcd": "clms-tcd", "clcplus": "clms-clcplus"}


def add_parser(sub: Any) -> None:
    p = sub.add_parser("clms", help="the official series: CLMS Tree Cover Density and CLC+ Backbone")
    cs = p.add_subparsers(dest="clms_cmd", required=True)
    x = cs.add_parser("ingest", help="publish CLMS GeoTIFFs (arguments and `clms.files`) as scenes")
    x.add_argument("files", nargs="*", type=Path, help="GeoTIFF/COG files of one layer and year")
    x.add_argument("--kind", choices=sorted(KINDS), help="layer of FILES")
    x.add_argument("--year", type=int, help="reference year of FILES")
    x.add_argument("--until-idle", action="store_true", help="then run the official-series services until idle")
    x = cs.add_parser("run", help="the official-series services (clms, official, reconcile) in one process")
    x.add_argument("--until-idle", action="store_true", help="exit when no message is waiting")
    x = cs.add_parser("sample", help="synthetic CLMS rasters and STAC items for the demo scenario")
    x.add_argument("--out", required=True, type=Path)
    x.add_argument("--tiles", type=int, default=2, help="tiles per layer (west to east)")
    x = cs.add_parser("compare", help="both series side by side, per area and year")
    x.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=main)


def _app(settings: Any) -> Any:
    from greenwatch.services.app import App  # noqa: PLC0415

    return App.build(settings)


def listed_scenes(settings: Any, files: list[Path], kind: str | None, year: int | None) -> list[dict[str, Any]]:
    """Scenes for the files given on the command line and those in `clms.files`."""
    from greenwatch.services.clms._items import file_to_scene  # noqa: PLC0415

    if files and (kind is None or year is None):
        raise ValueError("files on the command line need --kind and --year")
    scenes = [file_to_scene(f, product_kind=KINDS[str(kind)], year=int(str(year))) for f in files]
    scenes += [file_to_scene(Path(f.path), product_kind=f.product_kind, year=f.year) for f in settings.clms.files]
    return scenes


def publish_scenes(app: Any, scenes: list[dict[str, Any]]) -> int:
    from greenwatch.schemas import SCENE_DISCOVERED, make_event, new_trace_id  # noqa: PLC0415
    from greenwatch.services import topics  # noqa: PLC0415
    from greenwatch.services.runtime import Outgoing, publish  # noqa: PLC0415

    out = [Outgoing(topics.SCENES, s["scene_id"],
                    make_event(SCENE_DISCOVERED, s, source="greenwatch/clms-ingest", subject=s["scene_id"],
                               event_id=s["scene_id"], trace_id=new_trace_id())) for s in scenes]
    publish(app.bus, out, service="clms-ingest")
    app.bus.flush()
    return len(out)


def main(settings: Any, args: argparse.Namespace) -> int:
    from greenwatch.services.app import drain, run_threads  # noqa: PLC0415
    from greenwatch.services.clms import InvalidClmsItem, InvalidRaster  # noqa: PLC0415
    from greenwatch.services.clms.api import comparison_rows, comparison_text  # noqa: PLC0415
    from greenwatch.services.clms.wiring import clms_services  # noqa: PLC0415

    if args.clms_cmd == "sample":
        from greenwatch.services.sampledata.clms import generate_clms  # noqa: PLC0415

        products = generate_clms(args.out, tiles=args.tiles)
        for prod in products:
            print(f"{prod.kind}\t{prod.year}\t{prod.tile}\t{prod.path}")
        print(f"STAC items: {Path(args.out).resolve() / 'clms' / 'stac'}")
        return 0
    app = _app(settings)
    try:
        if args.clms_cmd == "compare":
            rows = comparison_rows(app.store, dict(zip(app.areas.ids, app.areas.names, strict=True)))
            print("\n".join(json.dumps(r) for r in rows) if args.json else comparison_text(rows))
            return 0
        if args.clms_cmd == "ingest":
            try:
                n = publish_scenes(app, listed_scenes(settings, args.files, args.kind, args.year))
            except (ValueError, InvalidClmsItem, InvalidRaster) as exc:
                print(f"clms ingest: {exc}", file=sys.stderr)
                return 2
            print(f"published {n} CLMS scenes")
            if not args.until_idle:
                return 0
        services = clms_services(app)
        if args.until_idle:
            print(json.dumps({"handled": drain(app, services)}))
            return 0
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        for t in run_threads(app, services, stop):
            t.join()
        return 0
    finally:
        app.close()
