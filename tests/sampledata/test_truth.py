"""The truth map: pixel-centre area masks, determinism, plausible structure and the scripted change."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pytest
import shapely

from greenwatch.services.sampledata import LandCover, Scenario, build_truth, rasterize
from greenwatch.services.sampledata._areas import area_masks

BEFORE, AFTER = date(2025, 7, 1), date(2026, 7, 1)
CHANGE_AREA = "GM0356"  # Nieuwegein, the change area of the session scenarios (conftest.py)


def test_rasterize_is_the_pixel_centre_rule(v3_series: Any) -> None:
    grid = v3_series.truth.grid
    xs, ys = np.meshgrid(grid.x_centres(), grid.y_centres())
    for area in v3_series.truth.areas:
        mask = rasterize(area.geometry, grid)
        full = mask.full(grid.shape) if mask is not None else np.zeros(grid.shape, dtype=bool)
        assert np.array_equal(full, shapely.contains_xy(area.geometry, xs, ys)), area.code


def test_area_masks_are_disjoint_first_area_wins(v3_series: Any) -> None:
    grid = v3_series.truth.grid
    owner = np.zeros(grid.shape, dtype=np.int32)
    for m in area_masks(list(v3_series.truth.areas), grid):
        owner[m.rows, m.cols] += m.mask
    assert owner.max() == 1
    for t in v3_series.truth.area_truth(BEFORE).values():
        assert sum(t.counts.values()) == t.pixels


def test_same_seed_same_truth_other_seed_other_truth(v3_series: Any) -> None:
    small = v3_series.scenario.replace(size=200, chunk=100)
    a, b = build_truth(small), build_truth(small)
    assert np.array_equal(a.landcover_before, b.landcover_before) and np.array_equal(a.removed, b.removed)
    c = build_truth(small.replace(seed=small.seed + 1))
    assert (c.landcover_before != a.landcover_before).mean() > 0.2


def test_all_classes_present_in_plausible_shares(v3_series: Any) -> None:
    lc = v3_series.truth.landcover_before
    share = {c: float((lc == c).mean()) for c in LandCover}
    assert share[LandCover.NO_DATA] == 0.0
    assert 0.005 < share[LandCover.WATER] < 0.06
    assert 0.10 < share[LandCover.TREE_CANOPY] < 0.30
    assert 0.20 < share[LandCover.OTHER_GREEN] < 0.60
    assert 0.20 < share[LandCover.NOT_GREEN] < 0.60


def test_municipality_cores_are_more_sealed_than_their_edges(v3_series: Any) -> None:
    truth = v3_series.truth
    area = truth.area(CHANGE_AREA)
    centre = area.geometry.centroid
    grid = truth.grid
    xs, ys = np.meshgrid(grid.x_centres(), grid.y_centres())
    dist = np.hypot(xs - centre.x, ys - centre.y)
    inside = next(m for m in truth.masks if m.code == CHANGE_AREA).full(grid.shape)
    sealed = truth.landcover_before == LandCover.NOT_GREEN
    core, edge = inside & (dist < 1000), inside & (dist > 2500)
    assert sealed[core].mean() > sealed[edge].mean() + 0.1


def test_canopy_loss_only_in_the_change_area_and_of_the_chosen_fraction(v3_series: Any) -> None:
    truth = v3_series.truth
    before, after = truth.area_truth(BEFORE), truth.area_truth(AFTER)
    lost = 1 - after[CHANGE_AREA].counts["tree_canopy"] / before[CHANGE_AREA].counts["tree_canopy"]
    assert lost == pytest.approx(v3_series.scenario.change_fraction, abs=0.01)
    assert after[CHANGE_AREA].canopy_fraction < 0.5 * before[CHANGE_AREA].canopy_fraction
    for code in before:
        if code != CHANGE_AREA:
            assert after[code].counts == before[code].counts, code
    gained = after[CHANGE_AREA].counts["not_green"] - before[CHANGE_AREA].counts["not_green"]
    assert gained == before[CHANGE_AREA].counts["tree_canopy"] - after[CHANGE_AREA].counts["tree_canopy"]
    assert not truth.removed[truth.landcover_before != LandCover.TREE_CANOPY].any()


def test_canopy_fraction_is_high_on_trees_and_low_elsewhere(v3_series: Any) -> None:
    lc, frac = v3_series.truth.landcover_before, v3_series.truth.canopy_fraction(BEFORE)
    tree = lc == LandCover.TREE_CANOPY
    assert frac[tree].min() >= 0.75 and frac[~tree].max() <= 0.10
    assert frac[lc == LandCover.WATER].max() == 0.0


def test_a_change_area_outside_the_window_is_refused(v3_series: Any) -> None:
    with pytest.raises(ValueError, match="GM0363"):
        build_truth(v3_series.scenario.replace(size=100, change_area="GM0363"))  # Amsterdam


@pytest.mark.parametrize(
    "bad",
    [
        {"size": 101},
        {"chunk": 33},
        {"zarr_format": 4},
        {"tile": "31XYZ9"},
        {"processing_baseline": "5.11"},
        {"dates": ()},
        {"change_fraction": 1.5},
    ],
)
def test_scenario_validation(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Scenario(**bad)  # type: ignore[arg-type]
