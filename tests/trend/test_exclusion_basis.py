"""The Art. 8(1) exclusion on the urban centres and clusters (UCC) vs the whole area, by hand (areas of
1000 m2, UCC parts of 1000 m2 too, so 450 m2 is 45 %): the boundary, the basis named in figures and
reasons, one decision shared by every series, and UCC figures carried from official observations."""

from __future__ import annotations

import pytest

from greenwatch.services.trend import Annual, Rules, annual_indicators, evaluate_area, evaluate_national, is_excluded
from greenwatch.services.trend._exclusion import (
    BASIS_UCC,
    BASIS_WHOLE,
    area_exclusion,
    exclusion_basis,
)

from .conftest import obs

EXCLUDING = Rules(exclusion=True)


def a(year: int, green: float, canopy: float, ucc: tuple[float, float, float] | None = None) -> Annual:
    extra = {} if ucc is None else {"ucc_green_m2": ucc[0], "ucc_canopy_m2": ucc[1], "ucc_area_m2": ucc[2]}
    return Annual(year, green, canopy, 1, 0.0, 0.0, 1000.0, **extra)


@pytest.mark.parametrize(("ucc", "excluded"), [
    ((450.0, 100.0, 1000.0), False),   # exactly 45 % and exactly 10 % of the UCC: not MORE -> not excluded
    ((451.0, 100.0, 1000.0), False),   # 10 % canopy exactly: one condition fails
    ((450.0, 101.0, 1000.0), False),   # 45 % green exactly: one condition fails
    ((451.0, 101.0, 1000.0), True),    # 45.1 % and 10.1 %: both more
    ((900.0, 200.0, 2000.0), False),   # 45 % and 10 % of a 2000 m2 part, compared without dividing
    ((0.0, 0.0, 0.0), False),          # the area has no UCC: no shares to exceed
])
def test_the_boundary_on_ucc_shares(ucc: tuple[float, float, float], excluded: bool) -> None:
    # the whole area is very green (60 %, 30 %): on it the area would always be excluded
    base = a(2024, 600.0, 300.0, ucc)
    decision = exclusion_basis(base, EXCLUDING)
    assert decision is not None and (decision.excluded, decision.kind, decision.basis) == (excluded, "ucc", BASIS_UCC)
    assert is_excluded(base, EXCLUDING) is excluded
    ev = evaluate_area({2024: base, 2026: a(2026, 600.0, 300.0)}, EXCLUDING)
    assert (ev.state == "excluded") is excluded and ev.figures["excluded"] is excluded
    assert ev.figures["exclusion"]["basis"] == BASIS_UCC
    assert any(BASIS_UCC in r for r in ev.reasons)


def test_whole_area_and_ucc_bases_disagree_both_ways() -> None:
    # A: whole 40 % / 20 % (not excluded), UCC 60 % / 20 % (excluded); B the reverse
    a_base, b_base = a(2024, 400.0, 200.0, (600.0, 200.0, 1000.0)), a(2024, 600.0, 200.0, (400.0, 200.0, 1000.0))
    assert is_excluded(a_base, EXCLUDING) and not is_excluded(b_base, EXCLUDING)
    no_ucc = lambda x: Annual(x.year, x.green_m2, x.canopy_m2, x.n, area_m2=x.area_m2)  # noqa: E731
    assert not is_excluded(no_ucc(a_base), EXCLUDING) and is_excluded(no_ucc(b_base), EXCLUDING)
    whole = exclusion_basis(no_ucc(b_base), EXCLUDING)
    assert whole is not None and (whole.kind, whole.basis) == ("whole-area", BASIS_WHOLE)
    configured = exclusion_basis(no_ucc(b_base), Rules(exclusion=True, ucc_layer=True))
    assert configured is not None and configured.basis == ("whole area (approximation: no urban centres and "
                                                           "clusters figures for 2024 yet)")
    assert exclusion_basis(a_base, Rules()) is None  # the exclusion is optional, off by default


def test_every_series_takes_the_official_ucc_decision() -> None:
    official = {2024: a(2024, 400.0, 200.0, (600.0, 200.0, 1000.0)), 2026: a(2026, 400.0, 200.0)}
    s2 = {2024: a(2024, 400.0, 200.0), 2026: a(2026, 380.0, 150.0)}  # whole area, a canopy loss of 25 %
    decision = area_exclusion({"official": official, "sentinel-2": s2}, EXCLUDING)
    assert decision is not None and decision.excluded and decision.series == "official"
    assert evaluate_area(s2, EXCLUDING).state == "net-loss"  # on its own baseline: not excluded
    ev = evaluate_area(s2, EXCLUDING, decision)
    assert ev.state == "excluded" and ev.figures["exclusion"]["series"] == "official"
    assert ev.reasons[0] == ("excluded from the no-net-loss obligation (Art. 8(1)): in 2024 green space 60.00 % > "
                             f"45 % and tree canopy 20.00 % > 10 %; basis: {BASIS_UCC}, decided on the official series")
    # a Sentinel-2 series without a baseline of its own is still excluded: the decision is the area's
    assert evaluate_area({2026: s2[2026]}, EXCLUDING, decision).state == "excluded"
    # without UCC figures in the official baseline there is no shared decision
    assert area_exclusion({"official": {2024: a(2024, 400.0, 200.0)}, "sentinel-2": s2}, EXCLUDING) is None
    # through 2030 only
    later = {y: a(y, 400.0, 200.0) for y in (2024, 2030, 2031)}
    assert evaluate_area(later, EXCLUDING, decision).state != "excluded"


def test_national_totals_leave_the_excluded_area_out_on_every_series() -> None:
    ucc_excluded = a(2024, 400.0, 200.0, (600.0, 200.0, 1000.0))
    official = {"A": {2024: ucc_excluded, 2026: a(2026, 400.0, 200.0)},
                "B": {2024: a(2024, 300.0, 80.0, (300.0, 80.0, 1000.0)), 2026: a(2026, 300.0, 80.0)}}
    s2 = {"A": {2024: a(2024, 400.0, 200.0), 2026: a(2026, 300.0, 100.0)},   # A loses, but A is excluded
          "B": {2024: a(2024, 300.0, 80.0), 2026: a(2026, 300.0, 80.0)}}
    exclusions = {k: d for k in ("A", "B")
                  if (d := area_exclusion({"official": official[k], "sentinel-2": s2[k]}, EXCLUDING)) is not None}
    for series in (official, s2):
        ev = evaluate_national(series, EXCLUDING, exclusions)
        assert ev.figures["excluded_areas"] == ["A"] and ev.figures["areas"] == ["B"]
        assert ev.figures["exclusion_basis"] == {"A": "ucc"} and ev.state == "on-track"
        assert "totals over 1 areas; 1 excluded (1 on urban centres and clusters)" in ev.reasons
    # Sentinel-2 alone (whole area 40 %) would count A, and its loss would make a national net loss
    assert evaluate_national(s2, EXCLUDING).state == "net-loss"


def test_official_observations_carry_usable_ucc_figures_into_the_annual_value() -> None:
    row = obs("A", "2024-01-01", 400.0, 200.0, series="official")
    ucc = {"green_area_m2": 600.0, "canopy_area_m2": 200.0, "area_m2": 1000.0, "valid_fraction": 0.95, "usable": True}
    ann = annual_indicators([{**row, "ucc": ucc}], (5, 9), 2, series="official")[2024]
    assert (ann.ucc_green_m2, ann.ucc_canopy_m2, ann.ucc_area_m2) == (600.0, 200.0, 1000.0)
    assert Annual.from_doc(ann.to_doc()) == ann  # stored and read back by the trend service
    partial = annual_indicators([{**row, "ucc": {**ucc, "usable": False}}], (5, 9), 2, series="official")[2024]
    assert partial.ucc_area_m2 is None  # an incomplete UCC figure is no basis: the whole area decides
    assert annual_indicators([row], (5, 9), 2, series="official")[2024].ucc_area_m2 is None
