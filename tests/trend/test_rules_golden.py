"""Article 8 rules: golden cases computed by hand (the numbers in the comments are the hand working).

Annual values are in m2 of areas of 1000 m2, so shares are easy to read: 450 m2 is 45 %.
"""

from __future__ import annotations

import pytest

from greenwatch.services.trend import (
    Annual,
    Rules,
    annual_indicators,
    choose_series,
    evaluate_area,
    evaluate_national,
    is_excluded,
    national_totals,
)

from .conftest import obs

RULES = Rules()
EXCLUDING = Rules(exclusion=True)


def a(year: int, green: float, canopy: float, *, se: float = 0.0, area: float = 1000.0, n: int = 3) -> Annual:
    return Annual(year, green, canopy, n, se, se, area)


# -- exclusion: more than 45 % green space AND more than 10 % canopy -----------------------------------
@pytest.mark.parametrize(("green", "canopy", "excluded"), [
    (450.0, 100.0, False),     # exactly 45 % and exactly 10 %: not MORE than -> not excluded
    (450.0, 101.0, False),     # exactly 45 % green: one condition fails
    (451.0, 100.0, False),     # exactly 10 % canopy: one condition fails
    (451.0, 101.0, True),      # 45.1 % and 10.1 %: both more -> excluded
    (900.0, 50.0, False),      # very green, little canopy: both conditions are needed
])
def test_exclusion_at_exactly_45_and_10_percent(green: float, canopy: float, excluded: bool) -> None:
    base = a(2024, green, canopy)
    assert is_excluded(base, EXCLUDING) is excluded
    assert is_excluded(base, RULES) is False, "the exclusion is optional and off by default"
    ev = evaluate_area({2024: base, 2026: a(2026, green, canopy)}, EXCLUDING)
    assert (ev.state == "excluded") is excluded
    assert ev.figures["excluded"] is excluded
    # an area of 2000 m2 with 900 m2 green (45 %) and 200 m2 canopy (10 %): shares computed without rounding
    assert is_excluded(a(2024, 900.0, 200.0, area=2000.0), EXCLUDING) is False


def test_exclusion_applies_only_through_2030() -> None:
    very_green = {y: a(y, 600.0, 300.0) for y in range(2024, 2032)}
    assert evaluate_area({y: v for y, v in very_green.items() if y <= 2030}, EXCLUDING).state == "excluded"
    after = evaluate_area(very_green, EXCLUDING)
    assert after.regime == "increasing-trend" and after.state != "excluded"


# -- compensation across areas (through 2030) ------------------------------------------------------
def test_compensation_across_areas_with_each_contribution() -> None:
    by_area = {
        "A": {2024: a(2024, 100, 50), 2026: a(2026, 90, 40)},       # loses 10 m2 green, 10 m2 canopy
        "B": {2024: a(2024, 100, 50), 2026: a(2026, 112, 61)},      # gains 12 and 11
        "C": {2024: a(2024, 500, 100)},                             # no 2026 value: left out of both years
    }
    # by default 2026 waits for C (2 of 3 areas so far): nothing after the baseline is complete yet
    waiting = evaluate_national(by_area, RULES)
    assert (waiting.state, waiting.latest_year) == ("insufficient-data", None)
    assert "2026: 2 of 3 areas so far; no complete year after 2024 yet" in waiting.reasons
    ev = evaluate_national(by_area, Rules(national_min_area_fraction=0.5))  # 2 of 3 >= 1.5: 2026 is judged
    # totals over A and B: green 200 -> 202 (+1.0 %), canopy 100 -> 101 (+1.0 %): no net loss
    assert (ev.state, ev.regime, ev.latest_year) == ("on-track", "no-net-loss", 2026)
    assert ev.figures["baseline_green_m2"] == 200 and ev.figures["latest_green_m2"] == 202
    assert ev.figures["green_change_pct"] == pytest.approx(1.0)
    assert ev.figures["canopy_change_pct"] == pytest.approx(1.0)
    assert (ev.figures["areas"], ev.figures["left_out_areas"]) == (["A", "B"], ["C"])
    contrib = {c["area_id"]: c for c in ev.figures["contributions"]}
    assert (contrib["A"]["green_change_m2"], contrib["A"]["canopy_change_m2"]) == (-10, -10)
    assert (contrib["B"]["green_change_m2"], contrib["B"]["canopy_change_m2"]) == (12, 11)
    # area A on its own: -10 % green and -20 % canopy, no noise (z -inf) -> its contribution is a net loss
    own = evaluate_area(by_area["A"], RULES)
    assert own.state == "net-loss" and all(r.startswith("contribution to the national total") for r in own.reasons)


def test_an_excluded_area_cannot_compensate() -> None:
    # B (150 m2): green 100/150 = 66.7 % > 45 %, canopy 50/150 = 33.3 % > 10 % -> excluded; A alone: -10 %
    by_area = {"A": {2024: a(2024, 100, 50), 2026: a(2026, 90, 40)},
               "B": {2024: a(2024, 100, 50, area=150.0), 2026: a(2026, 112, 61, area=150.0)}}
    assert evaluate_national(by_area, RULES).state == "on-track"
    ev = evaluate_national(by_area, EXCLUDING)
    assert ev.state == "net-loss" and ev.figures["excluded_areas"] == ["B"] and ev.figures["n_areas"] == 1


def test_at_risk_and_net_loss_thresholds_with_noise() -> None:
    base = a(2024, 1000.0, 200.0)
    def state(green: float, canopy: float, se: float = 0.0) -> str:
        return evaluate_area({2024: base, 2026: a(2026, green, canopy, se=se)}, RULES).state
    assert state(1000, 200) == "on-track"
    assert state(995, 199) == "on-track"       # -0.5 %: within at_risk_pct 1 %
    assert state(980, 200) == "at-risk"        # -2 %, z -inf
    assert state(1000, 190) == "net-loss"      # canopy -5 %, z -inf
    assert state(1050, 150) == "net-loss"      # a green gain does not hide a canopy loss
    # canopy -5 % (-10 m2) with SE 6 m2 in 2026 only: z = -10/6 = -1.67: beyond 1 SE, not 2 -> at-risk
    assert state(1000, 190, se=6.0) == "at-risk"
    # -2 % green (-20 m2) with SE 30: z -0.67, within one SE of noise -> on-track
    assert state(980, 200, se=30.0) == "on-track"


# -- the 2030 -> 2031 switch --------------------------------------------------------------------------
def test_switch_from_no_net_loss_to_increasing_trend() -> None:
    canopy = {2024: 1000, 2025: 990, 2026: 980, 2027: 975, 2028: 972, 2029: 971, 2030: 1000, 2031: 1001}
    series = {y: a(y, 600.0, c) for y, c in canopy.items()}
    upto = lambda last: {y: v for y, v in series.items() if y <= last}  # noqa: E731
    # 2029: canopy 971 vs 1000 = -2.9 % (z -inf): beyond 1 %, within 3 % -> at-risk, no-net-loss regime
    ev = evaluate_area(upto(2029), RULES)
    assert (ev.state, ev.regime) == ("at-risk", "no-net-loss")
    # 2030: back to 1000 -> no net loss
    assert evaluate_area(upto(2030), RULES).state == "on-track"
    # 2031: the increasing-trend regime. No six-yearly measurement before 2036; the early warning on
    # 2024..2031: S = -3 (ties 1000 x2), Var = 1158/18, Z = -2/8.02 = -0.25, p 0.80 -> no trend -> on-track
    ev = evaluate_area(series, RULES)
    assert (ev.state, ev.regime, ev.latest_year) == ("on-track", "increasing-trend", 2031)
    mk = ev.figures["trend"]["canopy"]["early_warning"]
    assert (mk["s"], mk["n_years"], mk["trend"]) == (-3, 8, "no trend") and mk["p"] == pytest.approx(0.803, abs=1e-3)
    assert any("first six-yearly measurement due in 2036" in r for r in ev.reasons)


def test_a_slow_decline_is_fine_in_2030_and_an_early_warning_in_2031() -> None:
    # canopy falls 0.5 m2 a year from 1000: 2030 = 997 (-0.3 %, within 1 %) -> on-track;
    # 2031 = 996.5: 8 strictly falling values, S = -28, p = 0.00084 < 0.05 -> decreasing -> at-risk
    series = {y: a(y, 600.0, 1000 - 0.5 * (y - 2024)) for y in range(2024, 2032)}
    assert evaluate_area({y: v for y, v in series.items() if y <= 2030}, RULES).state == "on-track"
    ev = evaluate_area(series, RULES)
    assert ev.state == "at-risk" and ev.figures["trend"]["canopy"]["early_warning"]["trend"] == "decreasing"
    assert ev.figures["trend"]["canopy"]["early_warning"]["slope_m2_per_year"] == pytest.approx(-0.5)
    # the same decline in green space is only an early warning per area, canopy flat -> still at-risk, not worse
    green_only = {y: a(y, 600 - 0.5 * (y - 2024), 100.0) for y in range(2024, 2032)}
    assert evaluate_area(green_only, RULES).state == "at-risk"


@pytest.mark.parametrize(("c2036", "state"), [(1010.0, "on-track"), (1000.0, "at-risk"), (950.0, "net-loss")])
def test_six_yearly_measurement_2030_to_2036(c2036: float, state: str) -> None:
    # only 2024, 2030 and 2036 (too few years for the early warning): 1010 > 1000 increasing; equal: no
    # increasing trend; 950 = -5 % with z -inf: decreasing beyond net_loss_pct -> net-loss
    series = {2024: a(2024, 600, 1000), 2030: a(2030, 600, 1000), 2036: a(2036, 600, c2036)}
    ev = evaluate_area(series, RULES)
    assert (ev.state, ev.regime) == (state, "increasing-trend")
    six = ev.figures["trend"]["canopy"]["six_yearly"]
    assert (six["from_year"], six["to_year"]) == (2030, 2036)
    assert six["change_pct"] == pytest.approx((c2036 - 1000) / 10)


def test_national_green_space_is_the_legal_indicator_from_2031() -> None:
    # A loses green, B gains more: the national total rises 2030 -> 2036; A's canopy is flat (not increasing)
    by_area = {
        "A": {2024: a(2024, 500, 100), 2030: a(2030, 500, 100), 2036: a(2036, 490, 100)},
        "B": {2024: a(2024, 500, 100), 2030: a(2030, 500, 100), 2036: a(2036, 520, 110)},
    }
    ev = evaluate_national(by_area, RULES)
    assert (ev.state, ev.regime) == ("on-track", "increasing-trend")
    assert ev.figures["trend"]["green"]["six_yearly"]["change_pct"] == pytest.approx(1.0)  # 1000 -> 1010
    assert ev.figures["areas_canopy_not_increasing"] == ["A"]
    assert evaluate_area(by_area["A"], RULES).state == "at-risk"  # A's own canopy obligation fails


def test_satisfactory_level_ends_the_trend_obligation() -> None:
    series = {2024: a(2024, 600, 300), 2030: a(2030, 600, 300), 2036: a(2036, 600, 299)}  # 29.9 % canopy
    assert evaluate_area(series, RULES).state == "at-risk"  # no increase, and no level configured
    met = evaluate_area(series, Rules(satisfactory_canopy_pct=25.0))
    assert met.state == "on-track" and "satisfactory level 25 %" in met.reasons[0]
    assert evaluate_area(series, Rules(satisfactory_canopy_pct=30.0)).state == "at-risk"  # 29.9 < 30


# -- insufficient data ---------------------------------------------------------------------------------
def test_insufficient_data_cases() -> None:
    ev = evaluate_area({2025: a(2025, 1, 1), 2026: a(2026, 1, 1)}, RULES)
    assert (ev.state, ev.reasons) == ("insufficient-data", ["no usable 2024 baseline"])
    ev = evaluate_area({2024: a(2024, 1, 1)}, RULES)
    assert (ev.state, ev.reasons, ev.latest_year) == ("insufficient-data", ["no usable year after 2024"], None)
    # 2036 is due but 2030 has no value, and only 2 annual values for the early warning (needs 5)
    ev = evaluate_area({2024: a(2024, 600, 100), 2036: a(2036, 600, 120)}, RULES)
    assert ev.state == "insufficient-data"
    assert any("six-yearly measurement year 2030" in r for r in ev.reasons)
    # 2031 with only 3 annual values: neither a six-yearly measurement nor an early warning
    ev = evaluate_area({2024: a(2024, 600, 100), 2030: a(2030, 600, 100), 2031: a(2031, 600, 100)}, RULES)
    assert ev.state == "insufficient-data" and any("early warning needs 5" in r for r in ev.reasons)
    assert evaluate_national({}, RULES).state == "insufficient-data"
    assert national_totals({"A": {2024: a(2024, 1, 1)}}, RULES)[1]["n_areas"] == 1


def test_annual_indicator_needs_usable_in_season_observations() -> None:
    rows = [obs("A", "2024-05-02", 100, 10), obs("A", "2024-06-02", 300, 30), obs("A", "2024-07-02", 200, 20),
            obs("A", "2024-01-10", 0, 0),                 # out of season (May..September)
            obs("A", "2024-08-01", 0, 0, usable=False),   # kept, but unusable
            obs("A", "2025-06-01", 50, 5)]                # one observation is not enough for a year
    ann = annual_indicators(rows, (5, 9), 2)
    assert ann.keys() == {2024}
    assert (ann[2024].green_m2, ann[2024].canopy_m2, ann[2024].n) == (200, 20, 3)
    assert ann[2024].green_share_pct == pytest.approx(20.0) and ann[2024].green_se > 0
    # official layers: one per reference year, dated 1 January, any month counts
    official = annual_indicators([obs("A", "2024-01-01", 400, 150, series="official")], (5, 9), 2, series="official")
    assert official[2024].n == 1 and official[2024].canopy_m2 == 150
    # a winter season window (November..February) wraps the year end
    assert annual_indicators(rows, (11, 2), 1).keys() == {2024}


def test_the_official_series_is_chosen_when_it_can_be_judged() -> None:
    s2 = evaluate_area({2024: a(2024, 500, 100), 2026: a(2026, 500, 90)}, RULES)           # net-loss
    official_base = evaluate_area({2024: a(2024, 480, 110)}, RULES)                          # no later year
    official = evaluate_area({2024: a(2024, 480, 110), 2026: a(2026, 480, 110)}, RULES)     # on-track
    official_2021 = evaluate_area({2021: a(2021, 480, 110)}, RULES)                          # no baseline
    assert choose_series({"sentinel-2": s2}, RULES) == "sentinel-2"
    assert choose_series({"sentinel-2": s2, "official": official_2021}, RULES) == "sentinel-2"
    assert choose_series({"sentinel-2": s2, "official": official_base}, RULES) == "sentinel-2"
    assert choose_series({"sentinel-2": s2, "official": official}, RULES) == "official"
    assert choose_series({"official": official_base}, RULES) == "official"
    assert choose_series({"official": official_2021, "sentinel-2": official_2021}, RULES) == "official"
    assert choose_series({"sentinel-2": s2, "official": official},
                         Rules(series_priority=("sentinel-2", "official"))) == "sentinel-2"
