"""GeoPackage area sets: read with sqlite3 + shapely, checked against files written by GDAL (pyogrio),
in lon/lat and in a projected CRS; bad files fail with a message that says what is wrong."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from greenwatch.services.areas import BUILTIN_AREAS, AreaSet, GeoPackageError, read_gpkg
from greenwatch.services.areas._gpkg import decode_geometry

pyogrio = pytest.importorskip("pyogrio", reason="pyogrio (GDAL) writes the reference GeoPackages (dev extra)")

N = 25  # municipalities written (enough for holes, multipolygons, every property type)


def _features() -> list[dict]:
    doc = json.loads(BUILTIN_AREAS.read_text(encoding="utf-8"))
    feats = doc["features"]
    multi = [f for f in feats if f["geometry"]["type"] == "MultiPolygon"][:5]
    return multi + [f for f in feats if f["geometry"]["type"] == "Polygon"][: N - len(multi)]


def _write(path: Path, feats: list[dict], crs: str, layer: str = "gemeenten", append: bool = False) -> None:
    import pyproj

    tr = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    geoms = [shapely.transform(shape(f["geometry"]), tr.transform, interleaved=False) for f in feats]
    geoms = [g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g]) for g in geoms]
    fields = ["gemeentecode", "gemeentenaam", "aantalInwoners"]
    data = [np.array([f["properties"][k] for f in feats], dtype=object if k != "aantalInwoners" else np.int64)
            for k in fields]
    pyogrio.raw.write(path, np.array(shapely.to_wkb(geoms), dtype=object), data, fields, layer=layer,
                      driver="GPKG", geometry_type="MultiPolygon", crs=crs, append=append)


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:28992"], ids=["lonlat", "rd-new"])
def test_a_geopackage_written_by_gdal_reads_like_the_geojson(tmp_path: Path, crs: str) -> None:
    feats = _features()
    path = tmp_path / "areas.gpkg"
    _write(path, feats, crs)
    got = AreaSet.load(path)
    assert got.ids == [f["properties"]["gemeentecode"] for f in feats]
    assert got.names == [f["properties"]["gemeentenaam"] for f in feats]
    for g, f in zip(got.geoms, feats, strict=True):
        ref = shape(f["geometry"])
        # reprojection there and back moves vertices by far less than a millimetre (1e-8 deg)
        assert shapely.hausdorff_distance(g, ref) < 1e-8
        assert g.area == pytest.approx(ref.area, rel=1e-7)
    rows = read_gpkg(path)
    assert rows[0][0]["aantalInwoners"] == feats[0]["properties"]["aantalInwoners"]


def test_version_follows_the_file_and_the_layer(tmp_path: Path) -> None:
    feats = _features()
    a, b = tmp_path / "a.gpkg", tmp_path / "b.gpkg"
    _write(a, feats, "EPSG:4326")
    _write(b, feats[:-1], "EPSG:4326")
    assert AreaSet.load(a).version != AreaSet.load(b).version
    _write(a, feats[:3], "EPSG:4326", layer="other", append=True)
    with pytest.raises(GeoPackageError, match="2 feature layers"):
        AreaSet.load(a)
    one, other = AreaSet.load(a, layer="gemeenten"), AreaSet.load(a, layer="other")
    assert len(one.ids) == N and len(other.ids) == 3 and one.version != other.version
    with pytest.raises(GeoPackageError, match="no feature layer 'nope'"):
        AreaSet.load(a, layer="nope")
    with pytest.raises(ValueError, match="no property 'code'"):
        AreaSet.load(a, layer="other", id_property="code")


def test_files_that_are_not_geopackages(tmp_path: Path) -> None:
    text = tmp_path / "x.gpkg"
    text.write_text("not sqlite at all, " * 100)
    with pytest.raises(GeoPackageError, match="not a GeoPackage"):
        AreaSet.load(text)
    plain = tmp_path / "plain.gpkg"
    with sqlite3.connect(plain) as conn:
        conn.execute("CREATE TABLE t (a INTEGER)")
    with pytest.raises(GeoPackageError, match="not a GeoPackage"):
        AreaSet.load(plain)
    with pytest.raises(GeoPackageError, match="magic"):
        decode_geometry(b"XX" + bytes(30))
    with pytest.raises(GeoPackageError, match="WKB"):
        decode_geometry(b"GP\x00\x01" + (4326).to_bytes(4, "little") + b"\x01\x03\x00\x00")


def test_an_undefined_cartesian_crs_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.gpkg"
    _write(path, _features()[:2], "EPSG:28992")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE gpkg_geometry_columns SET srs_id = -1")
    with pytest.raises(GeoPackageError, match="undefined Cartesian"):
        AreaSet.load(path)


def test_points_are_not_areas(tmp_path: Path) -> None:
    path = tmp_path / "p.gpkg"
    pyogrio.raw.write(path, np.array(shapely.to_wkb([shapely.Point(5, 52)]), dtype=object),
                      [np.array(["GM1"], dtype=object)], ["gemeentecode"], driver="GPKG",
                      geometry_type="Point", crs="EPSG:4326")
    with pytest.raises(ValueError, match="is a Point, not a polygon"):
        AreaSet.load(path)
