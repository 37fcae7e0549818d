"""The router that shows both series, and the `greenwatch clms` commands (file listing ingest)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from greenwatch.services.cli import main
from greenwatch.services.clms.api import router
from greenwatch.services.sampledata.clms import write_geotiff

from .conftest import EAST, NIEUWEGEIN, RECTS, WEST, E2ERun, clcplus_tiles, tcd_tiles, write_areas


@pytest.mark.stac
@pytest.mark.slow
def test_the_router_shows_both_series_and_the_basis(e2e: E2ERun) -> None:
    api = FastAPI()
    api.include_router(router(e2e.app))
    client = TestClient(api)
    rows = client.get("/official").json()
    assert {r["area_id"] for r in rows} >= {NIEUWEGEIN}
    one = client.get(f"/areas/{NIEUWEGEIN}/official").json()
    assert one["basis"] == "sentinel-2 (calibrated)"
    assert one["state_series"] in ("official", "sentinel-2", "sentinel-2 (calibrated)")  # the trend's choice
    assert {(d["layer"], d["year"]) for d in one["official_layers"]} == {("tcd", 2024), ("clcplus", 2023)}
    assert one["reconciliation"]["calibration"]["canopy"]["model"] == "offset"
    alerts = client.get("/official/alerts", params={"area": NIEUWEGEIN}).json()
    assert [a["series"] for a in alerts] == ["sentinel-2 (calibrated)"]
    assert client.get("/areas/GM9999/official").status_code == 404
    assert "/areas/{area_id}/official" in client.get("/openapi.json").json()["paths"]


@pytest.mark.stac
@pytest.mark.slow
def test_clms_compare_prints_the_table(e2e: E2ERun, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "gw.toml"
    cfg.write_text(f'data_dir = "{e2e.app.settings.data_dir}"\n', encoding="utf-8")
    assert main(["--config", str(cfg), "clms", "compare"]) == 0
    out = capsys.readouterr().out
    assert "Nieuwegein" in out and "TCD %" in out
    assert main(["--config", str(cfg), "clms", "compare", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert any(r["area_id"] == NIEUWEGEIN and r["year"] == 2026 and r["calibrated_canopy_pct"] for r in rows)


def test_clms_ingest_from_a_file_listing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    write_areas(tmp_path / "areas.geojson", RECTS)
    tw, te = tcd_tiles()
    cw, ce = clcplus_tiles()
    files = {name: write_geotiff(tmp_path / f"{name}.tif", data, t, kind=kind)  # type: ignore[arg-type]
             for name, data, t, kind in (("tw", tw, WEST, "tcd"), ("te", te, EAST, "tcd"),
                                          ("cw", cw, WEST, "clcplus"), ("ce", ce, EAST, "clcplus"))}
    cfg = tmp_path / "gw.toml"
    cfg.write_text(
        f'data_dir = "{tmp_path / "var"}"\n[areas]\npath = "{tmp_path / "areas.geojson"}"\nid_property = "id"\n'
        f'name_property = "name"\nname = "golden"\n[metrics]\nenabled = false\n[clms]\nchunk = 64\n'
        f'[[clms.files]]\npath = "{files["cw"]}"\nproduct_kind = "clms-clcplus"\nyear = 2023\n'
        f'[[clms.files]]\npath = "{files["ce"]}"\nproduct_kind = "clms-clcplus"\nyear = 2023\n',
        encoding="utf-8")
    monkeypatch.delenv("GREENWATCH_CONFIG", raising=False)
    assert main(["--config", str(cfg), "clms", "ingest", str(files["tw"])]) == 2  # no --kind/--year
    assert "need --kind and --year" in capsys.readouterr().err
    assert main(["--config", str(cfg), "clms", "ingest", "--kind", "tcd", "--year", "2024",
                 str(files["tw"]), str(files["te"]), "--until-idle"]) == 0
    assert "published 4 CLMS scenes" in capsys.readouterr().out  # two listed in the config, two given
    assert main(["--config", str(cfg), "clms", "compare", "--json"]) == 0
    rows = {r["area_id"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert rows["A"]["official_canopy_pct"] == pytest.approx(round(100 * 7.40 / 18, 2))
    assert rows["B"]["official_green_pct"] == pytest.approx(100.0)
    assert rows["A"]["s2_canopy_pct"] is None and rows["A"]["basis"] == "official"
