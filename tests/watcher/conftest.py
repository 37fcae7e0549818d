"""Watcher fixtures: items made from a real EOPF item, a real rustac STAC API, an embedded bus and store."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from greenwatch.schemas import decode
from greenwatch.services import topics
from greenwatch.services.bus import EmbeddedBus, dlq_topic
from greenwatch.services.ledger import Ledger
from greenwatch.services.stac import serve_stac
from greenwatch.services.store import SqliteStore
from greenwatch.services.watcher import RetryPolicy, Source, StacClient, Watcher

COLLECTION = "sentinel-2-l2a-zarr3"
T0 = datetime(2024, 1, 1, 11, 0, 29, tzinfo=UTC)


@pytest.fixture(scope="session")
def template(shared_data: Path) -> dict[str, Any]:
    """The real EOPF Zarr v3 item (EODC, collection sentinel-2-l2a-zarr3) every generated item copies."""
    path = next((shared_data / "eopf").glob("eodc_stac_item_sentinel-2-l2a-zarr3_*.json"))
    return dict(json.loads(path.read_text()))


def _ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def make_item(template: dict[str, Any], when: datetime, *, cloud: float = 10.0, baseline: str = "05.12",
              processed: datetime | None = None, platform: str = "S2B", orbit: int = 138,
              ingested: datetime | None = None, collection: str = COLLECTION) -> dict[str, Any]:
    """A copy of the real item for another acquisition, cloud cover and processing baseline. The id
    follows ESA's naming, so two baselines of one acquisition share the datatake but not the id."""
    processed = processed or when + timedelta(hours=2)
    tile = "26TLL"
    item_id = (f"{platform}_MSIL2A_{when:%Y%m%dT%H%M%S}_N{baseline.replace('.', '')}_R{orbit:03d}_T{tile}"
               f"_{processed:%Y%m%dT%H%M%S}")
    text = json.dumps(template).replace(template["id"], item_id)
    item = json.loads(text)
    p = item["properties"]
    absolute = 40_000 + int((when - T0).total_seconds() // 6000)
    p.update({
        "datetime": _ts(when), "start_datetime": _ts(when), "end_datetime": _ts(when),
        "created": _ts(processed), "updated": _ts(ingested or processed), "published": _ts(ingested or processed),
        "eo:cloud_cover": cloud, "processing:version": baseline, "platform": f"sentinel-{platform[1:].lower()}",
        "eopf:datatake_id": f"G{platform}_{when:%Y%m%dT%H%M%S}_{absolute:06d}_N{baseline}",
        "sat:relative_orbit": orbit,
    })
    item["collection"] = collection
    return copy.deepcopy(item)


def series(template: dict[str, Any], n: int, *, start: datetime = T0, every: timedelta = timedelta(days=3),
           clouds: Sequence[float] = (10.0,)) -> list[dict[str, Any]]:
    return [make_item(template, start + i * every, cloud=clouds[i % len(clouds)]) for i in range(n)]


@contextmanager
def catalogue(tmp_path: Path, items: list[dict[str, Any]], name: str = "items") -> Iterator[str]:
    """A real STAC API (rustac) on 127.0.0.1 serving `items`, loaded from one item-collection file."""
    f = tmp_path / f"{name}.json"
    f.write_text(json.dumps({"type": "FeatureCollection", "features": items}))
    with serve_stac([f]) as url:
        yield url


@dataclass
class Rig:
    """The watcher's surroundings on local disk; `watcher()` builds a fresh Watcher on the same state,
    which is what a restarted process sees."""

    root: Path
    bus: EmbeddedBus
    store: SqliteStore

    def watcher(self, url: str, *, max_cloud: float | None = None, page_size: int = 10,
                policy: RetryPolicy | None = None, slice_days: int = 7, collection: str = COLLECTION,
                **kw: Any) -> Watcher:
        source = Source(url=url, collection=collection, max_cloud_cover=max_cloud, start="2024-01-01")
        client = StacClient(policy or RetryPolicy(max_attempts=4, base_s=0.01, cap_s=0.05, timeout_s=5.0))
        return Watcher(bus=self.bus, store=self.store, ledger=Ledger(self.store), sources=[source],
                       page_size=page_size, client=client, backfill_slice=timedelta(days=slice_days), **kw)

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        out = [decode(r.value) for r in self.bus.read_all(topics.SCENES)]
        return [e for e in out if kind is None or e["type"].endswith(kind)]

    def discovered_ids(self) -> list[str]:
        return [e["data"]["scene_id"] for e in self.events("scene.discovered.v1")]

    def dead_letters(self) -> list[tuple[str, str]]:
        return [((r.key or b"").decode(), (r.header("gw-error") or b"").decode())
                for r in self.bus.read_all(dlq_topic(topics.SCENES))]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path, EmbeddedBus(tmp_path / "bus.db"), SqliteStore(tmp_path / "state.db"))
    yield r
    r.bus.close()
    r.store.close()
