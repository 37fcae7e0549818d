"""Reconciliation as pure functions (golden numbers worked out by hand), and the reconciler service's
alert outbox (raised once, sent until acknowledged)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from greenwatch.schemas import OBSERVATION, make_event
from greenwatch.services.clms import Annual, Reconciler, Thresholds, calibrate, reconcile
from greenwatch.services.clms.reconcile import annual_shares
from greenwatch.services.store import SqliteStore


def test_one_overlapping_year_gives_an_offset_with_propagated_uncertainty() -> None:
    cal = calibrate({2024: (Annual(0.20, 0.01), 0.16)})
    # a = 0.16 - 0.20 = -0.04, b = 1; var a = se^2 = 1e-4
    assert cal.model == "offset" and cal.years == (2024,)
    assert cal.a == pytest.approx(-0.04) and cal.b == 1.0 and cal.var_a == pytest.approx(1e-4)
    est = cal.apply(Annual(0.10, 0.01))
    # 0.10 - 0.04 = 0.06: the Sentinel-2 change in points (-0.10) kept; var = 1e-4 + 1e-4
    assert est.share == pytest.approx(0.06) and est.se == pytest.approx(2e-4**0.5)
    assert cal.apply(Annual(0.03, 0.01)).share == 0.0  # never below nothing


def test_two_years_add_the_scatter_of_the_offset() -> None:
    cal = calibrate({2024: (Annual(0.20, 0.01), 0.16), 2025: (Annual(0.25, 0.01), 0.20)})
    # differences -0.04 and -0.05: a = -0.045, residual sd = sqrt(2 x 0.005^2 / 1) = 0.0070711
    # var a = (1e-4 + 1e-4) / 4 + 0.0070711^2 / 2 = 5e-5 + 2.5e-5 = 7.5e-5
    assert cal.a == pytest.approx(-0.045) and cal.residual_sd == pytest.approx(0.0070711, rel=1e-4)
    assert cal.var_a == pytest.approx(7.5e-5)
    est = cal.apply(Annual(0.18, 0.01))
    # 0.18 - 0.045 = 0.135; var = 1e-4 + 7.5e-5 + 5e-5 = 2.25e-4
    assert est.share == pytest.approx(0.135) and est.se == pytest.approx(0.015)


def test_one_overlapping_year_gives_a_ratio_with_propagated_uncertainty() -> None:
    cal = calibrate({2024: (Annual(0.20, 0.01), 0.16)}, "ratio")
    # b = 0.16 / 0.20 = 0.8; var b = b^2 se^2 / x^2 = 0.64 x 1e-4 / 0.04 = 0.0016
    assert cal.model == "ratio" and cal.years == (2024,)
    assert cal.b == pytest.approx(0.8) and cal.a == 0.0
    assert cal.var_b == pytest.approx(0.0016)
    assert cal.residual_sd is None  # one year: no scatter to measure
    est = cal.apply(Annual(0.10, 0.01))
    # 0.8 x 0.10 = 0.08; var = b^2 se^2 + x^2 var b = 6.4e-5 + 1.6e-5 = 8e-5
    assert est.share == pytest.approx(0.08)
    assert est.se == pytest.approx(8e-5**0.5)


def test_two_years_add_the_scatter_of_the_ratio() -> None:
    cal = calibrate({2024: (Annual(0.20, 0.01), 0.16), 2025: (Annual(0.25, 0.01), 0.21)}, "ratio")
    # b = 0.37 / 0.45 = 0.82222; residuals -/+0.0044444 -> s = 0.0062854 (n - 1 = 1 dof)
    # var b = b^2 (2 x 1e-4) / 0.45^2 + 2 s^2 / 0.45^2 = 0.00105789
    assert cal.model == "ratio"
    assert cal.b == pytest.approx(0.822222, rel=1e-5)
    assert cal.residual_sd == pytest.approx(0.0062854, rel=1e-4)
    assert cal.var_b == pytest.approx(0.00105789, rel=1e-4)
    est = cal.apply(Annual(0.18, 0.01))
    assert est.share == pytest.approx(0.148, rel=1e-5)
    assert est.se == pytest.approx(0.0118906, rel=1e-4)


def test_four_years_with_a_clear_slope_give_a_linear_fit() -> None:
    xs = np.array([0.10, 0.15, 0.20, 0.25, 0.30])
    ys = 0.02 + 0.9 * xs + np.array([0.001, -0.001, 0.0, 0.001, -0.001])
    cal = calibrate({2020 + i: (Annual(float(x), 0.0), float(y)) for i, (x, y) in enumerate(zip(xs, ys, strict=True))})
    b, a = np.polyfit(xs, ys, 1)  # an independent least-squares fit
    assert cal.model == "linear"
    assert cal.b == pytest.approx(b) and cal.a == pytest.approx(a)
    resid = ys - (a + b * xs)
    s2 = float(resid @ resid) / 3
    x0 = 0.22
    pred_var = s2 * (1 + 1 / 5 + (x0 - xs.mean()) ** 2 / float(((xs - xs.mean()) ** 2).sum()))  # textbook
    est = cal.apply(Annual(x0, 0.0))
    assert est.share == pytest.approx(a + b * x0)
    assert est.se == pytest.approx(pred_var**0.5)


def test_an_undetermined_slope_falls_back_to_the_ratio() -> None:
    pairs = {2020: (Annual(0.200), 0.17), 2021: (Annual(0.201), 0.15), 2022: (Annual(0.199), 0.16),
             2023: (Annual(0.2005), 0.18)}
    assert calibrate(pairs).model == "offset" and calibrate(pairs, "ratio").model == "ratio"
    assert calibrate({}).model == "none" and calibrate({}).apply(Annual(0.2)) is None


TH = Thresholds(baseline_year=2024, canopy_loss_alert_pct=10.0, z_net_loss=2.0, calibration="ratio")
OFFSET = Thresholds(baseline_year=2024, canopy_loss_alert_pct=10.0, z_net_loss=2.0)


def _s2(**years: tuple[float, float]) -> dict[str, dict[int, Annual]]:
    canopy = {int(y[1:]): Annual(v, se, 4) for y, (v, se) in years.items()}
    return {"canopy": canopy, "green": {y: Annual(0.5, 0.01, 4) for y in canopy}}


def test_calibrated_loss_after_the_official_baseline_raises_an_early_warning() -> None:
    s2 = _s2(y2024=(0.20, 0.005), y2025=(0.198, 0.005), y2026=(0.10, 0.005))
    official = {"canopy": {2024: 0.16}, "green": {2024: 0.45}}
    doc = reconcile("GM1", s2, official, 1_000_000.0, TH)
    assert doc["latest_official_year"] == 2024 and doc["basis"] == "sentinel-2 (calibrated)"
    w25, w26 = doc["early_warnings"]
    # 2025: 0.8 x 0.198 = 0.1584, -1 %: no alert
    assert w25["year"] == 2025 and w25["canopy_change_pct"] == pytest.approx(-1.0) and not w25["alert"]
    # 2026: 0.8 x 0.10 = 0.08, -50 %; var b = 0.64 x 2.5e-5 / 0.04 = 4e-4, var = 1.6e-5 + 0.01 x 4e-4 = 2e-5
    assert w26["canopy_change_pct"] == pytest.approx(-50.0)
    assert w26["latest_canopy_m2"] == pytest.approx(80_000.0) and w26["baseline_canopy_m2"] == pytest.approx(160_000)
    assert w26["canopy_se_m2"] == pytest.approx(2e-5**0.5 * 1e6)
    assert w26["canopy_z"] == pytest.approx(-0.08 / 2e-5**0.5, abs=0.01)
    assert w26["alert"] and w26["series"] == "sentinel-2 (calibrated)" and w26["calibration_years"] == [2024]
    row = next(r for r in doc["years"] if r["year"] == 2024)
    assert row["canopy_diff_pp"] == pytest.approx(4.0)  # 20 % - 16 %
    assert row["green_diff_pp"] == pytest.approx(5.0)  # 50 % - 45 %
    assert row["calibrated_canopy_share"] == pytest.approx(0.16)


def test_the_offset_model_keeps_the_loss_in_points() -> None:
    s2 = _s2(y2024=(0.30, 0.005), y2026=(0.20, 0.005))  # Sentinel-2 sees 14 points more canopy than TCD
    (w,) = reconcile("GM1", s2, {"canopy": {2024: 0.16}, "green": {2024: 0.45}}, 1e6, OFFSET)["early_warnings"]
    # 0.20 - 0.14 = 0.06 against 0.16: -62.5 % (the ratio model would say 0.20 x 0.16 / 0.30: -33.3 %)
    assert w["calibration"] == "offset" and w["canopy_change_pct"] == pytest.approx(-62.5)
    assert w["canopy_se_m2"] == pytest.approx((2 * 0.005**2) ** 0.5 * 1e6) and w["alert"]


def test_a_loss_within_its_uncertainty_raises_nothing() -> None:
    s2 = _s2(y2024=(0.20, 0.05), y2026=(0.10, 0.05))  # se 0.0447: z = -0.08 / 0.0447 = -1.8
    doc = reconcile("GM1", s2, {"canopy": {2024: 0.16}, "green": {2024: 0.45}}, 1e6, TH)
    (w,) = doc["early_warnings"]
    assert w["canopy_change_pct"] == pytest.approx(-50.0) and w["canopy_z"] == pytest.approx(-1.79, abs=0.01)
    assert not w["alert"]


def test_no_early_warning_without_an_official_baseline_or_once_the_official_layer_exists() -> None:
    s2 = _s2(y2023=(0.20, 0.005), y2024=(0.20, 0.005), y2026=(0.10, 0.005))
    assert reconcile("GM1", s2, {"canopy": {2023: 0.16}, "green": {2023: 0.4}}, 1e6, TH)["early_warnings"] == []
    doc = reconcile("GM1", s2, {"canopy": {2024: 0.16, 2026: 0.07}, "green": {2024: 0.4, 2026: 0.4}}, 1e6, TH)
    assert doc["early_warnings"] == [] and doc["basis"] == "official"


def _o(day: str, canopy: float, usable: bool = True, series: str = "sentinel-2") -> dict:
    return {"area_id": "GM1", "date": day, "series": series, "green_area_m2": 500.0, "canopy_area_m2": canopy,
            "water_area_m2": 0.0, "area_m2": 1000.0, "valid_fraction": 0.9 if usable else 0.1, "usable": usable,
            "n_products": 1, "kernel_version": "k", "scene_ids": [day]}


def test_annual_shares_are_medians_of_usable_in_season_observations() -> None:
    obs = [_o("2024-05-10", 200.0), _o("2024-06-10", 220.0), _o("2024-07-10", 260.0),
           _o("2024-01-10", 900.0),  # out of season (May-September)
           _o("2024-08-10", 10.0, usable=False),  # cloudy
           _o("2025-06-10", 100.0)]  # one observation is not enough for a year
    got = annual_shares(obs, TH)
    assert list(got["canopy"]) == [2024]
    a = got["canopy"][2024]
    assert a.share == pytest.approx(0.22) and a.n == 3
    assert a.se == pytest.approx(1.2533 * float(np.std([0.2, 0.22, 0.26], ddof=1)) / 3**0.5)


def test_the_reconciler_raises_each_early_warning_once(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    rec = Reconciler(store=store, thresholds=TH, area_names={"GM1": "Gemeente"})
    obs = [_o("2024-06-01", 200.0), _o("2024-07-01", 202.0), _o("2026-06-01", 100.0), _o("2026-07-01", 98.0),
           _o("2024-01-01", 160.0, series="official")]
    sent = []
    for o in obs:
        sent += rec.handle(make_event(OBSERVATION, o, source="test", subject="GM1"))
    (alert,) = [s.event["data"] for s in sent]
    assert alert["series"] == "sentinel-2 (calibrated)" and alert["alert_type"] == "canopy-loss"
    assert "early warning" in alert["message"] and "Gemeente (GM1)" in alert["message"]
    # medians 0.201 (2024) and 0.099 (2026); b = 0.16 / 0.201; 0.099 b / 0.16 - 1 = 0.099 / 0.201 - 1 = -50.75 %
    assert alert["figures"]["canopy_change_pct"] == pytest.approx(-50.746, abs=0.001)
    again = rec.handle(make_event(OBSERVATION, obs[-1], source="test", subject="GM1"))
    assert again == []  # not acknowledged yet, but already handed out in this batch
    rec.after_flush()
    assert list(store.scan("clms_outbox_pending")) == []
    assert rec.handle(make_event(OBSERVATION, obs[0], source="test", subject="GM1")) == []  # never twice
    doc = store.get("reconciliation", "GM1")
    assert doc["area_name"] == "Gemeente" and doc["calibration"]["canopy"]["model"] == "ratio"


def test_a_pending_alert_is_sent_again_after_a_crash(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    obs = [_o("2024-06-01", 200.0), _o("2024-07-01", 202.0), _o("2026-06-01", 100.0), _o("2026-07-01", 98.0),
           _o("2024-01-01", 160.0, series="official")]
    first = Reconciler(store=store, thresholds=TH)
    sent = [o for ob in obs for o in first.handle(make_event(OBSERVATION, ob, source="test", subject="GM1"))]
    assert len(sent) == 1  # the process dies before after_flush: the alert stays pending
    restarted = Reconciler(store=store, thresholds=TH)
    again = restarted.handle(make_event(OBSERVATION, obs[-1], source="test", subject="GM1"))
    assert [o.event["id"] for o in again] == [sent[0].event["id"]]  # same id: subscribers drop the copy
