"""The official series over the areas' urban centres and clusters (UCC): hand-built CLMS rasters, hand-counted
pixels. Three areas on one 10 x 6 px tile (chunks of 4 x 4 px, so an area spans several tasks):

    cols   0-1     2-4     5-7     8-9          TCD %  (rows 0-3 | rows 4-5)     CLC+ class
    rows 0-3: U(ucc) U       V       V(ucc)      50 | 0 | 80 | 20                 3 | 1 | 3 | 1 (6 in rows 0-1 cols 8-9)
    rows 4-5: N      N       V       V(ucc)      50 | 50 | 80 | 20                3 | 3 | 3 | 1

U: 20 px, its UCC part cols 0-1 = 8 px. V: cols 5-9 x rows 0-5 = 30 px, its UCC part cols 8-9 = 12 px.
N: 10 px, outside every UCC (empty part). Green = CLC+ 2-6, 8, 10; canopy = sum(TCD)/100 / valid.

    U whole: green 8/20 = 40 %, canopy 8 x 0.5 / 20 = 20 %  -> not excluded (40 % is not more than 45 %)
    U UCC:   green 8/8 = 100 %, canopy 0.5 = 50 %            -> excluded (only on the UCC)
    V whole: green (18 + 4)/30 = 73.3 %, canopy (18 x 0.8 + 12 x 0.2)/30 = 56 %  -> excluded on the whole area
    V UCC:   green 4/12 = 33.3 %, canopy 0.2 = 20 %          -> not excluded (the reverse)
    N whole: green 100 %, canopy 50 %; UCC: none             -> not excluded (no UCC shares to exceed)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from greenwatch.schemas import OBSERVATION, make_event
from greenwatch.services.app import App
from greenwatch.services.areas import load_ucc, ucc_parts
from greenwatch.services.clms import ClmsPlanner, ClmsTileWorker, OfficialSeries
from greenwatch.services.clms.wiring import clms_services
from greenwatch.services.config import AreaSettings, Settings
from greenwatch.services.errors import PermanentError
from greenwatch.services.ledger import Ledger
from greenwatch.services.store import SqliteStore
from greenwatch.services.trend import NATIONAL, Rules, TrendService, evaluate_national
from greenwatch.services.trend._exclusion import BASIS_UCC, BASIS_WHOLE, area_exclusion
from greenwatch.services.trend._service import _annual_from

from ..trend.conftest import obs as trend_obs
from .conftest import EAST, RECTS, WEST, X0, Y1, Chain, _ring, clcplus_tiles, tcd_tiles, write_areas

AREAS = {"U": (X0 + 3, X0 + 47, Y1 - 38, Y1 - 2), "V": (X0 + 52, X0 + 98, Y1 - 58, Y1 - 2),
         "N": (X0 + 3, X0 + 47, Y1 - 58, Y1 - 42)}
# UCC polygons reach beyond the areas: the intersection clips them (x -10..17 -> U's 3..17; 78..120 -> 78..98)
UCC = [(X0 - 10, X0 + 17, Y1 - 40, Y1 + 10), (X0 + 78, X0 + 120, Y1 - 70, Y1 + 10)]
RULES = Rules(exclusion=True, ucc_layer=True, min_observations_per_year=1)


def tcd() -> np.ndarray:
    t = np.zeros((6, 10), np.uint8)
    t[:, 0:2], t[:, 2:5], t[:, 5:8], t[:, 8:10] = 50, 0, 80, 20
    t[4:6, 2:5] = 50
    return t


def clcplus() -> np.ndarray:
    c = np.full((6, 10), 3, np.uint8)
    c[0:4, 2:5] = 1
    c[:, 8:10] = 1
    c[0:2, 8:10] = 6
    return c


def _chain(tmp_path: Path, rects: dict[str, tuple[float, float, float, float]],
           ucc_rects: list[tuple[float, float, float, float]]) -> Chain:
    areas = write_areas(tmp_path / "areas.geojson", rects)
    feats = [{"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [_ring(*r)]}}
             for r in ucc_rects]
    (tmp_path / "ucc.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    ucc = ucc_parts(areas, load_ucc(tmp_path / "ucc.geojson"))
    store = SqliteStore(tmp_path / "state.db")
    ledger = Ledger(store)
    return Chain(areas, store, ClmsPlanner(areas=areas, ledger=ledger, zarr_root=str(tmp_path / "zarr"), chunk=4),
                 ClmsTileWorker(areas=areas, ledger=ledger, ucc=ucc),
                 OfficialSeries(store=store, areas=areas, ucc=ucc), tmp_path)


@pytest.fixture
def ucc_chain(tmp_path: Path) -> Chain:
    return _chain(tmp_path, AREAS, UCC)


def _by_area(out: list) -> dict[str, dict]:
    return {o.key: o.event["data"] for o in out}


def test_the_worker_counts_each_window_again_over_the_ucc_parts(ucc_chain: Chain) -> None:
    tasks = ucc_chain.planner.handle(ucc_chain.tile("tcd24", "tcd", 2024, tcd(), WEST))
    results = [r.event["data"] for t in tasks for r in ucc_chain.worker.handle(t.event)]
    whole = [r for r in results if "part" not in r]
    ucc = [r for r in results if r.get("part") == "ucc"]
    # chunks of 4 x 4: rows 0-3 | 4-5, cols 0-3 | 4-7 | 8-9. U (cols 0-4, rows 0-3): 2 tasks, its UCC part
    # (cols 0-1) 1; V (cols 5-9, rows 0-5): 4 tasks, its part (cols 8-9) 2; N: 2 tasks, no part
    assert {r["area_id"]: r["area_tiles"] for r in whole} == {"U": 2, "V": 4, "N": 2}
    assert {r["area_id"]: r["area_tiles"] for r in ucc} == {"U": 1, "V": 2}
    assert sorted((r["area_id"], r["area_pixels"]) for r in ucc) == [("U", 8), ("V", 4), ("V", 8)]
    assert {r["area_set_version"] for r in ucc} == {ucc_chain.worker.ucc.version}  # type: ignore[union-attr]
    # in each task the UCC results come first (the official figure then completes with both parts at once)
    for t in tasks:
        parts = [r.event["data"].get("part") for r in ucc_chain.worker.handle(t.event)]
        assert parts == sorted(parts, key=lambda p: p is None)


def test_official_observations_carry_the_ucc_figures(ucc_chain: Chain) -> None:
    assert ucc_chain.run(ucc_chain.tile("tcd24", "tcd", 2024, tcd(), WEST)) == []  # no CLC+ yet
    out = _by_area(ucc_chain.run(ucc_chain.tile("clc23", "clcplus", 2023, clcplus(), WEST)))
    u, v, n = out["U"], out["V"], out["N"]
    # whole areas, as before: U 2000 m2, 800 green, 400 canopy; V 3000 m2, 2200 green, 1680 canopy
    assert (u["area_m2"], u["green_area_m2"], u["canopy_area_m2"]) == pytest.approx((2000.0, 800.0, 400.0))
    assert (v["area_m2"], v["green_area_m2"], v["canopy_area_m2"]) == pytest.approx((3000.0, 2200.0, 1680.0))
    # UCC parts: U 8 px = 800 m2, all green, canopy 0.5; V 12 px = 1200 m2, 4 green px, canopy 0.2
    assert u["ucc"] == pytest.approx({"green_area_m2": 800.0, "canopy_area_m2": 400.0, "area_m2": 800.0,
                                      "valid_fraction": 1.0, "usable": True})
    assert v["ucc"] == pytest.approx({"green_area_m2": 400.0, "canopy_area_m2": 240.0, "area_m2": 1200.0,
                                      "valid_fraction": 1.0, "usable": True})
    assert n["ucc"] == {"green_area_m2": 0.0, "canopy_area_m2": 0.0, "area_m2": 0.0, "valid_fraction": 1.0,
                        "usable": True}
    assert ucc_chain.store.get("official_ucc_layers", "V/tcd/2024")["covered_pixels"] == 12


def test_a_ucc_result_the_official_series_cannot_place_is_dead_lettered(ucc_chain: Chain, tmp_path: Path) -> None:
    tasks = ucc_chain.planner.handle(ucc_chain.tile("tcd24", "tcd", 2024, tcd(), WEST))
    result = next(r.event for r in ucc_chain.worker.handle(tasks[0].event) if r.event["data"].get("part"))
    plain = OfficialSeries(store=SqliteStore(tmp_path / "other.db"), areas=ucc_chain.areas)
    with pytest.raises(PermanentError, match="no urban centres and clusters layer is configured"):
        plain.handle(result)
    stale = {**result, "data": {**result["data"], "area_set_version": "golden+ucc@000000000000"}}
    with pytest.raises(PermanentError, match="golden\\+ucc@000000000000"):
        ucc_chain.official.handle(stale)


def _feed(svc: TrendService, rows: list[dict]) -> None:
    for row in rows:
        svc.handle(make_event(OBSERVATION, row, source="test"))
        svc.after_flush()


def test_the_exclusion_is_decided_on_the_ucc_for_every_series(ucc_chain: Chain) -> None:
    ucc_chain.run(ucc_chain.tile("clc23", "clcplus", 2023, clcplus(), WEST))
    official = [o.event["data"] for o in ucc_chain.run(ucc_chain.tile("tcd24", "tcd", 2024, tcd(), WEST))]
    later = tcd()
    later[:, 5:8] = 70  # 2026: V's canopy outside its UCC falls a little; U and N unchanged
    official += [o.event["data"] for o in ucc_chain.run(ucc_chain.tile("tcd26", "tcd", 2026, later, WEST))]
    assert len(official) == 6 and all("ucc" in o for o in official)
    # Sentinel-2 sees the whole areas only (same shares as the official layers here)
    whole = {"U": (800.0, 400.0, 2000.0), "V": (2200.0, 1680.0, 3000.0), "N": (1000.0, 500.0, 1000.0)}
    s2 = [trend_obs(a, f"{y}-06-15", g, c, area_m2=m) for a, (g, c, m) in whole.items() for y in (2024, 2026)]
    svc = TrendService(store=ucc_chain.store, rules=RULES)
    _feed(svc, s2 + official)
    states = {a: ucc_chain.store.get("states", a) for a in ("U", "V", "N", NATIONAL)}
    # U: excluded on the UCC (100 %, 50 %), on the official series AND on Sentinel-2 (whose whole-area
    # baseline alone, 40 % green, would not exclude it)
    u = states["U"]
    assert (u["state"], u["series"]) == ("excluded", "official")
    assert u["series_states"]["sentinel-2"]["state"] == "excluded"
    assert u["reasons"][0] == ("excluded from the no-net-loss obligation (Art. 8(1)): in 2024 green space 100.00 % > "
                               f"45 % and tree canopy 50.00 % > 10 %; basis: {BASIS_UCC}, decided on the official "
                               "series")
    assert u["figures"]["exclusion"]["basis_kind"] == "ucc" and u["figures"]["exclusion"]["area_m2"] == 800.0
    # V, the reverse: 73.3 % / 56 % over the whole area, 33.3 % / 20 % over its UCC -> not excluded anywhere
    v = states["V"]
    assert v["state"] != "excluded" and v["series_states"]["sentinel-2"]["state"] != "excluded"
    assert (f"not excluded (Art. 8(1)): in 2024 green space 33.33 % not more than 45 % and tree canopy 20.00 % > "
            f"10 %; basis: {BASIS_UCC}, decided on the official series") in v["reasons"]
    # N has no UCC: not excluded, and the reason says why
    assert states["N"]["state"] != "excluded"
    assert any("has no urban centres or clusters" in r for r in states["N"]["reasons"])
    # the national totals leave U out, and only U, on both series
    annual = {a: svc.store.get("annual", a) for a in ("U", "V", "N")}
    by_area = {a: _annual_from(doc) for a, doc in annual.items()}
    exclusions = {a: d for a, ann in by_area.items() if (d := area_exclusion(ann, RULES)) is not None}
    for series in ("official", "sentinel-2"):
        ev = evaluate_national({a: ann[series] for a, ann in by_area.items()}, RULES, exclusions)
        assert ev.figures["excluded_areas"] == ["U"] and ev.figures["areas"] == ["N", "V"], series
        assert "totals over 2 areas; 1 excluded (1 on urban centres and clusters)" in ev.reasons
    # without the shared decision, Sentinel-2 on its own whole-area baselines would exclude V and N instead
    alone = evaluate_national({a: ann["sentinel-2"] for a, ann in by_area.items()}, RULES)
    assert alone.figures["excluded_areas"] == ["N", "V"]
    nat = states[NATIONAL]
    assert nat["series"] == "official" and nat["figures"]["excluded_areas"] == ["U"]
    assert nat["figures"]["exclusion_basis"] == {"U": "ucc"}


def test_without_a_ucc_layer_the_basis_is_the_whole_area_and_says_so(tmp_path: Path) -> None:
    svc = TrendService(store=SqliteStore(tmp_path / "s.db"), rules=Rules(exclusion=True, min_observations_per_year=1))
    _feed(svc, [trend_obs("V", f"{y}-01-01", 2200.0, 1680.0, area_m2=3000.0, series="official") for y in (2024, 2026)])
    v = svc.store.get("states", "V")
    assert v["state"] == "excluded" and v["figures"]["exclusion"]["basis_kind"] == "whole-area"
    assert v["reasons"][0].endswith(f"basis: {BASIS_WHOLE}")


def test_a_ucc_part_across_two_tiles_is_usable_once_both_are_in(tmp_path: Path) -> None:
    # conftest's areas: B straddles the WEST and EAST tiles (cols 7-9 | 0-2, rows 1-5). A UCC polygon over
    # y -38..0 keeps B's rows 1-3: 3 x 3 px in each tile = 18 px; A (x 3..47) lies outside it (empty part)
    chain = _chain(tmp_path, RECTS, [(X0 + 60, X0 + 140, Y1 - 38, Y1)])
    (tw, te), (cw, ce) = tcd_tiles(), clcplus_tiles()
    chain.run(chain.tile("tcd_w", "tcd", 2024, tw, WEST))
    chain.run(chain.tile("tcd_e", "tcd", 2024, te, EAST))
    first = _by_area(chain.run(chain.tile("clc_w", "clcplus", 2023, cw, WEST)))
    # CLC+ from the west tile only: 9 of the part's 18 px covered -> kept, not usable
    assert first["B"]["ucc"]["usable"] is False and first["B"]["ucc"]["valid_fraction"] == pytest.approx(9 / 18)
    assert first["A"]["ucc"]["area_m2"] == 0.0
    b = _by_area(chain.run(chain.tile("clc_e", "clcplus", 2023, ce, EAST)))["B"]
    # TCD over the part: west rows 1-3 cols 7-9 at 40 % but (1,7) = 255 -> 8 valid, 3.2; east rows 1-3 cols 0-2 at
    # 80 % -> 9 valid, 7.2 -> 10.4 / 17 of 1800 m2. CLC+: west class 6, east class 3 -> all 18 green
    assert b["ucc"] == pytest.approx({"green_area_m2": 1800.0, "canopy_area_m2": 10.4 / 17 * 1800, "area_m2": 1800.0,
                                      "valid_fraction": 17 / 18, "usable": True})


def test_the_wiring_hands_the_ucc_parts_to_the_worker_and_the_official_series(tmp_path: Path) -> None:
    _chain(tmp_path, AREAS, UCC)  # writes areas.geojson and ucc.geojson
    app = App.build(Settings(data_dir=tmp_path / "var", areas=AreaSettings(
        path=str(tmp_path / "areas.geojson"), id_property="id", name_property="name", name="golden",
        urban_centres_path=str(tmp_path / "ucc.geojson"))))
    try:
        clms, official, _ = clms_services(app)
        worker = next(s for s in clms.services if isinstance(s, ClmsTileWorker))
        assert worker.ucc is app.ucc and official.ucc is app.ucc and app.ucc is not None
    finally:
        app.close()
