"""The ingest step: a delivered CLMS GeoTIFF/COG (read with rasterio) -> a chunked Zarr v3 array on
the same grid, which the CLMS tile workers read window by window.

Checks, each a clear `InvalidRaster` (dead-lettered with the reason, the scene marked failed):
one band, uint8, EPSG:3035, 10 m north-up pixels on the pan-European 10 m lattice (origin a
multiple of 10 m, so every tile of every layer shares one pixel grid and an area's pixels are the
same in all of them), and only the layer's codes (TCD 0-100, 254, 255; CLC+ 0-11, 253-255; 0 is the
fill value of clips such as the real one in shared/data/clms). A nodata tag other than the
layer's own codes is honoured: those pixels are stored as 255 (no data).

The Zarr array keeps the raster's pixels unchanged otherwise, with attributes `crs`, `transform`
(rasterio order), `layer`, `source` (the href) and `complete` (written last, so a crash midway
re-ingests instead of reading a half-written array).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np
import zarr
from zarr.codecs import ZstdCodec

from greenwatch.services.clms._common import LAEA, RES_M, InvalidRaster, Layer

#: Codes a layer may hold; anything else means a wrong or corrupt file.
ALLOWED: dict[Layer, np.ndarray] = {
    "tcd": np.isin(np.arange(256), [*range(101), 254, 255]),
    "clcplus": np.isin(np.arange(256), [*range(12), 253, 254, 255]),
}
NO_DATA = 255
_STRIPE_ROWS = 1024


def _open(href: str) -> Any:
    import rasterio  # noqa: PLC0415 - only the ingest step needs GDAL
    from rasterio.errors import RasterioIOError  # noqa: PLC0415

    parsed = urlparse(href)
    path = url2pathname(parsed.path) if parsed.scheme == "file" else href
    try:
        return rasterio.open(path)
    except RasterioIOError as exc:
        raise InvalidRaster(f"{href}: cannot be read as a raster: {exc}") from None


def lonlat_bounds(href: str) -> tuple[float, float, float, float]:
    from rasterio.warp import transform_bounds  # noqa: PLC0415

    with _open(href) as ds:
        if ds.crs is None:
            raise InvalidRaster(f"{href}: no CRS")
        west, south, east, north = transform_bounds(ds.crs, "EPSG:4326", *ds.bounds, densify_pts=21)
    return (float(west), float(south), float(east), float(north))


def check_grid(href: str, ds: Any) -> tuple[tuple[float, float, float, float, float, float], tuple[int, int]]:
    """The raster's transform and shape, if it is a one-band uint8 raster on the CLMS 10 m grid."""
    if ds.count != 1:
        raise InvalidRaster(f"{href}: {ds.count} bands; a CLMS layer has one")
    if ds.dtypes[0] != "uint8":
        raise InvalidRaster(f"{href}: data type {ds.dtypes[0]}; CLMS layers are uint8")
    epsg = ds.crs.to_epsg() if ds.crs is not None else None
    if epsg != 3035:
        raise InvalidRaster(f"{href}: CRS {ds.crs} is not {LAEA} (ETRS89-LAEA)")
    t = ds.transform
    if t.b != 0 or t.d != 0 or t.a != RES_M or t.e != -RES_M:
        raise InvalidRaster(f"{href}: pixels ({t.a}, {t.e}) with rotation ({t.b}, {t.d}); expected 10 m north-up")
    if t.c % RES_M or t.f % RES_M:
        raise InvalidRaster(f"{href}: origin ({t.c}, {t.f}) is not on the 10 m LAEA lattice")
    return (float(t.a), 0.0, float(t.c), 0.0, float(t.e), float(t.f)), (int(ds.height), int(ds.width))


def ingest(href: str, dest: str, layer: Layer, *, chunk: int = 1000) -> zarr.Array[Any]:
    """Copy the raster at `href` into a Zarr v3 array at `dest` (chunk x chunk pixels, zstd), checking
    it on the way. Idempotent: an array already complete from the same source is reused."""
    try:
        existing = zarr.open_array(dest, mode="r")
        if existing.attrs.get("complete") and existing.attrs.get("source") == href:
            return existing
    except (FileNotFoundError, ValueError, zarr.errors.NodeTypeValidationError):
        pass
    with _open(href) as ds:
        transform, shape = check_grid(href, ds)
        nodata = ds.nodata
        remap = nodata is not None and 0 <= nodata <= 255 and int(nodata) == nodata and not (
            (layer == "tcd" and nodata in (254, 255)) or (layer == "clcplus" and nodata in (0, 253, 254, 255)))
        arr = zarr.create_array(
            dest, shape=shape, dtype="uint8", chunks=(min(chunk, shape[0]), min(chunk, shape[1])),
            fill_value=NO_DATA, compressors=ZstdCodec(level=3), dimension_names=("y", "x"), overwrite=True,
            attributes={"crs": LAEA, "transform": list(transform), "layer": layer, "source": href,
                        "nodata": NO_DATA, "complete": False},
        )
        from rasterio.windows import Window  # noqa: PLC0415

        step = max(chunk, 1) * max(1, _STRIPE_ROWS // max(chunk, 1))
        for r0 in range(0, shape[0], step):
            h = min(step, shape[0] - r0)
            data = ds.read(1, window=Window(0, r0, shape[1], h))
            if remap:
                data[data == int(nodata)] = NO_DATA
            bad = ~ALLOWED[layer][np.unique(data)]
            if bad.any():
                codes = np.unique(data)[bad][:5].tolist()
                raise InvalidRaster(f"{href}: values {codes} are not {layer} codes (rows {r0}..{r0 + h})")
            arr[r0 : r0 + h, :] = data
    arr.attrs["complete"] = True
    return arr


def zarr_dest(root: str, layer: Layer, scene_id: str) -> str:
    """Where the ingested copy of a scene lives (a local folder or an fsspec URL)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in scene_id)
    if "://" in root:
        return f"{root.rstrip('/')}/{layer}/{safe}.zarr"
    return str(Path(root) / layer / f"{safe}.zarr")
