"""Compliance rules (golden cases by hand) and the trend service's alert outbox."""

from __future__ import annotations

from pathlib import Path

from greenwatch.schemas import OBSERVATION, make_event
from greenwatch.services.store import SqliteStore
from greenwatch.services.trend import NATIONAL, Annual, Rules, TrendService, annual_indicators, evaluate, national

RULES = Rules()


def _obs(area: str, day: str, green: float, canopy: float, usable: bool = True) -> dict:
    return {"area_id": area, "date": day, "series": "sentinel-2", "green_area_m2": green, "canopy_area_m2": canopy,
            "water_area_m2": 0.0, "area_m2": 1000.0, "valid_fraction": 0.9 if usable else 0.1, "usable": usable,
            "n_products": 1, "kernel_version": "k", "scene_ids": [f"s-{area}-{day}"]}


def test_annual_indicator_is_the_median_of_usable_in_season_observations() -> None:
    obs = [_obs("A", "2024-05-02", 100, 10), _obs("A", "2024-06-02", 300, 30), _obs("A", "2024-07-02", 200, 20),
           _obs("A", "2024-01-10", 0, 0),  # out of season
           _obs("A", "2024-08-01", 0, 0, usable=False),
           _obs("A", "2025-06-01", 50, 5)]  # a single observation is not enough for a year
    ann = annual_indicators(obs, RULES)
    se = 1.2533 * 100 / 3**0.5  # standard error of the median of 100, 300, 200 (sd 100)
    assert ann.keys() == {2024}
    a = ann[2024]
    assert (a.green_m2, a.canopy_m2, a.n) == (200, 20, 3)
    assert abs(a.green_se - se) < 1e-9 and abs(a.canopy_se - se / 10) < 1e-9


def test_states_by_hand() -> None:
    base = Annual(2024, 1000.0, 200.0, 4)
    def state(green: float, canopy: float) -> str:
        return evaluate({2024: base, 2026: Annual(2026, green, canopy, 3)}, RULES)[0]
    assert state(1000, 200) == "on-track"
    assert state(995, 199) == "on-track"       # -0.5 %: within at_risk_pct 1 %
    assert state(980, 200) == "at-risk"        # -2 %
    assert state(1000, 190) == "net-loss"      # canopy -5 %
    assert state(1050, 150) == "net-loss"      # a green gain does not hide a canopy loss
    assert evaluate({2024: base}, RULES)[0] == "insufficient-data"
    # a 5 % loss within the noise (2 standard errors of the difference) is at-risk, not net-loss
    noisy = Annual(2024, 1000.0, 200.0, 4, green_se=30.0, canopy_se=6.0)
    assert evaluate({2024: noisy, 2026: Annual(2026, 1000, 190, 3, 0.0, 6.0)}, RULES)[0] == "at-risk"  # z -1.2
    assert evaluate({2024: noisy, 2026: Annual(2026, 1000, 180, 3, 0.0, 3.0)}, RULES)[0] == "net-loss"  # z -3.0
    assert evaluate({2025: base}, RULES)[0] == "insufficient-data"


def test_national_total_compensates_across_areas_over_the_same_areas() -> None:
    by_area = {
        "A": {2024: Annual(2024, 100, 50, 3), 2026: Annual(2026, 90, 40, 3)},    # loses 10 / 10
        "B": {2024: Annual(2024, 100, 50, 3), 2026: Annual(2026, 112, 61, 3)},   # gains 12 / 11
        "C": {2024: Annual(2024, 500, 100, 3)},                                  # no later year: left out
    }
    nat, n = national(by_area, RULES)
    assert n == 2
    assert nat[2024].green_m2 == 200 and nat[2026].green_m2 == 202
    state, figures, _, latest = evaluate(nat, RULES)
    assert (state, latest) == ("on-track", 2026)
    assert round(figures["canopy_change_pct"], 6) == 1.0


def test_trend_service_alerts_once_on_change_even_when_observations_come_twice(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    svc = TrendService(store=store, rules=RULES, area_names={"A": "Alpha"})
    days = ["2024-05-10", "2024-06-10", "2024-07-10", "2025-06-10", "2025-07-10", "2026-06-10", "2026-07-10"]
    canopy = {"2024": 200.0, "2025": 200.0, "2026": 150.0}
    alerts = []
    for _ in range(2):  # every observation delivered twice
        for d in days:
            ev = make_event(OBSERVATION, _obs("A", d, 1000.0, canopy[d[:4]]), source="t")
            out = svc.handle(ev)
            svc.after_flush()
            alerts += [o.event["data"] for o in out if o.topic == "alerts"]
    kinds = sorted((a["alert_type"], a.get("to_state")) for a in alerts)
    # insufficient-data -> on-track raises nothing; on-track -> net-loss and the canopy loss do, once,
    # for area A and for the national total
    assert kinds == [("canopy-loss", None), ("canopy-loss", None),
                     ("state-change", "net-loss"), ("state-change", "net-loss")]
    assert {a["area_id"] for a in alerts} == {"A", NATIONAL}
    assert store.get("states", "A")["state"] == "net-loss"


def test_a_pending_alert_is_sent_again_after_a_crash_before_the_flush(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    svc = TrendService(store=store, rules=RULES)
    for d, c in (("2024-05-10", 200.0), ("2024-06-10", 200.0), ("2026-06-10", 100.0)):
        out = svc.handle(make_event(OBSERVATION, _obs("A", d, 1000.0, c), source="t"))
        svc.after_flush()
    last = make_event(OBSERVATION, _obs("A", "2026-07-10", 1000.0, 100.0), source="t")
    out = svc.handle(last)  # crash: no after_flush, the input is redelivered
    first = sorted(o.event["id"] for o in out if o.topic == "alerts")
    assert first
    svc2 = TrendService(store=store, rules=RULES)
    out2 = svc2.handle(last)
    assert sorted(o.event["id"] for o in out2 if o.topic == "alerts") == first
    svc2.after_flush()
    assert [o for o in svc2.handle(last) if o.topic == "alerts"] == []
