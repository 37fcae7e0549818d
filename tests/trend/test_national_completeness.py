"""The national state does not move while a new year arrives area by area: it judges a year once
`national_min_area_fraction` of the areas with a baseline have it, and rests on the latest complete year
until then, saying so. Golden case by hand (official series, one value a year, no noise):

    area   2024 green/canopy   2025        2026
    A      400 / 100           400 / 100   360 /  90   (-10 %)
    B      400 / 100           400 / 100   420 / 105   (+5 %)
    C      200 /  50           200 /  50   240 /  60   (+20 %)

    totals 2024 = 2025: 1000 / 250
    2026 over A only:   400 -> 360 = -10 %           (what the old rule judged after A: net-loss)
    2026 over A, B:     800 -> 780, 200 -> 195 = -2.5 % each: beyond 1 %, within 3 % -> at-risk
    2026 over all:     1000 -> 1020, 250 -> 255 = +2 % -> on-track
"""

from __future__ import annotations

from pathlib import Path

import pytest

from greenwatch.schemas import OBSERVATION, make_event
from greenwatch.services.store import SqliteStore
from greenwatch.services.trend import NATIONAL, Annual, Rules, TrendService, evaluate_national

from .conftest import obs

VALUES = {"A": {2024: (400, 100), 2025: (400, 100), 2026: (360, 90)},
          "B": {2024: (400, 100), 2025: (400, 100), 2026: (420, 105)},
          "C": {2024: (200, 50), 2025: (200, 50), 2026: (240, 60)}}


def _annual(arrived: list[str]) -> dict[str, dict[int, Annual]]:
    return {k: {y: Annual(y, float(g), float(c), 1, area_m2=1000.0) for y, (g, c) in v.items()
                if y < 2026 or k in arrived} for k, v in VALUES.items()}


@pytest.mark.parametrize(("fraction", "expected"), [
    # (state, judged year, pending areas) after A, after A+B, after A+B+C arrived with 2026
    (1.0, [("on-track", 2025, 1), ("on-track", 2025, 2), ("on-track", 2026, None)]),
    (0.5, [("on-track", 2025, 1), ("at-risk", 2026, None), ("on-track", 2026, None)]),
])
def test_the_national_state_waits_for_a_complete_year(fraction: float, expected: list) -> None:
    rules = Rules(national_min_area_fraction=fraction)
    for n, (state, year, pending) in enumerate(expected, start=1):
        ev = evaluate_national(_annual(["A", "B", "C"][:n]), rules)
        f = ev.figures
        assert (ev.state, ev.latest_year, f["judged_year"], f["pending_areas"]) == (state, year, year, pending), n
        if pending is not None:
            assert (f["pending_year"], f["pending_of"]) == (2026, 3)
            assert f["pending_missing_areas"] == ["A", "B", "C"][n:]
            assert f["latest_green_m2"] == 1000 and f["green_change_pct"] == 0.0  # 2025 against 2024
        else:
            assert f["pending_year"] is None
    # with 0.5 after A and B: the totals run over A and B only, and C is named as left out
    ev = evaluate_national(_annual(["A", "B"]), Rules(national_min_area_fraction=0.5))
    assert (ev.figures["latest_green_m2"], ev.figures["green_change_pct"]) == (780, -2.5)
    assert ev.figures["areas"] == ["A", "B"] and ev.figures["left_out_areas"] == ["C"]


def test_the_reasons_say_which_year_and_why() -> None:
    ev = evaluate_national(_annual(["A"]), Rules())
    assert "2026: 1 of 3 areas so far; judged on 2025" in ev.reasons
    ev = evaluate_national(_annual(["A"]), Rules(national_min_area_fraction=0.5))
    assert "2026: 1 of 3 areas so far (needs 50% of them); judged on 2025" in ev.reasons
    # an area without the baseline is not waited for; an excluded one neither (through 2030)
    late = {**_annual(["A", "B"]), "D": {2026: Annual(2026, 1.0, 1.0, 1, area_m2=1000.0)}}
    assert evaluate_national(late, Rules()).figures["pending_of"] == 3
    green_c = {**_annual(["A", "B"]), "C": {y: Annual(y, 600.0, 300.0, 1, area_m2=1000.0) for y in (2024, 2025)}}
    ev = evaluate_national(green_c, Rules(exclusion=True))  # C (60 %, 30 %) is excluded: 2026 is complete
    assert (ev.latest_year, ev.figures["excluded_areas"], ev.state) == (2026, ["C"], "at-risk")


def _feed(svc: TrendService, area: str, year: int) -> None:
    g, c = VALUES[area][year]
    svc.handle(make_event(OBSERVATION, obs(area, f"{year}-01-01", g, c, series="official"), source="test"))
    svc.after_flush()


@pytest.mark.parametrize("fraction", [1.0, 0.5])
def test_the_state_document_rests_on_the_complete_year(tmp_path: Path, fraction: float) -> None:
    svc = TrendService(store=SqliteStore(tmp_path / "s.db"), rules=Rules(national_min_area_fraction=fraction))
    for area in VALUES:
        for year in (2024, 2025):
            _feed(svc, area, year)
    seen = []
    for area in VALUES:
        _feed(svc, area, 2026)
        doc = svc.store.get("states", NATIONAL)
        seen.append((doc["state"], doc["latest_year"], doc["figures"]["pending_year"],
                     doc["figures"]["pending_areas"]))
        if area == "A":
            assert doc["series"] == "official" and "2026: 1 of 3 areas so far" in " ".join(doc["reasons"])
    if fraction == 1.0:
        assert seen == [("on-track", 2025, 2026, 1), ("on-track", 2025, 2026, 2), ("on-track", 2026, None, None)]
    else:
        assert seen == [("on-track", 2025, 2026, 1), ("at-risk", 2026, None, None), ("on-track", 2026, None, None)]
    history = [d["state"] for _, d in svc.store.scan("state_history", NATIONAL + "/")]
    # never the net-loss of "A alone" that the national state used to show for a moment
    assert "net-loss" not in history


def test_a_year_once_judged_stays_judged_when_an_area_arrives_with_its_baseline_only() -> None:
    """An official layer ingested area by area: D brings its 2024 baseline before its 2025 figure."""
    annual = {**_annual([]), "D": {2024: Annual(2024, 500.0, 100.0, 1, area_m2=1000.0)}}
    fresh = evaluate_national(annual, Rules())  # 2025: 3 of 4, nothing judged before: waits
    assert (fresh.state, fresh.figures["judged_year"], fresh.figures["pending_missing_areas"]) == (
        "insufficient-data", None, ["D"])
    held = evaluate_national(annual, Rules(), held_year=2025)  # 2025 was judged before D arrived
    f = held.figures
    assert (held.state, f["judged_year"], f["areas"], f["left_out_areas"]) == ("on-track", 2025, ["A", "B", "C"], ["D"])
    assert f["pending_year"] is None and "totals over 3 areas; 1 left out for missing years" in held.reasons
    # the held year never hides a newer complete one
    assert evaluate_national(_annual(["A", "B", "C"]), Rules(), held_year=2025).figures["judged_year"] == 2026


def test_on_sentinel2_a_later_year_closes_a_year_an_area_never_got() -> None:
    """C has no 2025 value (a cloudy season) but 2026 values exist: 2025's season is over."""
    annual = _annual(["A", "B", "C"])
    del annual["C"][2025]
    official = evaluate_national(annual, Rules())  # the official series waits for C's 2025 layer
    assert (official.figures["judged_year"], official.figures["pending_missing_areas"]) == (2026, [])
    del annual["A"][2026]  # now 2026 is the newest year and incomplete; 2025 is missing C
    official = evaluate_national(annual, Rules())
    assert (official.state, official.figures["judged_year"]) == ("insufficient-data", None)
    s2 = evaluate_national(annual, Rules(), closed_by_later=True)
    f = s2.figures
    assert (f["judged_year"], f["areas"], f["left_out_areas"]) == (2025, ["A", "B"], ["C"])
    assert (f["pending_year"], f["pending_missing_areas"]) == (2026, ["A"])  # the newest year still waits


def test_official_layers_ingested_area_by_area_never_send_the_national_state_back(tmp_path: Path) -> None:
    """The order of the demo's CLMS ingest: each area's 2024 and 2025 layers, one area after the other."""
    svc = TrendService(store=SqliteStore(tmp_path / "s.db"), rules=Rules())
    for area in VALUES:
        for year in (2024, 2025):
            _feed(svc, area, year)
    history = [d["state"] for _, d in svc.store.scan("state_history", NATIONAL + "/")]
    first = history.index("on-track")
    assert history[first:] == ["on-track"] * (len(history) - first), history
    doc = svc.store.get("states", NATIONAL)
    assert (doc["state"], doc["latest_year"], doc["figures"]["areas"]) == ("on-track", 2025, ["A", "B", "C"])
