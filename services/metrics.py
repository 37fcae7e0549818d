"""Prometheus metrics shared by every service (labelled by service), served on each process's port."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

REGISTRY = CollectorRegistry(auto_describe=True)

MESSAGES_IN = Counter(
    "greenwatch_messages_in_total", "Messages received", ["service", "topic"], registry=REGISTRY
)
MESSAGES_OUT = Counter(
    "greenwatch_messages_out_total", "Messages published", ["service", "topic"], registry=REGISTRY
)
MESSAGES_FAILED = Counter(
    "greenwatch_messages_failed_total",
    "Messages that failed, by outcome (retry, dlq)",
    ["service", "topic", "outcome"],
    registry=REGISTRY,
)
HANDLER_SECONDS = Histogram(
    "greenwatch_handler_seconds",
    "Time spent in a service's handler per message",
    ["service"],
    buckets=(0.001, 0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
CONSUMER_LAG = Gauge(
    "greenwatch_consumer_lag", "Records after the committed position", ["service"], registry=REGISTRY
)
SCENES = Counter(
    "greenwatch_scenes_total", "Scenes by ledger outcome", ["outcome"], registry=REGISTRY
)
STAC_ITEMS = Counter(
    "greenwatch_stac_items_total",
    "STAC items seen by the watcher, by outcome (seen, published, deduplicated, superseded, filtered, "
    "foreign, dlq)",
    ["outcome"],
    registry=REGISTRY,
)
STAC_REQUESTS = Counter(
    "greenwatch_stac_requests_total",
    "STAC API requests by outcome (ok, retry_5xx, retry_429, retry_timeout, retry_connection, retry_bad_json, "
    "failed, rejected)",
    ["outcome"],
    registry=REGISTRY,
)
POLL_SECONDS = Histogram("greenwatch_stac_poll_seconds", "STAC poll duration", registry=REGISTRY)
DISCOVERY_LAG = Histogram(
    "greenwatch_discovery_lag_seconds",
    "Now minus the item's acquisition datetime when published",
    buckets=(3600, 6 * 3600, 86400, 3 * 86400, 7 * 86400, 30 * 86400, 365 * 86400),
    registry=REGISTRY,
)
ALERTS = Counter("greenwatch_alerts_total", "Alerts emitted", ["alert_type"], registry=REGISTRY)
COMPOSITES = Counter(
    "greenwatch_composites_total",
    "Composite tasks by outcome (computed, up_to_date: same scenes as the stored composite, no_scenes)",
    ["outcome"],
    registry=REGISTRY,
)
COMPOSITE_SECONDS = Histogram(
    "greenwatch_composite_seconds",
    "Seconds to compute one tile-year's per-pixel season composite and its per-area counts",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
    registry=REGISTRY,
)


def serve(port: int, host: str = "127.0.0.1") -> None:
    """Expose /metrics on host:port in a daemon thread."""
    start_http_server(port, addr=host, registry=REGISTRY)
