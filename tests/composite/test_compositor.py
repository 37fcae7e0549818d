"""The compositor on hand-made class maps: counts equal a whole-stack NumPy computation, the
min_valid_dates boundary, 'not processed' (255) and NaN, which scenes count, redundant triggers, and
bad maps (a corrupt or missing chunk) dead-lettered with a reason that names the scene and chunk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from greenwatch.kernels import reference
from greenwatch.schemas import ANNUAL_COMPOSITE, COMPOSITE_TASK, Event, make_event
from greenwatch.services import topics
from greenwatch.services.composite import COMPOSITE_VERSION
from greenwatch.services.errors import PermanentError
from greenwatch.services.worker._maps import NOT_PROCESSED

from .conftest import CHUNKS, GRID, KERNEL, TILE, Tiny, random_maps

NAMES = ("invalid", "water", "tree", "other_green", "not_green")
IN_SEASON = ("2025-05-20", "2025-06-14", "2025-07-09", "2025-08-03", "2025-09-27")


def task(tiny: Tiny, year: int = 2025, scene: str = "S5") -> Event:
    data = {"tile": TILE, "year": year, "kernel_version": KERNEL, "area_set_version": tiny.areas.version,
            "scene_id": scene, "date": f"{year}-07-01"}
    return make_event(COMPOSITE_TASK, data, source="test")


def brute_force(tiny: Tiny, scene_ids: list[str], min_valid_dates: int) -> dict[str, dict]:
    """The whole tile's stack at once with the NumPy reference kernels, counted area by area."""
    cls = np.stack([tiny.scenes[s][0] for s in scene_ids])
    frac = np.stack([tiny.scenes[s][1] for s in scene_ids])
    majority, n_valid = reference.season_majority(cls)
    median, _ = reference.season_composite(frac)
    valid = n_valid >= min_valid_dates
    composite = np.where(valid, majority, 0)
    fraction = np.where(valid & np.isfinite(median), median, 0.0).astype(np.float64)
    labels = tiny.areas.label_raster(GRID, CHUNKS).full()
    out = {}
    for k, area in enumerate(tiny.areas.ids):
        m = labels == k
        out[area] = {"class_counts": {n: int((composite[m] == c).sum()) for c, n in enumerate(NAMES)},
                     "valid_count": int((composite[m] > 0).sum()), "area_pixels": int(m.sum()),
                     "canopy_fraction_sum": float(fraction[m].sum()),
                     "tree_canopy_fraction_sum": float(fraction[m & (composite == 2)].sum())}
    return out


def _by_area(out: list) -> dict[str, dict]:
    assert all(o.topic == topics.OBSERVATIONS and o.event["type"] == ANNUAL_COMPOSITE.type for o in out)
    assert all(o.key == o.event["data"]["area_id"] for o in out)
    return {o.event["data"]["area_id"]: o.event["data"] for o in out}


def test_counts_equal_a_whole_stack_numpy_computation(tiny: Tiny) -> None:
    for k, day in enumerate(IN_SEASON):
        tiny.add_scene(f"S{k + 1}", day, *random_maps(k))
    # left out: a date outside the season, a scene with a tile still missing, another kernel's scene
    tiny.add_scene("APRIL", "2025-04-20", *random_maps(10))
    tiny.add_scene("HALF", "2025-06-30", *random_maps(11), complete=False)
    tiny.add_scene("OLDK", "2025-07-30", *random_maps(12), kernel="s2-ndvi-0.9.0")
    got = _by_area(tiny.compositor(3).handle(task(tiny)))
    used = [f"S{k + 1}" for k in range(len(IN_SEASON))]
    want = brute_force(tiny, used, 3)
    assert set(got) == {"A", "B"}
    for area, w in want.items():
        g = got[area]
        assert g["class_counts"] == w["class_counts"], area
        assert (g["valid_count"], g["area_pixels"]) == (w["valid_count"], w["area_pixels"]) == \
               (sum(w["class_counts"][n] for n in NAMES[1:]), 64)
        assert g["canopy_fraction_sum"] == pytest.approx(w["canopy_fraction_sum"], rel=1e-12)
        assert g["tree_canopy_fraction_sum"] == pytest.approx(w["tree_canopy_fraction_sum"], rel=1e-12)
        assert 0 < w["valid_count"] < w["area_pixels"]  # the case is not degenerate
        assert g["scene_ids"] == sorted(used) and g["n_dates"] == 5 and g["min_valid_dates"] == 3
        assert (g["year"], g["tile"], g["season"], g["kernel_version"]) == (2025, TILE, [5, 9], KERNEL)
        assert g["composite_version"] == COMPOSITE_VERSION and g["pixel_area_m2"] == 100.0
        assert g["pixel_domain"] == "EPSG:32631/600000/5700000"  # the tile's MGRS core (worker labels)


def _clouded(tiny: Tiny, n_dates: int, a_clouded: set[int], b_clouded: set[int]) -> None:
    """Tree everywhere, canopy fraction 0.5, 0.6, ... by date; area A clouded on the dates `a_clouded`
    (indices), B on `b_clouded`."""
    labels = tiny.areas.label_raster(GRID, CHUNKS).full()
    for k, day in enumerate(IN_SEASON[:n_dates]):
        cls = np.full(GRID.shape, 2, np.uint8)
        frac = np.full(GRID.shape, 0.5 + 0.1 * k, np.float32)
        cloudy = ((labels == 0) & (k in a_clouded)) | ((labels == 1) & (k in b_clouded))
        cls[cloudy] = 0
        frac[cloudy] = np.nan
        tiny.add_scene(f"S{k + 1}", day, cls, frac)


def test_a_pixel_needs_min_valid_dates_clear_dates(tiny: Tiny) -> None:
    """Five dates: A's pixels are clear on exactly 3 (the last three), B's on exactly 2 (the first two).
    At min_valid_dates 3 every A pixel is valid and no B pixel is; at 2 both are."""
    _clouded(tiny, 5, {0, 1}, {2, 3, 4})
    at3 = _by_area(tiny.compositor(3).handle(task(tiny)))
    assert at3["A"]["valid_count"] == 64 and at3["A"]["class_counts"]["tree"] == 64
    assert at3["A"]["canopy_fraction_sum"] == pytest.approx(64 * 0.8)  # median of 0.7, 0.8, 0.9
    assert at3["B"]["valid_count"] == 0 and at3["B"]["class_counts"]["invalid"] == 64
    assert at3["B"]["canopy_fraction_sum"] == 0.0 and at3["B"]["min_valid_dates"] == 3
    at2 = _by_area(tiny.compositor(2).handle(task(tiny)))  # another setting: computed again, not skipped
    assert at2["B"]["valid_count"] == 64 and at2["B"]["canopy_fraction_sum"] == pytest.approx(64 * 0.55)


def test_a_sparse_season_needs_at_most_half_its_dates(tiny: Tiny) -> None:
    """Four dates, each area clear on two: min_valid_dates 3 is capped at 2, so both count; at 3 no
    pixel would, and in a real season's cloud pattern the areas would rest on a cloud-shaped sample."""
    _clouded(tiny, 4, {0, 1}, {2, 3})
    got = _by_area(tiny.compositor(3).handle(task(tiny)))
    assert got["A"]["min_valid_dates"] == got["B"]["min_valid_dates"] == 2
    assert got["A"]["valid_count"] == got["B"]["valid_count"] == 64
    assert got["A"]["canopy_fraction_sum"] == pytest.approx(64 * 0.75)  # median of 0.7, 0.8
    assert got["B"]["canopy_fraction_sum"] == pytest.approx(64 * 0.55)  # median of 0.5, 0.6


def test_not_processed_and_nan_never_vote(tiny: Tiny) -> None:
    """A pixel's 255 (no task) and NaN fraction count as invalid dates, whatever their number."""
    for k, day in enumerate(IN_SEASON):
        cls = np.full(GRID.shape, 3, np.uint8)
        frac = np.full(GRID.shape, 0.25, np.float32)
        if k < 3:  # three of five dates: one pixel of A 'not processed', with a NaN fraction
            cls[0, 0], frac[0, 0] = NOT_PROCESSED, np.nan
        tiny.add_scene(f"S{k + 1}", day, cls, frac)
    a = _by_area(tiny.compositor(3).handle(task(tiny)))["A"]
    assert a["class_counts"]["invalid"] == 1 and a["class_counts"]["other_green"] == 63
    assert a["canopy_fraction_sum"] == pytest.approx(63 * 0.25)


def test_a_redundant_trigger_is_skipped_and_a_new_scene_recomputes(tiny: Tiny) -> None:
    for k, day in enumerate(IN_SEASON[:3]):
        tiny.add_scene(f"S{k + 1}", day, *random_maps(k))
    comp = tiny.compositor()
    first = comp.handle(task(tiny))
    assert first
    assert comp.handle(task(tiny, scene="S2")) == []  # same set, not yet acknowledged: pending
    # a crash before the bus acknowledged the events: nothing recorded, the redelivery sends them again
    again = tiny.compositor().handle(task(tiny))
    assert [o.event["id"] for o in again] == [o.event["id"] for o in first]
    comp.after_flush()
    assert tiny.compositor().handle(task(tiny)) == []  # recorded: one read, nothing sent
    tiny.add_scene("S4", IN_SEASON[3], *random_maps(3))
    newer = tiny.compositor().handle(task(tiny, scene="S4"))
    assert _by_area(newer)["A"]["scene_ids"] == ["S1", "S2", "S3", "S4"]
    assert {o.event["id"] for o in first}.isdisjoint(o.event["id"] for o in newer)  # other content, other ids


def test_no_scenes_of_the_year_send_nothing(tiny: Tiny) -> None:
    tiny.add_scene("S1", IN_SEASON[0], *random_maps(0))
    assert tiny.compositor().handle(task(tiny, year=2024)) == []


def _chunk_file(root: Path, scene: str, name: str, i: int, j: int) -> Path:
    return root / "maps" / TILE / f"{IN_SEASON[1]}.zarr" / scene / name / "c" / str(i) / str(j)


def test_a_corrupt_chunk_fails_the_task_naming_scene_and_chunk(tiny: Tiny) -> None:
    for k, day in enumerate(IN_SEASON[:3]):
        tiny.add_scene(f"S{k + 1}", day, *random_maps(k))
    chunk = _chunk_file(tiny.root, "S2", "class_map", 1, 1)
    assert chunk.is_file()
    chunk.write_bytes(b"not zstd")
    with pytest.raises(PermanentError, match=r"maps of scene S2 \(2025-06-14\), chunk at row 4, col 8 .*unreadable"):
        tiny.compositor().handle(task(tiny))


def test_a_missing_chunk_of_a_complete_scene_fails_the_task(tiny: Tiny) -> None:
    tiny.add_scene("S1", IN_SEASON[0], *random_maps(0))
    tiny.add_scene("S2", IN_SEASON[1], *random_maps(1), skip_chunks=[(2, 1)])
    tiny.add_scene("S3", IN_SEASON[2], *random_maps(2))
    with pytest.raises(PermanentError, match=r"maps of scene S2 \(2025-06-14\), chunk at row 8, col 8 .*missing"):
        tiny.compositor().handle(task(tiny))


def test_a_task_of_another_area_set_is_refused(tiny: Tiny) -> None:
    data = {**task(tiny)["data"], "area_set_version": "other@000000000000"}
    with pytest.raises(PermanentError, match="re-run"):
        tiny.compositor().handle(make_event(COMPOSITE_TASK, data, source="test"))
