"""Wiring: Settings -> bus, store, area set and services. Only entry points call this module."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenwatch import kernels
from greenwatch.schemas import Event
from greenwatch.services import topics
from greenwatch.services.areas import BUILTIN_AREAS, AreaSet, load_ucc_parts
from greenwatch.services.bus import Bus, EmbeddedBus
from greenwatch.services.composite import Compositor
from greenwatch.services.config import Settings
from greenwatch.services.ledger import Ledger
from greenwatch.services.merger import Merger
from greenwatch.services.runtime import Outgoing, Service, run_once, run_service
from greenwatch.services.store import SqliteStore, Store
from greenwatch.services.store.timeseries import TimeSeriesStore
from greenwatch.services.trend import Rules, TrendService
from greenwatch.services.watcher import Source, Watcher, watcher_from_settings
from greenwatch.services.webhook import WebhookService
from greenwatch.services.worker import Planner, TileWorker
from greenwatch.services.worker._common import ProductOpener
from greenwatch.services.worker._maps import MapWriter

log = logging.getLogger(__name__)


class Composite:
    """Several handlers behind one consumer group (the `work` process plans scenes and runs tasks)."""

    def __init__(self, name: str, services: Sequence[Any]) -> None:
        self.name = name
        self.services = list(services)
        self.topics = tuple(t for s in services for t in s.topics)

    def handle(self, event: Event) -> list[Outgoing]:
        out: list[Outgoing] = []
        for s in self.services:
            out += s.handle(event)
        return out

    def on_dead_letter(self, event: Event | None, reason: str) -> None:
        for s in self.services:
            hook = getattr(s, "on_dead_letter", None)
            if hook is not None:
                hook(event, reason)

    def prefetch(self, values: Sequence[bytes]) -> None:
        for s in self.services:
            hook = getattr(s, "prefetch", None)
            if hook is not None:
                hook(values)

    def after_flush(self) -> None:
        for s in self.services:
            hook = getattr(s, "after_flush", None)
            if hook is not None:
                hook()


def kafka_security(settings: Settings) -> dict[str, str]:
    """kafka-python security settings from the configuration (the password is read here only)."""
    b = settings.bus
    values = {
        "security_protocol": b.security_protocol, "sasl_mechanism": b.sasl_mechanism,
        "sasl_plain_username": b.sasl_username,
        "sasl_plain_password": b.sasl_password.get_secret_value() if b.sasl_password else None,
        "ssl_cafile": b.ssl_cafile,
    }
    return {k: v for k, v in values.items() if v is not None}


def make_bus(settings: Settings) -> Bus:
    b = settings.bus
    if b.kind == "kafka":
        from greenwatch.services.bus.kafka import KafkaBus  # noqa: PLC0415 - only when configured

        session_ms = int(b.session_timeout_s * 1000)  # how long a crashed member's partitions wait (docs/scale.md)
        bus: Bus = KafkaBus(b.bootstrap, prefix=b.topic_prefix, security=kafka_security(settings) or None,
                            consumer_options={"session_timeout_ms": session_ms,
                                              "heartbeat_interval_ms": min(3000, session_ms // 3)})
        bus.ensure_topics([*topics.ALL, *(t + ".dlq" for t in topics.ALL)], partitions=b.partitions)
        return bus
    return EmbeddedBus(settings.data_dir / "bus.db", prefix=b.topic_prefix)


def make_store(settings: Settings) -> Store:
    if settings.store.kind == "kafka":
        from greenwatch.services.store.kafka_kv import KafkaKVStore  # noqa: PLC0415

        return KafkaKVStore(settings.bus.bootstrap, "state", prefix=settings.bus.topic_prefix,
                            security=kafka_security(settings) or None)
    return SqliteStore(settings.data_dir / "state.db")


def load_areas(settings: Settings) -> AreaSet:
    a = settings.areas
    path = Path(a.path) if a.path else BUILTIN_AREAS
    if not path.exists():
        log.warning("area set %s not found; using the built-in Dutch municipalities", path)
        path = BUILTIN_AREAS
    return AreaSet.load(path, id_property=a.id_property, name_property=a.name_property, name=a.name)


def load_ucc_areas(settings: Settings, areas: AreaSet) -> AreaSet | None:
    """The areas' parts inside the urban centres and clusters (`areas.urban_centres_path`), or None when
    not configured. A missing or unusable layer fails here, at start-up (`UccLayerError`)."""
    a = settings.areas
    if not a.urban_centres_path:
        return None
    return load_ucc_parts(areas, a.urban_centres_path, layer=a.urban_centres_layer or None,
                          class_property=a.urban_centres_class_property or None, classes=a.urban_centres_classes)


def rules_from(settings: Settings) -> Rules:
    t = settings.trend
    return Rules(baseline_year=t.baseline_year, season_start_month=t.season_start_month,
                 season_end_month=t.season_end_month, min_observations_per_year=t.min_observations_per_year,
                 at_risk_pct=t.at_risk_pct, net_loss_pct=t.net_loss_pct,
                 canopy_loss_alert_pct=t.canopy_loss_alert_pct, z_net_loss=t.z_net_loss, z_at_risk=t.z_at_risk,
                 no_net_loss_until=t.no_net_loss_until, trend_period_years=t.trend_period_years,
                 mk_alpha=t.mk_alpha, mk_min_years=t.mk_min_years, mk_from_year=t.mk_from_year,
                 exclusion=t.exclusion, exclusion_green_pct=t.exclusion_green_pct,
                 exclusion_canopy_pct=t.exclusion_canopy_pct, satisfactory_green_pct=t.satisfactory_green_pct,
                 satisfactory_canopy_pct=t.satisfactory_canopy_pct, data_gap_months=t.data_gap_months,
                 series_priority=tuple(t.series_priority), ucc_layer=bool(settings.areas.urban_centres_path),
                 national_min_area_fraction=t.national_min_area_fraction)


@dataclass
class App:
    settings: Settings
    bus: Bus
    store: Store
    areas: AreaSet
    ledger: Ledger = field(init=False)
    _series: TimeSeriesStore | None = field(default=None, init=False)
    ucc: AreaSet | None = None  # the areas' urban centres and clusters parts (`load_ucc_areas`)

    def __post_init__(self) -> None:
        self.ledger = Ledger(self.store)

    @classmethod
    def build(cls, settings: Settings) -> App:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        areas = load_areas(settings)
        ucc = load_ucc_areas(settings, areas)  # before the bus and store: a bad layer fails at once
        return cls(settings, make_bus(settings), make_store(settings), areas, ucc=ucc)

    @property
    def series(self) -> TimeSeriesStore:
        if self._series is None:
            self._series = TimeSeriesStore(str(self.settings.data_dir / "series.zarr"), self.areas.ids)
        return self._series

    def worker(self) -> Composite:
        params = kernels.ClassifyParams()
        opener = ProductOpener(self.settings.work.allowed_href_schemes,
                               read_timeout_s=self.settings.work.read_timeout_s,
                               allowed_hosts=self.settings.work.allowed_href_hosts)
        cache = self.settings.data_dir / "cache" / "areas"
        w = self.settings.work
        return Composite("worker", [
            Planner(areas=self.areas, ledger=self.ledger, opener=opener,
                    kernel_version=kernels.kernel_version(params), cache_dir=cache),
            TileWorker(areas=self.areas, ledger=self.ledger, opener=opener, params=params, cache_dir=cache,
                       threads=w.kernel_threads or None, read_threads=w.read_threads or None,
                       prefetch=w.prefetch_tasks, maps=MapWriter(w.maps_path or str(self.settings.data_dir / "maps"))
                       if w.write_maps else None, season=self.composite_season()),
        ])

    def composite_season(self) -> tuple[int, int] | None:
        """The season window of the per-pixel composite (the trend's, one source of truth), or None when
        composites are off: disabled, or no class maps written."""
        t = self.settings.trend
        on = self.settings.composite.enabled and self.settings.work.write_maps
        return (t.season_start_month, t.season_end_month) if on else None

    def compositor(self) -> Compositor:
        c, t = self.settings.composite, self.settings.trend
        return Compositor(store=self.store, ledger=self.ledger, areas=self.areas,
                          maps_root=self.settings.work.maps_path or str(self.settings.data_dir / "maps"),
                          season=(t.season_start_month, t.season_end_month), min_valid_dates=c.min_valid_dates,
                          cache_dir=self.settings.data_dir / "cache" / "areas", threads=c.kernel_threads or None,
                          read_threads=c.read_threads)

    def merger(self) -> Merger:
        def superseded(scene_id: str) -> bool:
            doc = self.ledger.get(scene_id)
            return doc is not None and doc.get("state") == "superseded"

        return Merger(store=self.store, series=self.series,
                      min_valid_fraction=self.settings.trend.min_valid_fraction, excluded_scene=superseded,
                      area_m2={a: self.areas.geodesic_area_m2(i) for i, a in enumerate(self.areas.ids)})

    def trend(self) -> TrendService:
        return TrendService(store=self.store, rules=rules_from(self.settings),
                            area_names=dict(zip(self.areas.ids, self.areas.names, strict=True)),
                            min_valid_fraction=self.settings.trend.min_valid_fraction)

    def watcher(self, sources: list[Source] | None = None) -> Watcher:
        return watcher_from_settings(self.settings.watch, bus=self.bus, store=self.store, ledger=self.ledger,
                                     areas=self.areas, sources=sources)

    def services(self) -> list[Service]:
        services: list[Any] = [self.worker(), self.merger(), self.trend()]
        if self.composite_season() is not None:
            services.append(self.compositor())  # per-pixel season composites (issue 6)
        if self.settings.clms.enabled:
            from greenwatch.services.clms.wiring import clms_services  # noqa: PLC0415 - official series (issue 7)

            services += clms_services(self)
        hook = self.webhook()
        return services + ([hook] if hook else [])

    def webhook(self) -> WebhookService | None:
        """The alert webhook deliverer (its own consumer of `alerts`), when `trend.webhook.url` is set."""
        w = self.settings.trend.webhook
        if not w.url or w.secret is None:
            return None
        return WebhookService(store=self.store, url=w.url, secret=w.secret.get_secret_value(),
                              max_attempts=w.max_attempts, backoff_s=w.backoff_s, max_backoff_s=w.max_backoff_s,
                              timeout_s=w.timeout_s)

    def close(self) -> None:
        self.bus.close()
        self.store.close()


def drain(app: App, services: Sequence[Service], *, idle_s: float | None = None) -> int:
    """Run every service until a whole round finds nothing to do (`--until-idle`). On the embedded bus
    one empty round is enough; on Kafka, fetches are asynchronous and a new group needs a moment to be
    assigned its partitions, so it waits for `idle_s` (default 5 s) without a record."""
    embedded = isinstance(app.bus, EmbeddedBus)
    idle_s = (0.0 if embedded else 5.0) if idle_s is None else idle_s
    poll_s = 0.0 if embedded else 0.2
    consumers = [(s, app.bus.consumer(list(s.topics), s.name)) for s in services]
    total = 0
    last_activity = time.monotonic()
    try:
        while True:
            handled = 0
            for service, consumer in consumers:
                while n := run_once(app.bus, consumer, service, timeout_s=poll_s,
                                    max_attempts=app.settings.work.max_attempts, before_batch=app.store.refresh):
                    handled += n
            total += handled
            if handled:
                last_activity = time.monotonic()
            elif time.monotonic() - last_activity >= idle_s:
                break
    finally:
        for _, c in consumers:
            c.close()
    return total


def run_threads(app: App, services: Sequence[Service], stop: threading.Event) -> list[threading.Thread]:
    threads = []
    for s in services:
        t = threading.Thread(target=run_service, args=(app.bus, s, s.name),
                             kwargs={"stop": stop, "max_attempts": app.settings.work.max_attempts,
                                     "before_batch": app.store.refresh},
                             name=f"gw-{s.name}", daemon=True)
        t.start()
        threads.append(t)
    return threads
