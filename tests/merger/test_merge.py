"""The merger: one observation per (area, day) from complete products, one product per pixel when
MGRS tiles overlap, coverage-aware valid fraction, idempotent redelivery, kernel re-runs, and
concurrent writers of the Zarr time series."""

from __future__ import annotations

import multiprocessing
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from greenwatch.schemas import TILE_RESULT, make_event, stable_id
from greenwatch.services.merger import Merger, complete_products, observation_from
from greenwatch.services.store import SqliteStore
from greenwatch.services.store.timeseries import TimeSeriesStore

AREAS = ["GM0001", "GM0002"]
PIXEL = 100.0  # m2


def result(scene: str, n: int, *, area: str = "GM0001", day: str = "2024-06-10", tiles: int = 1,
           pixels: int = 1000, tree: int = 300, other: int = 200, water: int = 50, invalid: int = 0,
           kernel: str = "k1") -> dict:
    not_green = pixels - invalid - tree - other - water
    return {"task_id": stable_id(scene, n, kernel), "scene_id": scene, "date": day, "tile": scene[-5:],
            "area_id": area, "area_tiles": tiles, "pixel_area_m2": PIXEL, "area_pixels": pixels,
            "class_counts": {"invalid": invalid, "water": water, "tree": tree, "other_green": other,
                             "not_green": not_green},
            "valid_count": pixels - invalid, "canopy_fraction_sum": tree * 0.9, "kernel_version": kernel,
            "area_set_version": "test@1", "provenance": {"product_href": f"file:///{scene}", "software": "t"}}


def test_overlapping_products_without_a_core_are_not_added_up() -> None:
    # Two MGRS tiles of the same datatake both cover the whole area (1000 px = 100 000 m2), and their
    # results name no core (whole products, as before cores existed). Adding them would double the
    # green space; the one with more valid pixels (B: 950) is used, alone.
    a = [result("S2A_T31UFT", 0, invalid=100, tree=270, other=180, water=45)]
    b = [result("S2A_T31UGT", 0, invalid=50, tree=285, other=190, water=47)]
    o = observation_from("GM0001", "2024-06-10", [a, b], 0.6, area_m2=100_000.0)
    assert o is not None
    assert (o["n_products"], o["selected_scene_id"], o["scene_ids"]) == (1, "S2A_T31UGT", ["S2A_T31UFT", "S2A_T31UGT"])
    assert o["used_scene_ids"] == ["S2A_T31UGT"]
    # B: green (285 + 190 + 47) / 950 valid of the whole area 100 000 m2
    assert o["green_area_m2"] == pytest.approx(522 / 950 * 100_000)
    assert o["canopy_area_m2"] == pytest.approx(285 * 0.9 / 950 * 100_000)
    assert o["valid_fraction"] == pytest.approx(0.95) and o["coverage"] == 1.0 and o["usable"]


def test_a_product_covering_part_of_the_area_is_kept_but_unusable() -> None:
    # the product sees 400 of the area's 1000 pixels, all clear: valid fraction 0.4 of the WHOLE area
    part = [result("S2A_T31UFT", 0, pixels=400, tree=120, other=80, water=20)]
    o = observation_from("GM0001", "2024-06-10", [part], 0.6, area_m2=100_000.0)
    assert o is not None
    assert (o["coverage"], o["valid_fraction"], o["usable"], o["area_m2"]) == (0.4, 0.4, False, 100_000.0)
    assert o["green_area_m2"] == pytest.approx(220 / 400 * 100_000)  # the seen share, scaled: hence unusable
    # without the area's size (no polygon), the pixels seen are the whole
    o = observation_from("GM0001", "2024-06-10", [part], 0.6)
    assert o is not None and (o["area_m2"], o["valid_fraction"], o["usable"]) == (40_000.0, 1.0, True)
    assert observation_from("GM0001", "2024-06-10", [], 0.6) is None


def test_complete_products_use_one_kernel_per_scene() -> None:
    old = [result("S1", i, tiles=2, kernel="k1") for i in range(2)]
    new = [result("S1", i, tiles=2, kernel="k2", tree=100) for i in range(2)]
    assert complete_products(old + new, "k2") == [new]
    assert complete_products(old + new, "k1") == [old]
    assert complete_products(old + new, "k9") == [new]  # neither: the newest kernel
    assert complete_products(old + new[:1], "k2") == [old], "k2 incomplete: k1 is still whole"
    assert complete_products(new[:1], "k2") == []


def _merger(tmp_path: Path, **kw: object) -> Merger:
    return Merger(store=SqliteStore(tmp_path / "s.db"), series=TimeSeriesStore(str(tmp_path / "ts.zarr"), AREAS),
                  area_m2={"GM0001": 100_000.0}, **kw)  # type: ignore[arg-type]


def test_merger_waits_for_every_tile_and_redelivery_changes_nothing(tmp_path: Path) -> None:
    m = _merger(tmp_path)
    parts = [result("S1", i, tiles=3, pixels=300, tree=90, other=60, water=15) for i in range(3)]
    events = [make_event(TILE_RESULT, p, source="t", event_id=stable_id(p["task_id"], "GM0001")) for p in parts]
    assert m.handle(events[0]) == [] and m.handle(events[1]) == []
    (out,) = m.handle(events[2])
    first = out.event
    assert first["data"]["valid_fraction"] == pytest.approx(0.9) and first["data"]["usable"]
    ds1 = xr.open_zarr(tmp_path / "ts.zarr").load()
    for ev in events + events:  # every result twice more, in any order
        got = m.handle(ev)
        assert [(o.event["id"], o.event["data"]) for o in got] == [(first["id"], first["data"])]
    xr.testing.assert_identical(ds1, xr.open_zarr(tmp_path / "ts.zarr").load())
    t = (date(2024, 6, 10) - date(2015, 1, 1)).days
    assert float(ds1["green_area_m2"][0, t]) == pytest.approx(3 * 165 / 900 * 100_000)  # 55 % of the area
    assert int(ds1["usable"][0, t]) == 1 and int(ds1["n_products"][0, t]) == 1


def test_a_superseded_scene_is_left_out(tmp_path: Path) -> None:
    m = _merger(tmp_path, excluded_scene=lambda s: s == "OLD")
    assert m.handle(make_event(TILE_RESULT, result("OLD", 0), source="t")) == []
    (out,) = m.handle(make_event(TILE_RESULT, result("NEW", 0, tree=10), source="t"))
    assert out.event["data"]["scene_ids"] == ["NEW"] and out.event["data"]["n_products"] == 1


def test_a_cloudy_day_is_kept_but_unusable(tmp_path: Path) -> None:
    m = _merger(tmp_path)
    (out,) = m.handle(make_event(TILE_RESULT, result("S1", 0, invalid=700, tree=90, other=60, water=15), source="t"))
    assert (out.event["data"]["valid_fraction"], out.event["data"]["usable"]) == (pytest.approx(0.3), False)
    s = m.series.series("GM0001")
    assert list(s["usable"]) == [0] and s["valid_fraction"][0] == pytest.approx(0.3)


def _write_area(path: str, area: str, offset: float) -> None:
    store = TimeSeriesStore(path, AREAS)
    for d in range(0, 400, 3):  # crosses chunk boundaries (366 days per chunk)
        store.write(area, date(2024, 1, 1) + timedelta(days=d), {"green_area_m2": offset + d, "n_products": 1})


def test_two_processes_writing_different_areas_lose_nothing(tmp_path: Path) -> None:
    """One writer per area (the merger owning the area's partition): separate chunks, no lost update."""
    path = str(tmp_path / "ts.zarr")
    TimeSeriesStore(path, AREAS)  # created once, metadata fixed
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_area, args=(path, a, 1000.0 * i)) for i, a in enumerate(AREAS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    ds = xr.open_zarr(path)
    t0 = (date(2024, 1, 1) - date(2015, 1, 1)).days
    for i, area in enumerate(AREAS):
        got = ds["green_area_m2"].sel(area=area).values[t0 : t0 + 400 : 3]
        np.testing.assert_array_equal(got, 1000.0 * i + np.arange(0, 400, 3))
