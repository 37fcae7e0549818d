"""Worker fixtures: small generated products in both EOPF layouts, scenes and a worker on a fresh ledger."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from greenwatch import kernels
from greenwatch.schemas import SCENE_DISCOVERED, Event, encode, make_event
from greenwatch.services.areas import AreaSet
from greenwatch.services.ledger import Ledger
from greenwatch.services.runtime import Outgoing
from greenwatch.services.sampledata import GeneratedProduct, Scenario, generate
from greenwatch.services.store import SqliteStore
from greenwatch.services.watcher import item_to_scene
from greenwatch.services.worker import Planner, TileWorker
from greenwatch.services.worker._common import ProductOpener
from greenwatch.services.worker._maps import MapWriter

# the real-broker fixtures (a random topic prefix and group per test), for test_kill_kafka.py
from ..integration.conftest import kafka_bootstrap, kafka_group, kafka_kit, kafka_prefix  # noqa: F401

# 7.3 km around Utrecht, 6 x 6 chunks of 122 px: 36 tasks touching several municipalities, partly
# clouded, with the fill-value edge; small enough to classify in milliseconds.
WORKER_SCENARIO = Scenario(size=732, chunk=122, dates=(date(2025, 7, 1),), change_area=None, cloud_fraction=0.2)
R10M = "measurements/reflectance/r10m"
SCL = "conditions/mask/l2a_classification/r20m/scl"


@pytest.fixture(scope="session")
def worker_areas() -> AreaSet:
    return AreaSet.load()


@pytest.fixture(scope="session")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> dict[int, GeneratedProduct]:
    """The same scene written in the Zarr v2 (`sentinel-2-l2a`) and v3 (`-zarr3`) layouts."""
    out = {}
    for fmt in (2, 3):
        (out[fmt],) = generate(tmp_path_factory.mktemp(f"worker-v{fmt}"), WORKER_SCENARIO.replace(zarr_format=fmt))
    return out


def scene_of(product: GeneratedProduct, href: str | None = None) -> dict[str, Any]:
    item = json.loads(product.item_path.read_text(encoding="utf-8"))
    scene = item_to_scene(item, stac_api="http://127.0.0.1/stac")
    if href is not None:
        scene["product_href"] = href
    return scene


def scene_event(scene: dict[str, Any]) -> Event:
    return make_event(SCENE_DISCOVERED, scene, source="test", subject=scene["scene_id"])


def chunk_file(product: Path, array: str, fmt: int, i: int, j: int) -> Path:
    return product / array / ("c" if fmt == 3 else "") / (f"{i}/{j}" if fmt == 3 else f"{i}.{j}")


def copy_product(product: GeneratedProduct, dst: Path) -> Path:
    path = dst / product.path.name
    shutil.copytree(product.path, path)
    return path


@dataclass
class Kit:
    """A planner and a tile worker on one ledger, as the `work` process wires them."""

    planner: Planner
    worker: TileWorker
    ledger: Ledger
    store: SqliteStore
    maps_root: Path

    def plan(self, scene: dict[str, Any]) -> list[Outgoing]:
        return self.planner.handle(scene_event(scene))

    def run(self, tasks: list[Outgoing], *, hint: bool = True) -> list[Outgoing]:
        """Handle every task the way the runtime does (the batch announced first)."""
        if hint:
            self.worker.prefetch([encode(t.event) for t in tasks])
        return [o for t in tasks for o in self.worker.handle(t.event)]


@pytest.fixture
def make_kit(tmp_path: Path, worker_areas: AreaSet) -> Callable[..., Kit]:
    made: list[Kit] = []

    def make(*, maps: bool = True, prefetch: int = 2, read_threads: int | None = 2, cache: bool = True,
             schemes: tuple[str, ...] = ("file",)) -> Kit:
        store = SqliteStore(tmp_path / f"state{len(made)}.db")
        ledger = Ledger(store)
        opener = ProductOpener(list(schemes))
        params = kernels.ClassifyParams()
        cache_dir = tmp_path / "labels" if cache else None
        maps_root = tmp_path / f"maps{len(made)}"
        planner = Planner(areas=worker_areas, ledger=ledger, opener=opener,
                          kernel_version=kernels.kernel_version(params), cache_dir=cache_dir)
        worker = TileWorker(areas=worker_areas, ledger=ledger, opener=opener, params=params, cache_dir=cache_dir,
                            maps=MapWriter(str(maps_root)) if maps else None, prefetch=prefetch,
                            read_threads=read_threads)
        kit = Kit(planner, worker, ledger, store, maps_root)
        made.append(kit)
        return kit

    yield make
    for kit in made:
        kit.worker.close()
        kit.store.close()


def totals(results: list[Outgoing]) -> dict[str, dict[str, Any]]:
    """Per-area sums over tile results, each result counted once by its id."""
    seen: dict[str, dict[str, Any]] = {}
    for r in results:
        seen[r.event["id"]] = r.event["data"]
    out: dict[str, dict[str, Any]] = {}
    for d in seen.values():
        t = out.setdefault(d["area_id"], {"classes": np.zeros(5, np.int64), "valid": 0, "canopy": 0.0, "pixels": 0,
                                          "tiles": 0})
        t["classes"] += np.array([d["class_counts"][k] for k in ("invalid", "water", "tree", "other_green",
                                                                  "not_green")])
        t["valid"] += d["valid_count"]
        t["canopy"] += d["canopy_fraction_sum"]
        t["pixels"] += d["area_pixels"]
        t["tiles"] += 1
    return out
