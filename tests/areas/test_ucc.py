"""Urban centres and clusters layers: read (GeoJSON, GeoPackage in LAEA, a SMOD class filter), the areas'
parts inside them (ids kept, an area outside every UCC keeps an empty geometry, pixel counts by hand), and
every unusable input refused at start-up with a message that says what is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely

from greenwatch.services.app import App
from greenwatch.services.areas import UccLayerError, load_ucc, ucc_parts
from greenwatch.services.clms import area_pixels_on_lattice
from greenwatch.services.config import AreaSettings, Settings

from ..clms.conftest import X0, Y1, _ring, write_areas

# Areas on the 10 m LAEA lattice (x0, x1, y0, y1 in metres; pixel centres at 5, 15, ... m from X0/Y1)
AREAS = {"U": (X0 + 3, X0 + 47, Y1 - 38, Y1 - 2),     # cols 0-4 x rows 0-3: 20 px
         "N": (X0 + 3, X0 + 47, Y1 - 58, Y1 - 42)}    # cols 0-4 x rows 4-5: 10 px
# one UCC polygon: x -10..17 (cols 0-1 once clipped to U), y -40..+10 (rows 0-3; N lies below it)
UCC = (X0 - 10, X0 + 17, Y1 - 40, Y1 + 10)


def _feature(rect: tuple[float, float, float, float], props: dict | None = None) -> dict:
    return {"type": "Feature", "properties": props or {},
            "geometry": {"type": "Polygon", "coordinates": [_ring(*rect)]}}


def _geojson(path: Path, features: list[dict], **extra: object) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features, **extra}), encoding="utf-8")
    return path


def test_the_areas_parts_inside_the_urban_centres_and_clusters(tmp_path: Path) -> None:
    areas = write_areas(tmp_path / "areas.geojson", AREAS)
    layer = load_ucc(_geojson(tmp_path / "ucc.geojson", [_feature(UCC)]))
    parts = ucc_parts(areas, layer)
    assert (parts.ids, parts.names) == (areas.ids, areas.names)  # same ids, names, order: same label indices
    assert parts.version != areas.version and parts.name == "golden+ucc"
    assert parts.geoms[areas.index("N")].is_empty  # N lies outside every UCC: kept, empty
    # U ∩ UCC = x 3..17 (cols 0 and 1: centres 5 and 15) x rows 0-3 -> 8 px; U itself 20; N 0
    assert area_pixels_on_lattice(areas, areas.index("U")) == 20
    assert area_pixels_on_lattice(parts, parts.index("U")) == 8
    assert area_pixels_on_lattice(parts, parts.index("N")) == 0
    # another layer (or the same polygons from another file) is another version: other tasks and caches
    other = load_ucc(_geojson(tmp_path / "ucc2.geojson", [_feature(UCC), _feature(UCC)]))
    assert ucc_parts(areas, other).version != parts.version


def test_a_smod_class_filter_keeps_urban_centres_and_clusters_only(tmp_path: Path) -> None:
    rural = (X0 + 20, X0 + 47, Y1 - 40, Y1 + 10)  # cols 2-4 of U: a rural cell (class 13)
    path = _geojson(tmp_path / "smod.geojson", [_feature(UCC, {"smod": 30}), _feature(rural, {"smod": 13})])
    areas = write_areas(tmp_path / "areas.geojson", AREAS)
    every = ucc_parts(areas, load_ucc(path))
    kept = ucc_parts(areas, load_ucc(path, class_property="smod"))  # default classes 30, 23, 22, 21
    assert area_pixels_on_lattice(every, 0) == 20 and area_pixels_on_lattice(kept, 0) == 8
    assert load_ucc(path, class_property="smod", classes=[13]).version != load_ucc(path, class_property="smod").version


def test_a_geopackage_in_laea_reads_like_the_geojson(tmp_path: Path) -> None:
    pyogrio = pytest.importorskip("pyogrio", reason="pyogrio (GDAL) writes the reference GeoPackage (dev extra)")
    x0, x1, y0, y1 = UCC
    box = shapely.box(x0, y0, x1, y1)
    pyogrio.raw.write(tmp_path / "ucc.gpkg", np.array(shapely.to_wkb([box]), dtype=object),
                      [np.array([30], dtype=np.int64)], ["smod"], driver="GPKG", geometry_type="Polygon",
                      crs="EPSG:3035")
    areas = write_areas(tmp_path / "areas.geojson", AREAS)
    parts = ucc_parts(areas, load_ucc(tmp_path / "ucc.gpkg", class_property="smod"))
    assert area_pixels_on_lattice(parts, 0) == 8 and area_pixels_on_lattice(parts, 1) == 0


@pytest.mark.parametrize(("content", "kwargs", "message"), [
    (None, {}, "cannot read"),
    ("", {}, "the file is empty"),
    ("{not json", {}, "not JSON"),
    ('{"type": "Feature"}', {}, "not a GeoJSON FeatureCollection"),
    ('{"type": "FeatureCollection", "features": []}', {}, "no features"),
    ('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, '
     '"geometry": {"type": "Point", "coordinates": [5.0, 52.0]}}]}', {}, "feature 0 is a Point, not a polygon"),
    ('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}}]}', {},
     "feature 0 has no readable geometry"),
    ('{"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3035"}}, '
     '"features": [{"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": '
     '[[[0, 0], [1, 0], [1, 1], [0, 0]]]}}]}', {}, "must be lon/lat"),
    ('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": {"type": '
     '"Polygon", "coordinates": [[[4000000, 3200000], [4000100, 3200000], [4000100, 3200100], [4000000, 3200000]]]}}]}',
     {}, "are not lon/lat degrees"),
    ('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"smod": 30}, "geometry": {"type": '
     '"Polygon", "coordinates": [[[5, 52], [5.1, 52], [5.1, 52.1], [5, 52]]]}}]}', {"class_property": "class"},
     "no feature has the class property 'class' (properties: ['smod'])"),
    ('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"smod": 11}, "geometry": {"type": '
     '"Polygon", "coordinates": [[[5, 52], [5.1, 52], [5.1, 52.1], [5, 52]]]}}]}', {"class_property": "smod"},
     "no feature of class ['21', '22', '23', '30'] in 'smod' (values found: ['11'])"),
], ids=["missing", "empty", "not-json", "not-a-collection", "no-features", "point", "no-geometry", "crs-member",
        "projected-coordinates", "no-such-class-property", "no-matching-class"])
def test_unusable_layers_are_refused_with_the_reason(tmp_path: Path, content: str | None, kwargs: dict,
                                                     message: str) -> None:
    path = tmp_path / "ucc.geojson"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(UccLayerError) as err:
        load_ucc(path, **kwargs)
    assert message in str(err.value) and str(path) in str(err.value)


def test_a_bad_geopackage_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ucc.gpkg"
    path.write_text("not sqlite at all, " * 100)
    with pytest.raises(UccLayerError, match="not a GeoPackage"):
        load_ucc(path)


def test_a_configured_layer_is_loaded_at_start_up_and_a_bad_one_stops_it(tmp_path: Path) -> None:
    areas = tmp_path / "areas.geojson"
    write_areas(areas, AREAS)
    ucc = _geojson(tmp_path / "ucc.geojson", [_feature(UCC)])
    base = {"path": str(areas), "id_property": "id", "name_property": "name", "name": "golden"}
    app = App.build(Settings(data_dir=tmp_path / "var", areas=AreaSettings(**base, urban_centres_path=str(ucc))))
    try:
        assert app.ucc is not None and app.ucc.ids == app.areas.ids
        assert area_pixels_on_lattice(app.ucc, 0) == 8
    finally:
        app.close()
    plain = App.build(Settings(data_dir=tmp_path / "var2", areas=AreaSettings(**base)))
    assert plain.ucc is None
    plain.close()
    with pytest.raises(UccLayerError, match="cannot read"):
        App.build(Settings(data_dir=tmp_path / "var3",
                           areas=AreaSettings(**base, urban_centres_path=str(tmp_path / "missing.geojson"))))
