"""Planner + tile worker on generated products in both EOPF layouts: per-area counts equal a brute-force
NumPy computation over the whole scene, with labels from the sampledata truth's own rasterizer; the
class maps equal the NumPy classification and reproduce every count; redelivery changes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xarray as xr
import zarr

from greenwatch import kernels
from greenwatch.kernels import reference
from greenwatch.schemas import TILE_TASK, encode
from greenwatch.services.areas import AreaSet, Grid
from greenwatch.services.errors import PermanentError
from greenwatch.services.sampledata import GeneratedProduct
from greenwatch.services.sampledata._areas import area_masks, default_areas_path, load_areas
from greenwatch.services.worker._maps import NOT_PROCESSED
from greenwatch.services.worker.reader import open_product

from .conftest import WORKER_SCENARIO, Kit, scene_of, totals


def _brute_force(product: GeneratedProduct, areas: AreaSet) -> kernels.AreaCounts:
    """The NumPy reference over the whole scene at once, labels from the truth's rasterizer."""
    grid = WORKER_SCENARIO.grid()
    labels = np.full(grid.shape, -1, np.int32)
    for m in area_masks(load_areas(default_areas_path(), grid), grid):
        labels[m.rows, m.cols][m.mask] = areas.index(m.code)
    g = zarr.open_group(product.path, mode="r")
    bands = [np.asarray(g[f"measurements/reflectance/r10m/{b}"][...]) for b in ("b03", "b04", "b08")]
    scl = np.asarray(g["conditions/mask/l2a_classification/r20m/scl"][...])
    radiometry = kernels.radiometry_for("05.11", 0.0001, -0.1)
    return reference.classify_count(*bands, scl, labels, len(areas.ids), radiometry, kernels.ClassifyParams())


@pytest.mark.parametrize("fmt", [2, 3], ids=["zarr-v2", "zarr-v3"])
def test_per_area_counts_equal_brute_force_numpy(
    layouts: dict[int, GeneratedProduct], worker_areas: AreaSet, make_kit: Callable[..., Kit], fmt: int
) -> None:
    kit = make_kit()
    scene = scene_of(layouts[fmt])
    tasks = kit.plan(scene)
    assert len(tasks) == 36  # every 122 px chunk of this window touches a municipality
    results = kit.run(tasks)
    got = totals(results)
    ref = _brute_force(layouts[fmt], worker_areas)
    expected = {worker_areas.ids[i] for i in np.nonzero(ref.class_counts.sum(axis=1))[0]}
    assert set(got) == expected and len(expected) == 3  # Utrecht, Nieuwegein, Houten
    for area_id, t in got.items():
        i = worker_areas.index(area_id)
        assert np.array_equal(t["classes"], ref.class_counts[i]), area_id
        assert t["valid"] == ref.valid[i]
        assert t["pixels"] == ref.class_counts[i].sum()
        assert t["canopy"] == pytest.approx(ref.canopy_sum[i], rel=1e-12)
        # the planner's promise: an area's results arrive from exactly `area_tiles` tasks
        promised = {r.event["data"]["area_tiles"] for r in results if r.event["data"]["area_id"] == area_id}
        assert promised == {t["tiles"]}
    assert kit.ledger.get(scene["scene_id"])["state"] == "complete"  # type: ignore[index]


def test_class_maps_equal_numpy_and_reproduce_the_counts(
    layouts: dict[int, GeneratedProduct], worker_areas: AreaSet, make_kit: Callable[..., Kit], tmp_path: Path
) -> None:
    kit = make_kit()
    product = layouts[3]
    scene = scene_of(product)
    tasks = kit.plan(scene)[:30]  # leave six chunks unprocessed
    results = kit.run(tasks)
    ds = xr.open_zarr(kit.maps_root / WORKER_SCENARIO.tile / "2025-07-01.zarr", group=scene["scene_id"],
                      consolidated=False)
    assert ds["class_map"].encoding["chunks"] == (122, 122) and ds.attrs["crs"] == WORKER_SCENARIO.grid().crs
    assert float(ds["x"][0]) == WORKER_SCENARIO.grid().x0 + 5.0  # pixel centres, drawable as they are
    class_map, canopy = ds["class_map"].values, ds["canopy_fraction"].values
    p = open_product(product.path)
    radiometry = kernels.radiometry_for("05.11", p.scale_factor, p.add_offset)
    ref_cls, ref_frac = reference.classify(*p.read_window(0, 0, *p.shape), radiometry, kernels.ClassifyParams())
    sg = WORKER_SCENARIO.grid()
    labels = worker_areas.labels(Grid(sg.crs, sg.transform, sg.shape))
    for t in results:
        d = t.event["data"]
        task = next(x.event["data"] for x in tasks if x.event["data"]["task_id"] == d["task_id"])
        w = task["window"]
        win = (slice(w["row"], w["row"] + w["height"]), slice(w["col"], w["col"] + w["width"]))
        assert np.array_equal(class_map[win], ref_cls[win])
        np.testing.assert_array_equal(canopy[win], ref_frac[win])
        # audit: the task's numbers from the map alone (canopy in the kernel's 2**-24 fixed point)
        mine = labels[win] == worker_areas.index(d["area_id"])
        counts = np.bincount(class_map[win][mine], minlength=5)
        assert counts.tolist() == [d["class_counts"][k] for k in ("invalid", "water", "tree", "other_green",
                                                                  "not_green")]
        frac = canopy[win][mine]
        units = (np.nan_to_num(frac) * np.float32(kernels.CANOPY_UNITS)).astype(np.int32).astype(np.int64)
        assert units.sum() / kernels.CANOPY_UNITS == d["canopy_fraction_sum"]
    done = {(x.event["data"]["window"]["row"], x.event["data"]["window"]["col"]) for x in tasks}
    assert (class_map[610:, 610:] == NOT_PROCESSED).all() and (610, 610) not in done
    assert np.isnan(canopy[610:, 610:]).all()


def test_redelivered_tasks_change_nothing(
    layouts: dict[int, GeneratedProduct], make_kit: Callable[..., Kit]
) -> None:
    kit = make_kit()
    scene = scene_of(layouts[2])
    tasks = kit.plan(scene)
    assert [t.event["id"] for t in kit.plan(scene)] == [t.event["id"] for t in tasks]  # deterministic ids
    first = kit.run(tasks)
    store = kit.maps_root / WORKER_SCENARIO.tile / "2025-07-01.zarr" / scene["scene_id"] / "class_map"
    before = {p: p.read_bytes() for p in sorted(store.rglob("c/*/*"))}
    again = kit.run(list(reversed(tasks)), hint=False)
    assert sorted(r.event["id"] for r in again) == sorted(r.event["id"] for r in first)
    assert _same(totals(again), totals(first))
    assert {p: p.read_bytes() for p in sorted(store.rglob("c/*/*"))} == before
    assert kit.ledger.get(scene["scene_id"])["tiles_done"] == len(tasks)  # type: ignore[index]


def _same(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]]) -> bool:
    return a.keys() == b.keys() and all(
        np.array_equal(a[k]["classes"], b[k]["classes"]) and a[k]["canopy"] == b[k]["canopy"] for k in a
    )


@pytest.mark.parametrize("prefetch,read_threads", [(0, 1), (4, 3)])
def test_counts_do_not_depend_on_read_ahead_or_threads(
    layouts: dict[int, GeneratedProduct], make_kit: Callable[..., Kit], prefetch: int, read_threads: int
) -> None:
    scene = scene_of(layouts[3])
    base = make_kit(maps=False)
    other = make_kit(maps=False, prefetch=prefetch, read_threads=read_threads, cache=False)
    assert _same(totals(base.run(base.plan(scene))), totals(other.run(other.plan(scene))))


def test_a_task_for_other_areas_or_kernel_is_refused(
    layouts: dict[int, GeneratedProduct], make_kit: Callable[..., Kit]
) -> None:
    kit = make_kit()
    task = kit.plan(scene_of(layouts[3]))[0].event
    stale = {**task, "data": {**task["data"], "area_set_version": "nl-gemeenten-2023@000000000000"}}
    # announcing a batch with junk in it is harmless: the runtime dead-letters junk before `handle`
    no_window = json.dumps({"type": TILE_TASK.type, "data": {"task_id": "x"}}).encode()
    kit.worker.prefetch([b"\x00 not json", b'{"type": 1}', no_window, encode(stale), encode(task)])
    assert kit.worker.handle(task)
    with pytest.raises(PermanentError, match="re-run the scene"):
        kit.worker.handle(stale)


def test_a_scheme_not_allowed_is_refused(layouts: dict[int, GeneratedProduct], make_kit: Callable[..., Kit]) -> None:
    kit = make_kit()
    with pytest.raises(PermanentError, match="scheme 'http' not allowed"):
        kit.plan(scene_of(layouts[3], href="http://127.0.0.1:9/x.zarr"))
