"""Golden per-area figures for hand-built rasters: partial pixels at area borders (pixel-centre rule),
no-data values, an area straddling two product tiles. Every expected number is worked out by hand
in the comments from the arrays in conftest.py."""

from __future__ import annotations

import pytest

from greenwatch.services.clms import area_pixels_on_lattice, official_date

from .conftest import EAST, WEST, Chain, clcplus_tiles, tcd_tiles


def _obs(out: list, area: str) -> dict:
    found = [o.event["data"] for o in out if o.key == area]
    assert len(found) == 1, found
    return found[0]


def test_area_pixels_on_the_lattice_follow_the_pixel_centre_rule(chain: Chain) -> None:
    # A: cols 0-4 (centres 5..45 m within 3..47 m) x rows 0-3 (centres -5..-35 within -43..-2) = 20
    # B: 6 cols x 5 rows = 30
    assert area_pixels_on_lattice(chain.areas, chain.areas.index("A")) == 20
    assert area_pixels_on_lattice(chain.areas, chain.areas.index("B")) == 30


def test_tcd_canopy_with_no_data_and_partial_border_pixels(chain: Chain) -> None:
    west, _ = tcd_tiles()
    assert chain.run(chain.tile("tcd_w", "tcd", 2024, west, WEST)) == []  # no CLC+ yet: no observation
    layer = chain.store.get("official_layers", "A/tcd/2024")
    assert layer is not None
    # A: 20 px; 255 at (0,0) and 254 at (1,1) invalid -> 18 valid; values 16 x 40 + 100 + 0 = 740 %
    assert layer["valid"] == 18
    assert layer["covered_pixels"] == layer["area_pixels"] == 20
    assert layer["canopy_m2_valid"] == pytest.approx(740.0)  # sum(TCD)/100 x 100 m2
    assert layer["canopy_share"] == pytest.approx(7.40 / 18)
    assert layer["valid_fraction"] == pytest.approx(0.9)
    # TREE = TCD >= 10 %: the 16 pixels at 40 and the one at 100; the 0 % pixel is not tree
    assert layer["class_counts"] == {"invalid": 2, "water": 0, "tree": 17, "other_green": 0, "not_green": 1}


def test_an_area_straddling_two_tiles_gets_its_pixels_from_both(chain: Chain) -> None:
    west, east = tcd_tiles()
    chain.run(chain.tile("tcd_w", "tcd", 2024, west, WEST))
    first = chain.store.get("official_layers", "B/tcd/2024")
    # only the west tile: 15 of B's 30 px covered, (1,7) = 255 -> 14 valid at 40 %
    assert first["covered_pixels"] == 15 and first["valid"] == 14
    assert first["valid_fraction"] == pytest.approx(14 / 30)
    chain.run(chain.tile("tcd_e", "tcd", 2024, east, EAST))
    both = chain.store.get("official_layers", "B/tcd/2024")
    # + east: 15 px at 80 %, (5,2) = 254 -> 14 valid; total 28 valid, 14 x 40 + 14 x 80 = 1680 %
    assert both["covered_pixels"] == 30 and both["valid"] == 28
    assert both["canopy_m2_valid"] == pytest.approx(1680.0)
    assert both["canopy_share"] == pytest.approx(16.8 / 28)  # 0.6
    # tiles named by their origin when the id has no EEA tile code
    assert both["tiles"] == ["X4000000Y3200000", "X4000100Y3200000"]
    assert both["scene_ids"] == ["tcd_e", "tcd_w"]


def test_official_observations_combine_tcd_and_the_nearest_clcplus_vintage(chain: Chain) -> None:
    tw, te = tcd_tiles()
    cw, ce = clcplus_tiles()
    chain.run(chain.tile("tcd_w", "tcd", 2024, tw, WEST))
    chain.run(chain.tile("tcd_e", "tcd", 2024, te, EAST))
    out = chain.run(chain.tile("clc_w", "clcplus", 2023, cw, WEST))
    a = _obs(out, "A")
    # CLC+ in A: valid = 20 - (0, 253, 254, 255) = 16; green (2-6, 8, 10): row 0: 2,3,4,5; row 1: 6,8,10;
    # row 3: 3,3,3,6,6 -> 12 of 16; water (10): 1 of 16
    assert a["series"] == "official" and a["date"] == official_date(2024) == "2024-01-01"
    assert a["area_m2"] == pytest.approx(2000.0)
    assert a["canopy_area_m2"] == pytest.approx(7.40 / 18 * 2000)  # 822.2 m2
    assert a["green_area_m2"] == pytest.approx(12 / 16 * 2000)  # 1500 m2
    assert a["water_area_m2"] == pytest.approx(1 / 16 * 2000)  # 125 m2
    assert a["valid_fraction"] == pytest.approx(16 / 20)  # the lower of TCD 0.9 and CLC+ 0.8
    assert a["usable"] is True
    assert a["scene_ids"] == ["clc_w", "tcd_w"] and a["n_products"] == 2  # A lies in the west tile only
    assert a["kernel_version"] == "tcd-1.0.0+t10+clcplus-1.0.0"
    # B so far has CLC+ from the west tile only (15 px of class 6): covered half -> not usable yet
    b = _obs(out, "B")
    assert b["valid_fraction"] == pytest.approx(15 / 30) and b["usable"] is False
    out = chain.run(chain.tile("clc_e", "clcplus", 2023, ce, EAST))
    b = _obs(out, "B")
    # B: canopy 0.6 x 3000 m2; CLC+ 15 px of 6 + 15 px of 3: all green
    assert b["canopy_area_m2"] == pytest.approx(1800.0)
    assert b["green_area_m2"] == pytest.approx(3000.0)
    assert b["valid_fraction"] == pytest.approx(28 / 30) and b["usable"] is True
    assert [o.key for o in out] == ["B"]  # A's observation did not change: not sent again


def test_redelivered_results_change_nothing(chain: Chain) -> None:
    tw, _ = tcd_tiles()
    cw, _ = clcplus_tiles()
    chain.run(chain.tile("clc_w", "clcplus", 2023, cw, WEST))
    ev = chain.tile("tcd_w", "tcd", 2024, tw, WEST)
    first = chain.run(ev)
    again = chain.run(ev)  # the whole scene delivered twice: same tasks, same results
    # A spans two windows: redelivered, each result re-sends the same observation, with the same id
    assert {o.event["id"] for o in again} == {o.event["id"] for o in first} and len(first) == 2
    assert chain.store.get("official_layers", "A/tcd/2024")["valid"] == 18


def test_a_reprocessed_tile_replaces_the_old_one_instead_of_adding_up(chain: Chain) -> None:
    tw, _ = tcd_tiles()
    chain.run(chain.tile("TCD_2024_010m_E40N32_03035_v010", "tcd", 2024, tw, WEST))
    tw2 = tw.copy()
    tw2[tw2 == 40] = 20
    chain.run(chain.tile("TCD_2024_010m_E40N32_03035_v020", "tcd", 2024, tw2, WEST))
    layer = chain.store.get("official_layers", "A/tcd/2024")
    assert layer["valid"] == 18  # not 36
    assert layer["canopy_m2_valid"] == pytest.approx(16 * 20 + 100.0)
    assert layer["scene_ids"] == ["TCD_2024_010m_E40N32_03035_v020"]
