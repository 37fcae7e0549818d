"""Polygons from a GeoPackage with the standard library: a GeoPackage is an SQLite file (OGC 12-128r18),
so `sqlite3` reads it and shapely decodes the WKB inside each geometry blob. No GDAL needed, which keeps
area sets loadable on any machine the worker runs on (pyogrio/GDAL remains the better tool to write one).

What is read: one feature table (the only one, or `layer`), its attribute columns as properties and
its geometry column, reprojected to lon/lat WGS84 with pyproj from the table's `srs_id`.
"""

from __future__ import annotations

import sqlite3
import struct
from pathlib import Path
from typing import Any

import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

#: bytes of the envelope after the 8-byte header, by the envelope indicator (flags bits 1-3)
_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


class GeoPackageError(ValueError):
    """The file is not a GeoPackage greenwatch can read (the message says what is wrong)."""


def read_gpkg(path: Path, layer: str | None = None) -> list[tuple[dict[str, Any], BaseGeometry]]:
    """(properties, lon/lat geometry) of every feature of the layer, in table order (`fid`/rowid)."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise GeoPackageError(f"{path}: cannot open as SQLite ({exc})") from exc
    try:
        return _read(conn, path, layer)
    except sqlite3.DatabaseError as exc:
        raise GeoPackageError(f"{path}: not a GeoPackage ({exc})") from exc
    finally:
        conn.close()


def _read(conn: sqlite3.Connection, path: Path, layer: str | None) -> list[tuple[dict[str, Any], BaseGeometry]]:
    tables = [r[0] for r in conn.execute("SELECT table_name FROM gpkg_contents WHERE data_type = 'features'")]
    if layer is None:
        if len(tables) != 1:
            raise GeoPackageError(f"{path}: {len(tables)} feature layers {tables}; name one with `layer`")
        layer = tables[0]
    elif layer not in tables:
        raise GeoPackageError(f"{path}: no feature layer {layer!r} (layers: {tables})")
    row = conn.execute(
        "SELECT column_name, srs_id FROM gpkg_geometry_columns WHERE table_name = ?", (layer,)
    ).fetchone()
    if row is None:
        raise GeoPackageError(f"{path}: layer {layer!r} has no entry in gpkg_geometry_columns")
    geom_col, srs_id = str(row[0]), int(row[1])
    to_lonlat = _transformer(conn, path, srs_id)
    columns = [str(c[1]) for c in conn.execute(f'PRAGMA table_info("{_ident(layer)}")')]
    order = "ORDER BY rowid" if "fid" not in columns else "ORDER BY fid"
    features: list[tuple[dict[str, Any], BaseGeometry]] = []
    cursor = conn.execute(f'SELECT * FROM "{_ident(layer)}" {order}')  # noqa: S608 - identifier quoted, from the file itself
    for values in cursor:
        record = dict(zip(columns, values, strict=True))
        blob = record.pop(geom_col)
        record.pop("fid", None)
        if blob is None:
            raise GeoPackageError(f"{path}: layer {layer!r} has a feature without geometry ({record})")
        geom = decode_geometry(bytes(blob))
        if to_lonlat is not None:
            geom = shapely.transform(geom, to_lonlat, interleaved=False)
        features.append((record, geom))
    return features


def decode_geometry(blob: bytes) -> BaseGeometry:
    """A GeoPackage geometry blob: 'GP', version, flags, srs_id, optional envelope, then (ISO) WKB."""
    if len(blob) < 8 or blob[:2] != b"GP":
        raise GeoPackageError("geometry blob does not start with the GeoPackage magic 'GP'")
    flags = blob[3]
    if flags & 0b0010_0000:
        raise GeoPackageError("extended GeoPackage geometry types are not supported")
    envelope = (flags >> 1) & 0b111
    if envelope not in _ENVELOPE_BYTES:
        raise GeoPackageError(f"invalid envelope indicator {envelope} in a geometry blob")
    struct.unpack("<i" if flags & 1 else ">i", blob[4:8])  # srs_id: the column's srs_id rules
    wkb = blob[8 + _ENVELOPE_BYTES[envelope] :]
    try:
        geom: BaseGeometry = shapely.from_wkb(wkb)
    except shapely.errors.GEOSException as exc:
        raise GeoPackageError(f"cannot decode the WKB of a geometry ({exc})") from exc
    return shapely.force_2d(geom)


def _transformer(conn: sqlite3.Connection, path: Path, srs_id: int) -> Any:
    """A (x, y) -> (lon, lat) function, or None when the layer is already lon/lat WGS84."""
    if srs_id == 0:  # "undefined geographic": lon/lat by the spec
        return None
    if srs_id == -1:
        raise GeoPackageError(f"{path}: the layer has an undefined Cartesian CRS (srs_id -1)")
    row = conn.execute(
        "SELECT organization, organization_coordsys_id, definition FROM gpkg_spatial_ref_sys WHERE srs_id = ?",
        (srs_id,),
    ).fetchone()
    if row is None:
        raise GeoPackageError(f"{path}: srs_id {srs_id} is not in gpkg_spatial_ref_sys")
    org, code, definition = row
    if str(org).upper() == "EPSG" and int(code) == 4326:
        return None
    try:
        crs = pyproj.CRS.from_user_input(f"{org}:{code}" if org and int(code) > 0 else definition)
    except pyproj.exceptions.CRSError as exc:
        raise GeoPackageError(f"{path}: cannot interpret the CRS of srs_id {srs_id} ({exc})") from exc
    tr = pyproj.Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    return tr.transform


def _ident(name: str) -> str:
    return name.replace('"', '""')
