"""Sentinel-2 annual values from per-pixel season composites: used where the tiles' composites cover the
area with enough valid pixels (method pixel-composite, figures scaled like an observation), the area
median of the season's observations elsewhere (method area-median); through the trend service too."""

from __future__ import annotations

import pytest

from greenwatch.schemas import ANNUAL_COMPOSITE, OBSERVATION, make_event
from greenwatch.services.trend import Rules, TrendService, annual_indicators
from greenwatch.services.trend._composite import choose_contributions, sentinel2_annuals
from greenwatch.services.trend._stats import bootstrap_se_median

from .conftest import MemoryStore, obs

SEASON = (5, 9)
DAYS = ["2024-05-10", "2024-06-10", "2024-07-10", "2025-06-10", "2025-07-10", "2025-08-10"]


def comp(area: str, year: int, *, tile: str = "31UFT", pixels: int = 100, valid: int = 90, tree: int = 30,
         other: int = 20, water: int = 10, canopy: float = 36.0, domain: str | None = None, n_dates: int = 4) -> dict:
    """An annual-composite of an area of 1000 m2 (obs default) at 10 m2 pixels: 100 pixels cover it."""
    not_green = valid - tree - other - water
    return {"area_id": area, "year": year, "tile": tile, "pixel_domain": domain, "season": list(SEASON),
            "scene_ids": [f"{tile}-{year}-{i}" for i in range(n_dates)], "n_dates": n_dates, "min_valid_dates": 3,
            "class_counts": {"invalid": pixels - valid, "water": water, "tree": tree, "other_green": other,
                             "not_green": not_green},
            "valid_count": valid, "canopy_fraction_sum": canopy, "tree_canopy_fraction_sum": canopy * 0.8,
            "area_pixels": pixels, "pixel_area_m2": 10.0, "kernel_version": "k",
            "composite_version": "season-majority-1.0.0+season-median-1.0.0", "area_set_version": "v"}


def _obs() -> list[dict]:
    return [obs("A", d, 500.0 + 10 * i, 200.0 + 5 * i) for i, d in enumerate(DAYS)]


def test_a_covering_composite_gives_the_year_and_a_partial_one_no_value() -> None:
    observations = _obs()
    composites = [comp("A", 2024), comp("A", 2025, pixels=60, valid=55)]  # 2025 covers 60 % of the area
    got = sentinel2_annuals(observations, composites, SEASON, 2, 0.6)
    y24 = got[2024]
    assert y24.method == "pixel-composite"
    assert y24.green_m2 == pytest.approx((30 + 20 + 10) / 90 * 1000.0)
    assert y24.canopy_m2 == pytest.approx(36.0 * 0.8 / 90 * 1000.0)  # on majority-tree pixels only
    assert (y24.n, y24.area_m2) == (4, 1000.0)
    season24 = [o for o in observations if o["date"] < "2025"]
    assert y24.green_se == bootstrap_se_median([o["green_area_m2"] for o in season24])  # date sampling
    # 2025's composite does not qualify, and its area median is not mixed in: no 2025 value yet
    assert 2025 in annual_indicators(observations, SEASON, 2) and 2025 not in got


def test_an_area_never_mixes_the_two_methods() -> None:
    """The method is decided on the anchor year (the baseline if the area has it, else its first year):
    the median's canopy counts grass, the composite's does not, so a mix would fake a canopy change."""
    observations = _obs()
    median_only = annual_indicators(observations, SEASON, 2)
    # 2024's composite does not cover the area: area medians in every year, 2025's composite unused
    got = sentinel2_annuals(observations, [comp("A", 2024, pixels=60, valid=55), comp("A", 2025)], SEASON, 2, 0.6)
    assert got == median_only and {a.method for a in got.values()} == {"area-median"}
    # no baseline value at all: the first year decides
    later = [o for o in observations if o["date"] >= "2025"]
    assert sentinel2_annuals(later, [comp("A", 2025)], SEASON, 2, 0.6)[2025].method == "pixel-composite"
    got = sentinel2_annuals(observations, [comp("A", 2024), comp("A", 2025)], SEASON, 2, 0.6, baseline_year=2025)
    assert {a.method for a in got.values()} == {"pixel-composite"}
    # a baseline without a composite of its own year, though the area has later composites: medians
    got = sentinel2_annuals(observations, [comp("A", 2025)], SEASON, 2, 0.6)
    assert {y: a.method for y, a in got.items()} == {2024: "area-median", 2025: "area-median"}


def test_composites_take_over_once_they_give_every_year_but_the_newest() -> None:
    """A backfill: three years of observations first, then the composites year by year."""
    observations = _obs() + [obs("A", d, 520.0, 210.0) for d in ("2026-06-10", "2026-07-10")]
    assert set(annual_indicators(observations, SEASON, 2)) == {2024, 2025, 2026}
    methods = []
    for n in range(4):
        got = sentinel2_annuals(observations, [comp("A", y) for y in (2024, 2025, 2026)[:n]], SEASON, 2, 0.6)
        methods.append({y: a.method[0] for y, a in got.items()})
    assert methods == [{2024: "a", 2025: "a", 2026: "a"},  # no composite: medians
                       {2024: "a", 2025: "a", 2026: "a"},  # 2024 only: 2025 would have no value
                       {2024: "p", 2025: "p"},             # 2024 and 2025: 2026's composite still to come
                       {2024: "p", 2025: "p", 2026: "p"}]
    # a past year whose composite never qualifies (too cloudy) while its median exists: medians again
    got = sentinel2_annuals(observations, [comp("A", 2024), comp("A", 2025, valid=50), comp("A", 2026)], SEASON, 2,
                            0.6)
    assert {a.method for a in got.values()} == {"area-median"}


def test_too_few_valid_pixels_fall_back_to_the_area_median() -> None:
    observations = _obs()
    got = sentinel2_annuals(observations, [comp("A", 2024, valid=59, tree=20)], SEASON, 2, 0.6)
    assert got[2024].method == "area-median"
    assert sentinel2_annuals(observations, [comp("A", 2024, valid=60, tree=20)], SEASON, 2, 0.6)[2024].method == \
        "pixel-composite"  # the boundary: 60 of 100 pixels is the 0.6 minimum


def test_a_composite_of_fewer_dates_than_a_year_needs_falls_back() -> None:
    assert sentinel2_annuals(_obs(), [comp("A", 2024, n_dates=1)], SEASON, 2, 0.6)[2024].method == "area-median"
    assert sentinel2_annuals(_obs(), [comp("A", 2024, n_dates=2)], SEASON, 2, 0.6)[2024].method == "pixel-composite"


def test_without_observations_a_composite_cannot_be_scaled() -> None:
    assert sentinel2_annuals([], [comp("A", 2024)], SEASON, 2, 0.6) == {}


def test_core_contributions_add_up_and_a_whole_tile_counts_alone() -> None:
    west = comp("A", 2024, tile="31UFT", pixels=55, valid=50, domain="EPSG:32631/600000/5700000")
    east = comp("A", 2024, tile="31UGT", pixels=45, valid=40, domain="EPSG:32631/700000/5700000")
    assert sorted(p["tile"] for p in choose_contributions([west, east], 1000.0)) == ["31UFT", "31UGT"]
    got = sentinel2_annuals(_obs(), [west, east], SEASON, 2, 0.6)[2024]
    assert got.method == "pixel-composite" and got.green_m2 == pytest.approx(120 / 90 * 1000.0)
    # without domains the two tiles may overlap: neither covers the area alone, so no composite
    halves = [{**west, "pixel_domain": None}, {**east, "pixel_domain": None}]
    assert sentinel2_annuals(_obs(), halves, SEASON, 2, 0.6)[2024].method == "area-median"


def test_a_cloudy_year_gets_a_value_from_its_composite() -> None:
    """One usable date (the median needs 2) but a composite with enough valid pixels: the year has a
    value, its standard error from the season's observations with valid pixels."""
    observations = [obs("A", "2024-06-10", 500.0, 200.0),
                    {**obs("A", "2024-07-10", 480.0, 190.0, usable=False)},
                    {**obs("A", "2024-08-10", 470.0, 180.0, usable=False)}]
    assert annual_indicators(observations, SEASON, 2) == {}
    got = sentinel2_annuals(observations, [comp("A", 2024)], SEASON, 2, 0.6)[2024]
    assert got.method == "pixel-composite" and got.green_se == bootstrap_se_median([500.0, 480.0, 470.0]) > 0


def test_the_trend_service_uses_stored_composites_and_says_which_method() -> None:
    store = MemoryStore()
    svc = TrendService(store=store, rules=Rules(), min_valid_fraction=0.6)  # type: ignore[arg-type]
    for row in _obs():
        svc.handle(make_event(OBSERVATION, row, source="t"))
    assert {v["method"] for v in store.get("annual", "A")["sentinel-2"].values()} == {"area-median"}
    svc.handle(make_event(ANNUAL_COMPOSITE, comp("A", 2024), source="t"))
    svc.handle(make_event(ANNUAL_COMPOSITE, comp("A", 2025, canopy=18.0), source="t"))
    annual = store.get("annual", "A")["sentinel-2"]
    assert (annual["2024"]["method"], annual["2025"]["method"]) == ("pixel-composite", "pixel-composite")
    state = store.get("states", "A")
    assert (state["figures"]["baseline_method"], state["figures"]["latest_method"]) == ("pixel-composite",) * 2
    assert state["figures"]["canopy_change_pct"] == pytest.approx(-50.0)
    national = store.get("states", "national")["figures"]
    assert national["baseline_methods"] == {"pixel-composite": 1}
    # a composite recomputed from more scenes replaces the stored one (same area, year and tile)
    svc.handle(make_event(ANNUAL_COMPOSITE, comp("A", 2025, canopy=36.0, n_dates=5), source="t"))
    assert store.get("annual", "A")["sentinel-2"]["2025"]["n"] == 5
    assert store.get("states", "A")["figures"]["canopy_change_pct"] == pytest.approx(0.0)
    assert len(store.tables["composites"]) == 2
