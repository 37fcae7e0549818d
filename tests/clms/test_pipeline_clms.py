"""End to end on the embedded bus, with real STAC API servers on 127.0.0.1: the official 2024 TCD layer
(and CLC+ 2023) set the baseline, Sentinel-2 scenes of 2024-2026 show the scripted canopy loss in
Nieuwegein from 2026, and an early-warning alert says 'sentinel-2 (calibrated)' as its basis."""

from __future__ import annotations

import json

import pytest

from greenwatch.services import topics
from greenwatch.services.clms.api import comparison_rows, comparison_text

from .conftest import NIEUWEGEIN, E2ERun

pytestmark = [pytest.mark.stac, pytest.mark.slow]  # one small pipeline run (~10 s) shared by the module


def test_clms_items_are_discovered_ingested_and_complete(e2e: E2ERun) -> None:
    assert e2e.report.published == 6 + 4 and e2e.report.dead_lettered == 0  # 6 S2 + 2 layers x 2 tiles
    clms = [d for d in e2e.app.ledger.list() if d["scene"]["product_kind"].startswith("clms-")]
    assert len(clms) == 4 and {d["state"] for d in clms} == {"complete"}
    assert {d["kernel_version"] for d in clms} == {"tcd-1.0.0+t10", "clcplus-1.0.0"}


def test_the_official_baseline_comes_from_both_tiles_and_agrees_with_the_truth(e2e: E2ERun) -> None:
    store = e2e.app.store
    tcd = store.get("official_layers", f"{NIEUWEGEIN}/tcd/2024")
    assert len(tcd["tiles"]) == 2  # Nieuwegein straddles the two delivered tiles
    assert tcd["covered_pixels"] == tcd["area_pixels"] and tcd["valid_fraction"] > 0.99
    obs = store.get("recon_obs", f"{NIEUWEGEIN}/official/2024-01-01")
    assert obs["usable"] and obs["series"] == "official"
    # the LAEA pixel area of the polygon is its true area within the boundary error (25.4 km2)
    assert obs["area_m2"] == pytest.approx(e2e.app.areas.geodesic_area_m2(e2e.app.areas.index(NIEUWEGEIN)), rel=0.002)
    # TCD is the truth's canopy, smoothed and scaled by 0.92 (sampledata.clms): within 1 point of that
    truth = e2e.truth.area_truth(e2e.truth.scenario.dates[0])[NIEUWEGEIN]
    assert obs["canopy_area_m2"] / obs["area_m2"] == pytest.approx(0.92 * truth.canopy_fraction, abs=0.01)


def test_calibrated_sentinel2_raises_the_early_warning(e2e: E2ERun) -> None:
    store = e2e.app.store
    doc = store.get("reconciliation", NIEUWEGEIN)
    assert doc["calibration"]["canopy"]["model"] == "offset" and doc["calibration"]["canopy"]["years"] == [2024]
    assert doc["basis"] == "sentinel-2 (calibrated)" and doc["latest_official_year"] == 2024
    warnings = {w["year"]: w for w in doc["early_warnings"]}
    assert not warnings[2025]["alert"] and abs(warnings[2025]["canopy_change_pct"]) < 10  # no change before 2026
    w = warnings[2026]
    official = store.get("recon_obs", f"{NIEUWEGEIN}/official/2024-01-01")
    assert w["baseline_canopy_m2"] == pytest.approx(official["canopy_area_m2"])  # the official layer is the baseline
    assert w["alert"] and w["canopy_change_pct"] < -25 and w["canopy_z"] < -2
    sent = [json.loads(r.value)["data"] for r in e2e.app.bus.read_all(topics.ALERTS)]
    calibrated = [a for a in sent if a["series"] == "sentinel-2 (calibrated)"]
    assert [(a["area_id"], a["alert_type"]) for a in calibrated] == [(NIEUWEGEIN, "canopy-loss")]
    assert "early warning" in calibrated[0]["message"] and "official 2024" in calibrated[0]["message"]
    assert list(store.scan("clms_outbox_pending")) == []  # acknowledged by the bus


def test_both_series_side_by_side(e2e: E2ERun) -> None:
    rows = [r for r in comparison_rows(e2e.app.store) if r["area_id"] == NIEUWEGEIN]
    assert [r["year"] for r in rows] == [2024, 2025, 2026]
    assert rows[0]["official_canopy_pct"] is not None and rows[0]["s2_canopy_pct"] is not None
    assert rows[0]["calibrated_canopy_pct"] == pytest.approx(rows[0]["official_canopy_pct"], abs=0.01)
    assert rows[2]["official_canopy_pct"] is None and rows[2]["calibrated_canopy_pct"] < rows[0]["official_canopy_pct"]
    text = comparison_text(rows)
    assert "Nieuwegein" in text and "sentinel-2 (calibrated)" in text
