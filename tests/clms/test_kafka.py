"""The official-series path on the real Kafka broker: its own topics are created, the hand-built tiles
go through planner, tile workers and the official series as consumer groups, and the observations on
the `observations` topic carry the golden figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from greenwatch.schemas import decode, encode
from greenwatch.services import topics
from greenwatch.services.app import App, drain
from greenwatch.services.clms import CLMS_RESULTS, CLMS_TASKS
from greenwatch.services.clms.wiring import clms_services
from greenwatch.services.config import BusSettings, ClmsSettings, Settings
from greenwatch.services.store import SqliteStore

from ..integration.conftest import KafkaKit
from .conftest import EAST, RECTS, WEST, clcplus_tiles, scene, scene_event, tcd_tiles, write_areas

pytestmark = pytest.mark.kafka


def test_hand_built_tiles_become_official_observations_on_kafka(kafka_kit: KafkaKit, tmp_path: Path) -> None:
    from greenwatch.services.sampledata.clms import write_geotiff

    bus = kafka_kit.bus()
    areas = write_areas(tmp_path / "areas.geojson", RECTS)
    settings = Settings(data_dir=tmp_path, clms=ClmsSettings(chunk=64),
                        bus=BusSettings(kind="kafka", bootstrap=kafka_kit.bootstrap, topic_prefix=kafka_kit.prefix,
                                        partitions=2))
    app = App(settings, bus, SqliteStore(tmp_path / "state.db"), areas)
    services = clms_services(app)  # creates clms-tasks, clms-results and their DLQs
    existing = set(bus._admin_client().list_topics())
    assert {kafka_kit.prefix + t for t in (CLMS_TASKS, CLMS_RESULTS, CLMS_TASKS + ".dlq")} <= existing
    tw, te = tcd_tiles()
    cw, ce = clcplus_tiles()
    for name, layer, year, data, transform in (("tw", "tcd", 2024, tw, WEST), ("te", "tcd", 2024, te, EAST),
                                               ("cw", "clcplus", 2023, cw, WEST), ("ce", "clcplus", 2023, ce, EAST)):
        path = write_geotiff(tmp_path / f"{name}.tif", data, transform, kind=layer)  # type: ignore[arg-type]
        ev = scene_event(scene(name, f"clms-{layer}", year, path.as_uri()))
        bus.send(topics.SCENES, encode(ev), key=name.encode())
    bus.flush()
    drain(app, services, idle_s=4.0)
    obs = [decode(r.value)["data"] for r in bus.read_all(topics.OBSERVATIONS)]
    latest = {o["area_id"]: o for o in obs if o["series"] == "official"}  # in offset order: the last one wins
    assert latest["A"]["canopy_area_m2"] == pytest.approx(7.40 / 18 * 2000)
    assert latest["A"]["green_area_m2"] == pytest.approx(1500.0)
    assert latest["B"]["canopy_area_m2"] == pytest.approx(1800.0) and latest["B"]["usable"]
    assert {d["state"] for d in app.ledger.list()} == {"complete"}
    assert bus.read_all(CLMS_TASKS + ".dlq") == [] and bus.read_all(CLMS_RESULTS + ".dlq") == []
