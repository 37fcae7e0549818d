"""Write the EOPF Sentinel-2 L2A Zarr layout (v2 `sentinel-2-l2a` or v3 `sentinel-2-l2a-zarr3` style).

Only what greenwatch reads is written: `measurements/reflectance/r10m/{b02,b03,b04,b08,x,y}` and
`conditions/mask/l2a_classification/r20m/{scl,x,y}`, plus the root `stac_discovery` and
`other_metadata` attributes. The 20 m/60 m reflectances, detector footprints, quality masks,
geometry and meteorology groups of a real product are omitted.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numcodecs
import numpy as np
import zarr
from zarr.codecs import BytesCodec, ZstdCodec

from ._grid import Grid, wkt1

R10M = "measurements/reflectance/r10m"
R20M_SCL = "conditions/mask/l2a_classification/r20m"
_WAVELENGTH = {"b02": "492.7", "b03": "559.8", "b04": "664.6", "b08": "832.8"}
_V2_COMPRESSOR = numcodecs.Blosc(cname="zstd", clevel=3, shuffle=numcodecs.Blosc.BITSHUFFLE)
_V2_KEYS = {"name": "v2", "separator": "."}


@dataclass(frozen=True)
class ProductArrays:
    bands: dict[str, zarr.Array[Any]]
    scl: zarr.Array[Any]


def _proj_attrs(grid: Grid, res: float) -> dict[str, Any]:
    xmin, ymin, xmax, ymax = grid.bounds
    n_rows, n_cols = round(grid.height * grid.res / res), round(grid.width * grid.res / res)
    return {
        "proj:bbox": [xmin, ymin, xmax, ymax],
        "proj:epsg": grid.epsg,
        "proj:shape": [n_rows, n_cols],
        "proj:transform": [res, 0.0, grid.x0, 0.0, -res, grid.y1, 0.0, 0.0, 1.0],
        "proj:wkt2": wkt1(grid.epsg),
    }


def _band_attrs(band: str, zarr_format: int, boa_offset: bool, grid: Grid) -> dict[str, Any]:
    long_name = f"BOA reflectance from MSI acquisition at spectral band {band} {_WAVELENGTH[band]} nm"
    encoding: dict[str, Any] = {"scale_factor": 0.0001, "units": "digital_counts"}
    if boa_offset:
        encoding["add_offset"] = -0.1
    if zarr_format == 3:
        return {"long_name": long_name, **encoding, "valid_min": 1, "valid_max": 65535}
    eopf = {
        "coordinates": ["x", "y"],
        "dimensions": ["y", "x"],
        "dtype": "<u2",
        "eopf_is_masked": True,
        "eopf_target_dtype": "<f8",
        "fill_value": 0,
        "long_name": long_name,
        **encoding,
    }
    attrs = {
        "_ARRAY_DIMENSIONS": ["y", "x"],
        "_eopf_attrs": dict(sorted(eopf.items())),
        "dtype": "<u2",
        "fill_value": 0,
        "long_name": long_name,
        **encoding,
        **_proj_attrs(grid, 10.0),
        "valid_max": 65535,
        "valid_min": 1,
    }
    return dict(sorted(attrs.items()))


def _scl_attrs(zarr_format: int, grid: Grid) -> dict[str, Any]:
    if zarr_format == 3:
        return {"scale_factor": 1, "add_offset": 0, "fill_value": 0}
    attrs = {"_ARRAY_DIMENSIONS": ["y", "x"], "_eopf_attrs": {"coordinates": ["x", "y"], "dimensions": ["y", "x"]}}
    return {**attrs, **_proj_attrs(grid, 20.0)}


def _array(
    group: zarr.Group,
    name: str,
    data_shape: tuple[int, ...],
    dtype: str,
    chunks: tuple[int, ...],
    fill: Any,
    attrs: dict[str, Any],
    zarr_format: int,
    dims: tuple[str, ...],
) -> zarr.Array[Any]:
    common: dict[str, Any] = {
        "name": name,
        "shape": data_shape,
        "dtype": dtype,
        "chunks": chunks,
        "fill_value": fill,
        "attributes": attrs,
        "config": {"write_empty_chunks": True},
    }
    if zarr_format == 2:
        return group.create_array(compressors=_V2_COMPRESSOR, chunk_key_encoding=_V2_KEYS, **common)  # type: ignore[arg-type]
    return group.create_array(
        compressors=ZstdCodec(level=0, checksum=False),
        serializer=BytesCodec(endian="little"),
        dimension_names=dims,
        **common,
    )


def _coords(group: zarr.Group, grid: Grid, res: float, zarr_format: int) -> None:
    for axis, values in (("x", grid.x_centres(res)), ("y", grid.y_centres(res))):
        if zarr_format == 2:
            arr = _array(
                group, axis, values.shape, "int64", values.shape, None, {"_ARRAY_DIMENSIONS": [axis]}, 2, (axis,)
            )
            arr[:] = np.rint(values).astype(np.int64)
        else:
            name = f"{axis} coordinates of the image at {res:.0f}m in meters from up-left pixel"
            arr = _array(
                group, axis, values.shape, "float32", values.shape, float("nan"), {"long_name": name}, 3, (axis,)
            )
            arr[:] = values.astype(np.float32)


def create_product(
    path: Path, grid: Grid, chunk: int, zarr_format: Literal[2, 3], boa_offset: bool, root_attrs: dict[str, Any]
) -> ProductArrays:
    """Create the (empty) product store at `path` (overwriting) and return its data arrays."""
    root = zarr.create_group(
        zarr.storage.LocalStore(path), zarr_format=zarr_format, attributes=root_attrs, overwrite=True
    )
    r10m = root.require_group(R10M)
    bands = {
        band: _array(
            r10m,
            band,
            grid.shape,
            "uint16",
            (chunk, chunk),
            0,
            _band_attrs(band, zarr_format, boa_offset, grid),
            zarr_format,
            ("y", "x"),
        )
        for band in ("b02", "b03", "b04", "b08")
    }
    _coords(r10m, grid, 10.0, zarr_format)
    r20m = root.require_group(R20M_SCL)
    shape20 = (grid.height // 2, grid.width // 2)
    scl = _array(
        r20m,
        "scl",
        shape20,
        "uint8",
        (chunk // 2, chunk // 2),
        None if zarr_format == 2 else 0,
        _scl_attrs(zarr_format, grid),
        zarr_format,
        ("y", "x"),
    )
    _coords(r20m, grid, 20.0, zarr_format)
    return ProductArrays(bands=bands, scl=scl)


def consolidate(path: Path, zarr_format: Literal[2, 3]) -> None:
    """Consolidate metadata like the real products: v2 a `.zmetadata` file, v3 inline in `zarr.json`."""
    if zarr_format == 3:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "consolidated metadata is not part of the v3 spec"
            zarr.consolidate_metadata(zarr.storage.LocalStore(path), zarr_format=3)
        return
    # zarr-python 3 nests `consolidated_metadata` into v2 `.zgroup` entries; zarr-python 2 (which
    # writes the real products) does not, so the file is assembled from the metadata files on disk.
    names = (".zgroup", ".zattrs", ".zarray")
    metadata = {
        f.relative_to(path).as_posix(): json.loads(f.read_text(encoding="utf-8"))
        for f in sorted(path.rglob(".z*"))
        if f.name in names
    }
    doc = {"metadata": metadata, "zarr_consolidated_format": 1}
    (path / ".zmetadata").write_text(json.dumps(doc, indent=4, sort_keys=True), encoding="utf-8")
