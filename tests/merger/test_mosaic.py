"""The merger's mosaic: products of different tile cores (disjoint pixels) are added, the best product
per core is taken, products without a core are never added to anything, and different kernels are
never summed."""

from __future__ import annotations

from pathlib import Path

import pytest

from greenwatch.schemas import TILE_RESULT, InvalidMessage, make_event, stable_id
from greenwatch.services.merger import Merger, complete_products, observation_from
from greenwatch.services.store import SqliteStore
from greenwatch.services.store.timeseries import TimeSeriesStore

from .test_merge import AREAS, result

CORE_F, CORE_G = "EPSG:32631/600000/5700000", "EPSG:32631/700000/5700000"
DAY = "2024-06-10"


def cored(scene: str, core: str | None, n: int = 0, **kw: int | str) -> dict:
    """A tile result of `core` (None: a whole product); classes default to 30/20/5 % of the valid pixels."""
    valid = int(kw.get("pixels", 1000)) - int(kw.get("invalid", 0))
    kw = {"tree": valid * 3 // 10, "other": valid // 5, "water": valid // 20, **kw}
    r = result(scene, n, **kw)  # type: ignore[arg-type]
    if core is not None:
        r["pixel_domain"] = core
        r["task_id"] = stable_id(scene, n, r["kernel_version"], core)
    return r


def test_products_of_different_cores_are_added() -> None:
    # an area of 1000 px across the 700 km line: 400 px in 31UFT's core, 600 px in 31UGT's
    f = [cored("S2A_T31UFT", CORE_F, pixels=400, invalid=20, tree=100, other=80, water=20)]
    g = [cored("S2A_T31UGT", CORE_G, pixels=600, invalid=30, tree=150, other=120, water=30)]
    o = observation_from("GM0001", DAY, [f, g], 0.6, area_m2=100_000.0)
    assert o is not None
    assert (o["n_products"], o["used_scene_ids"], o["selected_scene_id"]) == (2, ["S2A_T31UFT", "S2A_T31UGT"],
                                                                              "S2A_T31UGT")
    assert o["valid_fraction"] == pytest.approx(950 / 1000) and o["coverage"] == pytest.approx(1.0) and o["usable"]
    assert o["green_area_m2"] == pytest.approx((200 + 300) / 950 * 100_000)
    assert o["canopy_area_m2"] == pytest.approx((100 + 150) * 0.9 / 950 * 100_000)
    # alone, neither would have been usable (the old best-of rule: 570 of 1000 valid)
    alone = observation_from("GM0001", DAY, [g], 0.6, area_m2=100_000.0)
    assert alone is not None and alone["valid_fraction"] == pytest.approx(0.57) and not alone["usable"]


def test_one_product_per_core_the_one_with_most_valid_pixels() -> None:
    # two products of 31UGT on one day (say a reprocessing and its original): never both
    f = [cored("S2A_T31UFT", CORE_F, pixels=400)]
    g_cloudy = [cored("S2A_T31UGT_a", CORE_G, pixels=600, invalid=300)]
    g_clear = [cored("S2A_T31UGT_b", CORE_G, pixels=600, invalid=10)]
    o = observation_from("GM0001", DAY, [f, g_cloudy, g_clear], 0.6, area_m2=100_000.0)
    assert o is not None
    assert o["used_scene_ids"] == ["S2A_T31UFT", "S2A_T31UGT_b"] and o["n_products"] == 2
    assert o["scene_ids"] == ["S2A_T31UFT", "S2A_T31UGT_a", "S2A_T31UGT_b"]  # every product of the day
    assert o["valid_fraction"] == pytest.approx((400 + 590) / 1000)


def test_a_product_without_a_core_is_never_added() -> None:
    f = [cored("S2A_T31UFT", CORE_F, pixels=400)]
    g = [cored("S2A_T31UGT", CORE_G, pixels=500)]
    for valid, used in ((850, ["S2A_T31UFT", "S2A_T31UGT"]), (950, ["WHOLE"])):
        whole = [cored("WHOLE", None, pixels=1000, invalid=1000 - valid)]  # sees it all, overlapping both
        o = observation_from("GM0001", DAY, [f, g, whole], 0.6, area_m2=100_000.0)
        assert o is not None and o["used_scene_ids"] == used and o["n_products"] == len(used)
        assert o["valid_fraction"] == pytest.approx(max(valid, 900) / 1000)  # never 900 + valid


def test_products_of_different_kernels_are_not_summed() -> None:
    f = [cored("S2A_T31UFT", CORE_F, pixels=400, kernel="k1")]
    g = [cored("S2A_T31UGT", CORE_G, pixels=600, kernel="k2")]
    o = observation_from("GM0001", DAY, [f, g], 0.6, area_m2=100_000.0)
    assert o is not None and o["used_scene_ids"] == ["S2A_T31UGT"] and o["kernel_version"] == "k2"


def test_a_scene_s_whole_product_and_cored_contributions_are_never_mixed() -> None:
    # a scene planned before cores existed (2 tasks, whole product), re-run with cores (1 task)
    old = [cored("S1", None, n, tiles=2) for n in range(2)]
    new = [cored("S1", CORE_F, 0, tiles=1, tree=10)]
    assert complete_products(old + new, "k1") == [new]  # a cored group before one without
    assert complete_products(old[:1] + new, "k1") == [new]
    assert complete_products([*old, dict(new[0], area_tiles=2)], "k1") == [old]  # cored one incomplete


def _merger(tmp_path: Path) -> Merger:
    return Merger(store=SqliteStore(tmp_path / "s.db"), series=TimeSeriesStore(str(tmp_path / "ts.zarr"), AREAS),
                  area_m2={"GM0001": 100_000.0})


def test_the_merger_adds_the_second_core_when_it_arrives(tmp_path: Path) -> None:
    m = _merger(tmp_path)
    f = cored("S2A_T31UFT", CORE_F, pixels=400, invalid=20)
    g = cored("S2A_T31UGT", CORE_G, pixels=600, invalid=30)
    events = [make_event(TILE_RESULT, r, source="t", event_id=stable_id(r["task_id"], "GM0001")) for r in (f, g)]
    (first,) = m.handle(events[0])
    assert first.event["data"]["valid_fraction"] == pytest.approx(0.38) and not first.event["data"]["usable"]
    (second,) = m.handle(events[1])
    obs = second.event["data"]
    assert (obs["n_products"], obs["valid_fraction"], obs["usable"]) == (2, pytest.approx(0.95), True)
    assert second.event["id"] == stable_id("obs", "GM0001", DAY, "S2A_T31UFT", "S2A_T31UGT", "k1")
    for ev in events[::-1] + events:  # redelivered in any order: the same observation, the same id
        (again,) = m.handle(ev)
        assert (again.event["id"], again.event["data"]) == (second.event["id"], obs)
    s = m.series.series("GM0001")
    assert list(s["n_products"]) == [2] and s["valid_fraction"][0] == pytest.approx(0.95)


def test_pixel_domain_is_optional_and_never_empty() -> None:
    make_event(TILE_RESULT, result("S1", 0), source="t")  # results without a core stay valid
    make_event(TILE_RESULT, cored("S1", CORE_F), source="t")
    with pytest.raises(InvalidMessage, match="pixel_domain"):
        make_event(TILE_RESULT, cored("S1", ""), source="t")
