"""`greenwatch` command line: one subcommand per service, each runnable as its own process, plus
`run` (all services in one process), `demo`, operator commands and `config show`.

This is an entry point: the only place that reads the environment (through `load_settings`).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from greenwatch.services.config import Settings, effective_toml, load_settings

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

log = logging.getLogger("greenwatch")


def _progress() -> Progress:
    """A rich progress bar on stderr, so that stdout stays machine-readable (JSON, lists)."""
    from rich.console import Console  # noqa: PLC0415 - keep `--help` fast
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: PLC0415

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True))


def _stop_event() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _metrics(settings: Settings, port: int) -> None:
    if settings.metrics.enabled:
        from greenwatch.services import metrics  # noqa: PLC0415

        metrics.serve(port, settings.metrics.host)
        log.info("metrics on http://%s:%d/metrics", settings.metrics.host, port)


def _app(settings: Settings):  # type: ignore[no-untyped-def]
    from greenwatch.services.app import App  # noqa: PLC0415 - keep `--help` fast

    return App.build(settings)


def cmd_config_show(settings: Settings, _args: argparse.Namespace) -> int:
    print(effective_toml(settings), end="")
    return 0


def cmd_watch(settings: Settings, args: argparse.Namespace) -> int:
    app = _app(settings)
    watcher = app.watcher()
    if args.backfill:
        start, dots, end = args.backfill.partition("..")
        if not dots or not start or not end:
            print(f"--backfill {args.backfill!r}: expected START..END (YYYY-MM-DD..YYYY-MM-DD)", file=sys.stderr)
            return 2
        try:
            with _progress() as bar:
                tasks: dict[str, TaskID] = {}

                def on_slice(source: str, done: int, total: int) -> None:
                    if source not in tasks:
                        tasks[source] = bar.add_task(f"backfill {source}", total=total)
                    bar.update(tasks[source], completed=done)

                report = watcher.backfill(start, end, restart=args.restart, on_slice=on_slice)
        except ValueError as exc:
            print(f"--backfill {args.backfill!r}: {exc}", file=sys.stderr)
            return 2
        print(json.dumps({**report.__dict__, "progress": watcher.backfill_progress()}))
        return 0 if report.ok else 1
    if args.once:
        report = watcher.poll()
        print(json.dumps(report.__dict__))
        return 0 if report.ok else 1
    _metrics(settings, settings.metrics.watch_port)
    stop = _stop_event()
    while not stop.is_set():
        try:
            r = watcher.poll()
            log.info("poll: %s", r.__dict__)
        except Exception:
            log.exception("poll failed; retrying at the next interval")
        stop.wait(settings.watch.poll_interval_s)
    return 0


def _serve_one(settings: Settings, args: argparse.Namespace, which: str, port: int) -> int:
    from greenwatch.services.app import drain  # noqa: PLC0415
    from greenwatch.services.runtime import run_service  # noqa: PLC0415

    app = _app(settings)
    service = {"work": app.worker, "merge": app.merger, "trend": app.trend, "composite": app.compositor}[which]()
    if args.until_idle:
        n = drain(app, [service])
        print(f"{which}: handled {n} messages")
        return 0
    _metrics(settings, port)
    run_service(app.bus, service, service.name, stop=_stop_event(), max_attempts=settings.work.max_attempts,
                before_batch=app.store.refresh)
    return 0


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from greenwatch.services.app import drain, run_threads  # noqa: PLC0415

    app = _app(settings)
    services = app.services()
    if args.until_idle:
        report = app.watcher().poll()
        n = drain(app, services)
        print(json.dumps({"watch": report.__dict__, "handled": n}))
        return 0
    _metrics(settings, settings.metrics.run_port)
    stop = _stop_event()
    run_threads(app, services, stop)
    watcher = app.watcher()
    while not stop.is_set():
        try:
            watcher.poll()
        except Exception:
            log.exception("poll failed; retrying at the next interval")
        stop.wait(settings.watch.poll_interval_s)
    return 0


def cmd_api(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn  # noqa: PLC0415

    from greenwatch.services.api import create_app  # noqa: PLC0415

    host, port = args.host or settings.api.host, args.port or settings.api.port
    _metrics(settings, settings.metrics.api_port)
    log.info("API on http://%s:%d (OpenAPI /openapi.json, %s)", host, port,
             "writes need the bearer token" if settings.api.token else "read-only: no api.token")
    uvicorn.run(create_app(_app(settings)), host=host, port=port, log_level="info")
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from greenwatch.services.demo import run_demo  # noqa: PLC0415

    return run_demo(settings, out=Path(args.out) if args.out else None)


def cmd_sample(settings: Settings, args: argparse.Namespace) -> int:
    from greenwatch.services.sampledata import generate_demo  # noqa: PLC0415

    print(generate_demo(Path(args.out)))
    return 0


def cmd_scenes(settings: Settings, args: argparse.Namespace) -> int:
    from greenwatch.services.ops import SceneFilter, list_scenes, rerun_scenes  # noqa: PLC0415

    try:
        flt = SceneFilter.parse(args.filter or (), state=args.state, since=args.since, until=args.until,
                                tile=args.tile, kernel=args.kernel, scene=args.scene)
    except ValueError as exc:
        print(f"scenes {args.scenes_cmd}: {exc}", file=sys.stderr)
        return 2
    app = _app(settings)
    if args.scenes_cmd == "list":
        for line in list_scenes(app, flt=flt, as_json=args.json):
            print(line)
        return 0
    with _progress() as bar:
        task = bar.add_task("re-queue scenes", total=None)
        n = rerun_scenes(app, flt=flt, dry_run=args.dry_run,
                         on_progress=lambda done, total: bar.update(task, completed=done, total=total))
    print(f"would re-queue {n} scenes" if args.dry_run else f"re-queued {n} scenes")
    return 0


def cmd_dlq(settings: Settings, args: argparse.Namespace) -> int:
    from greenwatch.services.ops import list_dlq  # noqa: PLC0415

    for line in list_dlq(_app(settings), args.topic):
        print(line)
    return 0


def cmd_status(settings: Settings, _args: argparse.Namespace) -> int:
    from greenwatch.services.ops import status  # noqa: PLC0415

    print(status(_app(settings)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="greenwatch", description=__doc__.split("\n")[0] if __doc__ else None)
    p.add_argument("--config", type=Path, help="TOML configuration file (also GREENWATCH_CONFIG)")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("watch", help="poll the STAC sources and publish new scenes")
    s.add_argument("--once", action="store_true", help="one poll, then exit")
    s.add_argument("--backfill", metavar="START..END",
                   help="search a date range (YYYY-MM-DD..YYYY-MM-DD); run again to resume where it stopped")
    s.add_argument("--restart", action="store_true", help="with --backfill: forget its progress, start over")
    s.set_defaults(func=cmd_watch)
    for name, helptext in (("work", "plan scenes into tile tasks and run them"),
                           ("merge", "merge tile results into the per-area time series"),
                           ("trend", "update compliance states and emit alerts"),
                           ("composite", "per-pixel season composites of the class maps, per area and year")):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("--until-idle", action="store_true", help="exit when no message is waiting")
        s.set_defaults(func=lambda st, a, n=name: _serve_one(st, a, n, getattr(st.metrics, f"{n}_port")))
    s = sub.add_parser("api", help="serve the HTTP API")
    s.add_argument("--host", help="default: api.host")
    s.add_argument("--port", type=int, help="default: api.port")
    s.set_defaults(func=cmd_api)
    s = sub.add_parser("run", help="every service in one process")
    s.add_argument("--until-idle", action="store_true", help="one poll, then process until nothing is left")
    s.set_defaults(func=cmd_run)
    s = sub.add_parser("demo", help="generate sample data and run the whole pipeline on the embedded bus")
    s.add_argument("--out", help="output folder (default: <data_dir>/demo)")
    s.set_defaults(func=cmd_demo)
    s = sub.add_parser("sample", help="sample data")
    s.add_argument("action", choices=["generate"])
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_sample)
    s = sub.add_parser("scenes", help="the scene ledger")
    ss = s.add_subparsers(dest="scenes_cmd", required=True)
    for name in ("list", "rerun"):
        x = ss.add_parser(name, help="list scenes" if name == "list" else "re-queue every matching scene")
        x.add_argument("--state", help="discovered, planned, complete, incomplete, superseded, failed")
        x.add_argument("--since", help="acquisition date YYYY-MM-DD (inclusive)")
        x.add_argument("--until", help="acquisition date YYYY-MM-DD (inclusive)")
        x.add_argument("--tile", help="MGRS tile")
        x.add_argument("--kernel", help="kernel version the scene was processed with")
        x.add_argument("--scene", help="one scene id")
        x.add_argument("--filter", action="append", metavar="K=V[,K=V]",
                       help="state=, date=START..END, since=, until=, tile=, kernel=, scene=, collection=")
        if name == "list":
            x.add_argument("--json", action="store_true", help="one JSON object per line")
        else:
            x.add_argument("--dry-run", action="store_true", help="count the matching scenes, re-queue none")
    s.set_defaults(func=cmd_scenes)
    s = sub.add_parser("dlq", help="list dead-lettered messages")
    s.add_argument("action", choices=["list"])
    s.add_argument("--topic", help="logical topic (default: all)")
    s.set_defaults(func=cmd_dlq)
    s = sub.add_parser("status", help="ledger and queue status at a glance")
    s.set_defaults(func=cmd_status)
    s = sub.add_parser("config", help="configuration")
    s.add_argument("action", choices=["show"])
    s.set_defaults(func=cmd_config_show)
    from greenwatch.services.clms.cli import add_parser as add_clms_parser  # noqa: PLC0415 - light: no rasterio

    add_clms_parser(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("kafka", "httpx", "rasterio"):  # their INFO lines drown ours
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = load_settings(args.config)
    result = args.func(settings, args)
    return int(result)


if __name__ == "__main__":
    sys.exit(main())
