"""MGRS tile ids -> 100 km squares, checked against independently known geometry (real STAC items'
georeferencing and pyproj projections of known places), and tile cores: disjoint, covering, cut at
the UTM zone's boundary meridian."""

from __future__ import annotations

import json
import logging
import math
import re
from pathlib import Path

import numpy as np
import pyproj
import pytest

from greenwatch.services.areas import Grid, PixelDomain, domain_for, mgrs_square

# Known places and the Sentinel-2 tile they lie in. The expected square is NOT decoded: it is the
# place projected with pyproj into its UTM zone and floored to 100 km.
PLACES = [
    ("31UFT", 5.12, 52.09),  # Utrecht
    ("31UGT", 5.95, 52.00),  # Arnhem, east of the 700 km line, west of 6 E
    ("32ULC", 7.00, 52.00),  # Enschede region (zone 32, even: rows shifted by five letters)
    ("32UKC", 6.05, 52.00),  # just east of 6 E
    ("31UDQ", 2.35, 48.86),  # Paris
    ("32UPU", 11.58, 48.14),  # Munich
    ("33UXP", 16.37, 48.21),  # Vienna
    ("33TTG", 12.50, 41.90),  # Rome
    ("56HLH", 151.21, -33.87),  # Sydney (south, even zone)
    ("34HBH", 18.42, -33.92),  # Cape Town (south, even zone)
    ("21HUB", -58.38, -34.60),  # Buenos Aires (south, odd zone)
    ("37MBU", 36.82, -1.29),  # Nairobi (south, just below the equator)
]


def _projected_square(lon: float, lat: float) -> tuple[int, int, int]:
    zone = math.floor((lon + 180.0) / 6.0) + 1
    epsg = (32600 if lat >= 0 else 32700) + zone
    x, y = pyproj.Transformer.from_crs(4326, epsg, always_xy=True).transform(lon, lat)
    return epsg, int(x // 100_000 * 100_000), int(y // 100_000 * 100_000)


@pytest.mark.parametrize(("tile", "lon", "lat"), PLACES, ids=[p[0] for p in PLACES])
def test_known_places_lie_in_the_decoded_square(tile: str, lon: float, lat: float) -> None:
    assert mgrs_square(tile) == _projected_square(lon, lat)


def test_the_issue_s_reference_squares() -> None:
    assert mgrs_square("31UFT") == (32631, 600_000, 5_700_000)
    assert mgrs_square("31UGT") == (32631, 700_000, 5_700_000)


def _real_tiles(shared: Path) -> list[tuple[str, int, float, float]]:
    """(tile, epsg, upper-left x, upper-left y) of every real Sentinel-2 item in the shared data."""
    out = []
    for path in sorted([*(shared / "stac").glob("*.json"), *(shared / "eopf").glob("eodc_*.json"),
                        *(shared / "eopf").glob("explorer_*.json")]):
        doc = json.loads(path.read_text(encoding="utf-8"))
        for item in doc.get("features") or ([doc] if doc.get("type") == "Feature" else []):
            p = item["properties"]
            code = str(p.get("grid:code") or "").removeprefix("MGRS-") or p.get("s2:mgrs_tile")
            for prefix in ("mgrs:", "sentinel:"):
                if not code and p.get(f"{prefix}utm_zone"):
                    code = f"{int(p[f'{prefix}utm_zone']):02d}{p[f'{prefix}latitude_band']}{p[f'{prefix}grid_square']}"
            if not code and (m := re.search(r"_T?(\d{2}[C-X][A-Z]{2})_", item["id"])):
                code = m[1]  # "S2A_28QCH_20200714_0_L2A"
            epsg = p.get("proj:epsg") or str(p.get("proj:code", "")).removeprefix("EPSG:")
            t = p.get("proj:transform") or next(
                (a["proj:transform"] for a in item.get("assets", {}).values() if a.get("proj:transform")), None)
            bbox = p.get("proj:bbox")
            if t is not None:
                ulx, uly = float(t[2]), float(t[5])
            elif bbox is not None and max(abs(v) for v in bbox) > 360:
                ulx, uly = float(bbox[0]), float(bbox[3])
            else:
                continue
            if code and str(code)[:2].isdigit() and epsg:
                out.append((str(code), int(epsg), ulx, uly))
    return out


def test_real_sentinel2_tiles_decode_to_their_own_georeferencing(shared_data: Path) -> None:
    """A Sentinel-2 tile is its 100 km square extended 9.8 km east and south: its upper-left corner is
    the square's north-west corner (to within 40 m). 42 real tiles, zones 6-60, both hemispheres,
    bands M-V (the 2000 km row ambiguity resolved by the band)."""
    tiles = _real_tiles(shared_data)
    assert len({t[0] for t in tiles}) >= 40
    assert {t[0][2] for t in tiles} >= {"M", "Q", "T", "U", "V"}
    for tile, epsg, ulx, uly in tiles:
        expected = (epsg, round(ulx / 100_000) * 100_000, round(uly / 100_000) * 100_000 - 100_000)
        assert mgrs_square(tile) == expected, tile


@pytest.mark.parametrize("bad", ["", "31UF", "31UFTT", "3UFT", "T31UFT", "31ufT", "00UFT", "61UFT", "31IFT",
                                 "31AFT", "31YFT", "31UJT", "31USt", "31UFW", "31UFI", "31UFE"])
def test_malformed_or_impossible_tile_ids_raise(bad: str) -> None:
    # 31UJT: J is no column letter of zone 31 (A-H); 31UFW/31UFI: no row letter; 31UFE: row E is
    # 4.4 or 6.4 Mm north, neither in band U (48-56 N, ~5.3-6.2 Mm)
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        mgrs_square(bad)


def test_a_square_across_a_band_edge_has_one_core_whichever_band_names_it() -> None:
    # the 6.2-6.3 Mm square of zone 31 straddles 56 N: "31UFC" and "31VFC" are the same square
    grid = Grid("EPSG:32631", (10.0, 0.0, 600_000.0, 0.0, -10.0, 6_300_000.0), (10, 10))
    u, v = domain_for("31UFC", grid), domain_for("31VFC", grid)
    assert u is not None and v is not None and u.key == v.key == "EPSG:32631/600000/6200000"


def _grid(x0: float, y1: float, width: int, height: int, res: float, epsg: int = 32631) -> Grid:
    return Grid(f"EPSG:{epsg}", (res, 0.0, x0, 0.0, -res, y1), (height, width))


def test_no_core_for_non_mgrs_ids_or_foreign_grids(caplog: pytest.LogCaptureFixture) -> None:
    grid = _grid(600_000, 5_800_000, 10, 10, 10.0)
    with caplog.at_level(logging.WARNING, logger="greenwatch.services.areas._mgrs"):
        assert domain_for("1f2e3d4c5b6a7980", grid) is None
        assert domain_for("1f2e3d4c5b6a7980", grid) is None  # logged once
        assert domain_for("31UFT", _grid(600_000, 5_800_000, 10, 10, 10.0, epsg=32632)) is None
        assert domain_for("31UFT", Grid("EPSG:3035", grid.transform, grid.shape)) is None
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 3 and all("whole product counts" in w for w in warnings)
    d = domain_for("31UFT", grid)
    assert isinstance(d, PixelDomain) and d.key == "EPSG:32631/600000/5700000" and d.lon_w == 0.0


def test_mask_uses_pixel_centres_half_open() -> None:
    # 10 m pixels whose edges lie on the 700 km line: the pixel left of it is 31UFT's, the right one 31UGT's
    grid = _grid(699_980, 5_700_020, 4, 4, 10.0)
    west, east = domain_for("31UFT", grid), domain_for("31UGT", grid)
    assert west is not None and east is not None
    expected_west = np.zeros((4, 4), bool)
    expected_west[:2, :2] = True  # rows 0-1 have centres 5 700 015 / 5 700 005 (>= 5.7 Mm), cols 0-1 x < 700 km
    assert np.array_equal(west.mask(0, 0, 4, 4), expected_west)
    assert np.array_equal(east.mask(0, 0, 4, 4)[:2], np.array([[False, False, True, True]] * 2))
    assert not east.mask(2, 0, 2, 4).any()  # south of 5.7 Mm: the T row's squares' neighbours (S row)
    # windows of the mask tile the whole mask (the label raster applies it per stripe)
    big = _grid(695_000, 5_766_000, 300, 200, 50.0)
    d = domain_for("31UGT", big)
    assert d is not None
    full = d.mask(0, 0, 200, 300)
    parts = np.block([[d.mask(r, c, 50, 100) for c in range(0, 300, 100)] for r in range(0, 200, 50)])
    assert np.array_equal(full, parts) and full.any() and not full.all()


def test_cores_cover_a_grid_across_the_700km_line_and_6e_exactly_once() -> None:
    """A zone-31 grid (50 m) across the 700 km easting, the 5.8 Mm northing and 6 E (~706 km here):
    every pixel centre lies in exactly one core among the zone-31 squares and the zone-32 squares
    (tested in zone-32 coordinates), and a pixel is in a zone-31 core iff it lies west of 6 E."""
    grid = _grid(690_000, 5_820_000, 600, 1000, 50.0)  # x 690-720 km, y 5.77-5.82 Mm
    a, _, c, _, e, f = grid.transform
    xs, ys = np.meshgrid(c + a * (np.arange(600) + 0.5), f + e * (np.arange(1000) + 0.5))
    lon, _ = pyproj.Transformer.from_crs(32631, 4326, always_xy=True).transform(xs, ys)
    x32, y32 = pyproj.Transformer.from_crs(32631, 32632, always_xy=True).transform(xs, ys)
    grid32 = _grid(0, 0, 1, 1, 10.0, epsg=32632)  # the zone-32 cores need a zone-32 grid, any will do
    counts = np.zeros(xs.shape, np.int32)
    in31 = np.zeros(xs.shape, bool)
    seen = {}
    for tile in ("31UFT", "31UGT", "31UFU", "31UGU"):
        d = domain_for(tile, grid)
        assert d is not None
        m = d.mask(0, 0, 1000, 600)
        counts += m
        in31 |= m
        seen[tile] = int(m.sum())
    for tile in ("32UKC", "32ULC", "32UKD", "32ULD"):
        d = domain_for(tile, grid32)
        assert d is not None
        m = d.contains_xy(x32, y32)
        counts += m
        seen[tile] = int(m.sum())
    assert (counts == 1).all(), f"pixels counted 0 times: {(counts == 0).sum()}, twice: {(counts > 1).sum()}"
    assert np.array_equal(in31, lon < 6.0)  # the zone strip, against pyproj per pixel
    assert lon.min() < 6.0 < lon.max() and (xs >= 700_000).any() and (ys >= 5_800_000).any()
    assert seen["31UGT"] > 0 and seen["31UGU"] > 0 and seen["31UFT"] > 0 and seen["31UFU"] > 0
    assert seen["32UKC"] + seen["32ULC"] + seen["32UKD"] + seen["32ULD"] == int((lon >= 6.0).sum()) > 0


def test_31ugt_core_stops_at_6e() -> None:
    grid = _grid(700_000, 5_800_000, 100, 100, 100.0)  # x 700-710 km, y 5.79-5.8 Mm: 6 E at ~705 km
    d = domain_for("31UGT", grid)
    assert d is not None
    m = d.mask(0, 0, 100, 100)
    cols_inside = m.sum(axis=1)
    assert 40 < cols_inside.min() <= cols_inside.max() < 60  # about half of each row, to the meridian
    assert (m[:, :1]).all() and not m[:, -1:].any()
