"""The composite path on the real Kafka broker, every service a consumer group in its own thread:
worker -> composite-tasks -> compositor -> observations -> trend, ending in a pixel-composite annual
value (the shared SMALL sample has two summer dates a year: a pixel needs one clear date of them)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

from greenwatch.schemas import ANNUAL_COMPOSITE, COMPOSITE_TASK, decode
from greenwatch.services import metrics, topics
from greenwatch.services.app import App, run_threads
from greenwatch.services.bus.kafka import KafkaBus
from greenwatch.services.config import BusSettings, CompositeSettings

from ..conftest import settings_for
from ..integration.conftest import kafka_bootstrap  # noqa: F401 - the real-broker fixture
from ..integration.test_pipeline_kafka import wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.stac]
UTRECHT = "GM0344"  # wholly inside the sample's window


@pytest.fixture
def kafka_app(tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, stac_url: str) -> Iterator[App]:  # noqa: F811
    settings = settings_for(
        tmp_path_factory.mktemp("composite-kafka"), stac_url,
        bus=BusSettings(kind="kafka", bootstrap=kafka_bootstrap, topic_prefix=f"t{uuid.uuid4().hex[:8]}.",
                        partitions=2),
        composite=CompositeSettings(kernel_threads=1),
    )
    app = App.build(settings)
    assert isinstance(app.bus, KafkaBus)
    stop = threading.Event()
    threads = run_threads(app, app.services(), stop)
    yield app
    stop.set()
    for t in threads:
        t.join(timeout=30)
    app.close()


def _method(app: App, year: str) -> str | None:
    doc = app.store.get("annual", UTRECHT) or {}
    return (doc.get("sentinel-2") or {}).get(year, {}).get("method")


def test_a_complete_season_ends_in_a_pixel_composite_annual_value(kafka_app: App) -> None:
    app = kafka_app
    computed = metrics.REGISTRY.get_sample_value("greenwatch_composites_total", {"outcome": "computed"}) or 0.0
    assert app.watcher().poll(start="2024-01-01", end="2024-12-31").published == 2
    wait_for(lambda: _method(app, "2024") == "pixel-composite", "the trend's 2024 value from the pixel composite")
    tasks = [decode(r.value) for r in app.bus.read_all(topics.COMPOSITE_TASKS)]
    assert tasks and all(t["type"] == COMPOSITE_TASK.type and t["data"]["year"] == 2024 for t in tasks)
    assert {r.key for r in app.bus.read_all(topics.COMPOSITE_TASKS)} == {b"31UFT/2024"}
    composites = [decode(r.value) for r in app.bus.read_all(topics.OBSERVATIONS)
                  if r.header("gw-type") == ANNUAL_COMPOSITE.type.encode()]
    utrecht = [c["data"] for c in composites if c["data"]["area_id"] == UTRECHT]
    assert utrecht and len(utrecht[-1]["scene_ids"]) == 2
    assert (metrics.REGISTRY.get_sample_value("greenwatch_composites_total", {"outcome": "computed"}) or 0) > computed
    annual = app.store.get("annual", UTRECHT)["sentinel-2"]["2024"]
    assert annual["n"] == 2 and 0 < annual["green_share_pct"] < 100
    assert app.store.get("states", UTRECHT)["figures"]["baseline_method"] == "pixel-composite"
