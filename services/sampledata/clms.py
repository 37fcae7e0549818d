"""Synthetic CLMS rasters (Tree Cover Density, CLC+ Backbone) derived from a scenario's truth.

The official layers are made from the same land-cover truth as the synthetic Sentinel-2 products
(`build_truth`), reprojected to the products' real grid, so the two series agree up to the kinds of
difference the real products show. Encodings follow the CLMS product specifications:

* **Tree Cover Density** (HRL Tree Cover and Forests, 10 m): GeoTIFF, 1 band uint8, EPSG:3035
  (ETRS89-LAEA), pixel values 0-100 = tree cover in %, 254 = unclassifiable, 255 = outside area;
  nodata tag 255. Here: the truth's per-pixel canopy percent, averaged onto the LAEA grid (TCD is
  smoother than a crown map), scaled by 0.92 (TCD under-reads small urban trees), plus per-pixel
  noise (sd 4 %, a new draw every reference year), and 0.1 % scattered 254 pixels.
* **CLC+ Backbone** (10 m): GeoTIFF, 1 band uint8, EPSG:3035, classes 1-11 (legend in
  `greenwatch.kernels.CLCPLUS_LEGEND`), 253 coastal seawater buffer, 254 outside area, 255 no data;
  nodata tag 255 and the CLMS colour table (as in the real clip in shared/data/clms). Here: tree
  pixels -> 3 (broadleaved) or 2 (needle-leaved stands), other green -> 6 (permanent herbaceous),
  5 (shrubs) or 7 (periodically herbaceous: arable land, which Article 3 does not count as green),
  not green -> 1 (sealed) or 9 (sparsely vegetated), water -> 10; 2 % of pixels take a neighbour's
  class (edge confusion), 0.05 % are 255.

Pixels of the LAEA grid outside the synthetic Sentinel-2 window are "outside area" (TCD 255,
CLC+ 254). Each layer is cut into `tiles` tiles side by side (west to east), one GeoTIFF and one
STAC item per tile, like the CLMS tiled deliveries, so areas straddle tiles. TCD after the
scenario's change date shows the scripted canopy loss.

Output layout under `out_dir`:

    clms/<kind>/<item_id>.tif             tiled, deflate-compressed GeoTIFFs (COG-like)
    clms/stac/<collection>.json           collections `clms-tcd` and `clms-clcplus`
    clms/stac/items/<item_id>.json        items; asset hrefs are absolute file:// URLs
    clms/truth.json                       the per-area truth of each layer on the LAEA grid
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyproj

from ._noise import to_uniform, value_noise
from ._scenario import Scenario
from .truth import LandCover, Truth, build_truth

Kind = Literal["tcd", "clcplus"]
LAEA = "EPSG:3035"
RES = 10.0
TCD_UNCLASSIFIABLE, TCD_OUTSIDE = 254, 255
CLCPLUS_COASTAL, CLCPLUS_OUTSIDE, CLCPLUS_NODATA = 253, 254, 255
COLLECTION = {"tcd": "clms-tcd", "clcplus": "clms-clcplus"}
MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
#: The CLMS CLC+ Backbone palette (RGBA), as embedded in the real 2023 raster.
CLCPLUS_COLOURS: dict[int, tuple[int, int, int, int]] = {
    0: (240, 240, 240, 255), 1: (255, 0, 0, 255), 2: (34, 139, 34, 255), 3: (128, 255, 0, 255),
    4: (0, 255, 8, 255), 5: (128, 64, 0, 255), 6: (204, 242, 77, 255), 7: (255, 255, 128, 255),
    8: (255, 128, 255, 255), 9: (191, 191, 191, 255), 10: (0, 128, 255, 255), 11: (0, 255, 255, 255),
    253: (191, 223, 255, 255), 254: (230, 230, 230, 255), 255: (0, 0, 0, 255),
}
_TCD_SCALE, _TCD_NOISE_SD = 0.92, 4.0


@dataclass(frozen=True)
class ClmsProduct:
    """One written GeoTIFF tile and its STAC item."""

    kind: Kind
    year: int
    tile: str
    item_id: str
    path: Path
    item_path: Path
    transform: tuple[float, float, float, float, float, float]
    shape: tuple[int, int]


def laea_window(truth: Truth) -> tuple[tuple[float, float, float, float, float, float], tuple[int, int]]:
    """The 10 m LAEA grid (snapped outward to the pan-European 10 m lattice) covering the window."""
    tr = pyproj.Transformer.from_crs(truth.grid.crs, LAEA, always_xy=True)
    xmin, ymin, xmax, ymax = tr.transform_bounds(*truth.grid.bounds, densify_pts=21)
    x0, y1 = np.floor(xmin / RES) * RES, np.ceil(ymax / RES) * RES
    width, height = int(np.ceil((xmax - x0) / RES)), int(np.ceil((y1 - ymin) / RES))
    return (RES, 0.0, float(x0), 0.0, -RES, float(y1)), (height, width)


def _reproject(truth: Truth, src: np.ndarray, fill: float, resampling: str) -> np.ndarray:
    from rasterio.enums import Resampling  # noqa: PLC0415 - rasterio only where rasters are made
    from rasterio.transform import Affine  # noqa: PLC0415
    from rasterio.warp import reproject  # noqa: PLC0415

    transform, shape = laea_window(truth)
    dst = np.full(shape, fill, dtype=src.dtype)
    reproject(source=src, destination=dst, src_transform=Affine(*truth.grid.transform), src_crs=truth.grid.crs,
              src_nodata=None, dst_transform=Affine(*transform), dst_crs=LAEA, dst_nodata=fill,
              resampling=getattr(Resampling, resampling))
    return dst


def _inside(truth: Truth) -> np.ndarray:
    """LAEA pixels whose centre lies in the Sentinel-2 window (the rest is 'outside area')."""
    ones = np.ones(truth.grid.shape, dtype=np.uint8)
    return np.asarray(_reproject(truth, ones, 0, "nearest") == 1)


def tcd_raster(truth: Truth, when: date, seed: int) -> np.ndarray:
    """Tree Cover Density (uint8) of the reference year of `when` on the LAEA window."""
    pct = truth.canopy_percent(when).astype(np.float32)
    avg = _reproject(truth, pct, -1.0, "average")
    rng = np.random.default_rng([seed, 70, when.year])
    noisy = _TCD_SCALE * avg + rng.normal(0.0, _TCD_NOISE_SD, avg.shape).astype(np.float32) * (avg > 0)
    tcd = np.clip(np.rint(noisy), 0, 100).astype(np.uint8)
    tcd[rng.random(avg.shape) < 0.001] = TCD_UNCLASSIFIABLE
    tcd[~_inside(truth) | (avg < 0)] = TCD_OUTSIDE
    return tcd


def clcplus_raster(truth: Truth, when: date, seed: int) -> np.ndarray:
    """CLC+ Backbone classes (uint8) of the reference year of `when` on the LAEA window."""
    lc = _reproject(truth, truth.landcover(when), LandCover.NO_DATA, "nearest")
    shape = lc.shape
    u1 = to_uniform(value_noise([seed, 71], shape, [40, 10]), 0.8)
    u2 = to_uniform(value_noise([seed, 72], shape, [25, 6]), 0.8)
    out = np.full(shape, CLCPLUS_OUTSIDE, dtype=np.uint8)
    tree, grass = lc == LandCover.TREE_CANOPY, lc == LandCover.OTHER_GREEN
    bare = lc == LandCover.NOT_GREEN
    out[tree] = np.where(u1[tree] < 0.2, 2, 3)
    out[grass] = np.where(u2[grass] < 0.08, 5, np.where(u1[grass] > 0.85, 7, 6))
    out[bare] = np.where(u2[bare] < 0.05, 9, 1)
    out[lc == LandCover.WATER] = 10
    rng = np.random.default_rng([seed, 73, when.year])
    # edge confusion: 2 % of the pixels take the class of the pixel to their east
    confused = rng.random(shape) < 0.02
    confused[:, -1] = False
    shifted = np.roll(out, -1, axis=1)
    out[confused] = shifted[confused]
    out[(rng.random(shape) < 0.0005) & (out != CLCPLUS_OUTSIDE)] = CLCPLUS_NODATA
    out[~_inside(truth)] = CLCPLUS_OUTSIDE
    return out


def tile_code(transform: tuple[float, ...], shape: tuple[int, int]) -> str:
    """A tile name from its lower-left corner in km on the LAEA grid, e.g. 'E3975N3219'."""
    x0, y1 = transform[2], transform[5]
    y0 = y1 + transform[4] * shape[0]
    return f"E{int(x0 // 1000):04d}N{int(y0 // 1000):04d}"


def item_id(kind: Kind, year: int, tile: str) -> str:
    """Item ids after the CLMS file names (TCD_2018_010m_E40N32_03035_v020, CLMS_CLCPLUS_RAS_...)."""
    if kind == "tcd":
        return f"TCD_{year}_010m_{tile}_03035_v010"
    return f"CLMS_CLCPLUS_RAS_S{year}_R10m_{tile}_03035_V01_R00"


def write_geotiff(path: Path, data: np.ndarray, transform: tuple[float, ...], *, kind: Kind) -> Path:
    """One-band uint8 GeoTIFF in EPSG:3035, tiled 256 x 256, deflate, nodata tag 255 (and the CLC+
    colour table); what the CLMS download service delivers, small enough for tests."""
    import rasterio  # noqa: PLC0415
    from rasterio.transform import Affine  # noqa: PLC0415

    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = data.shape
    profile: dict[str, Any] = {
        "driver": "GTiff", "dtype": "uint8", "count": 1, "width": w, "height": h, "crs": LAEA,
        "transform": Affine(*transform), "nodata": 255, "compress": "deflate",
        "tiled": w >= 256 and h >= 256, **({"blockxsize": 256, "blockysize": 256} if w >= 256 and h >= 256 else {}),
    }
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(data, 1)
        if kind == "clcplus":
            ds.write_colormap(1, CLCPLUS_COLOURS)
        ds.update_tags(AREA_OR_POINT="Area")
    return path


def split_tiles(
    data: np.ndarray, transform: tuple[float, float, float, float, float, float], tiles: int
) -> list[tuple[np.ndarray, tuple[float, float, float, float, float, float]]]:
    """Cut a raster into `tiles` column bands (west to east) on the same 10 m lattice."""
    edges = np.linspace(0, data.shape[1], tiles + 1).round().astype(int)
    a, b, c, d, e, f = transform
    return [(data[:, c0:c1], (a, b, float(c + a * int(c0)), d, e, f))
            for c0, c1 in itertools.pairwise(edges)]


def stac_item(kind: Kind, year: int, tile: str, path: Path, transform: tuple[float, ...],
              shape: tuple[int, int]) -> dict[str, Any]:
    """A STAC item for one tile: a yearly layer (start/end of the reference year), proj and a
    cloud-optimized GeoTIFF `data` asset with its encoding."""
    h, w = shape
    x0, y1 = transform[2], transform[5]
    x1, y0 = x0 + transform[0] * w, y1 + transform[4] * h
    to_ll = pyproj.Transformer.from_crs(LAEA, "EPSG:4326", always_xy=True)
    xs = np.concatenate([np.linspace(x0, x1, 9), np.full(9, x1), np.linspace(x1, x0, 9), np.full(9, x0)])
    ys = np.concatenate([np.full(9, y0), np.linspace(y0, y1, 9), np.full(9, y1), np.linspace(y1, y0, 9)])
    lon, lat = to_ll.transform(xs, ys)
    ring = [[float(a), float(b)] for a, b in zip(lon, lat, strict=True)]
    ring.append(ring[0])
    nodata = {"tcd": "254 unclassifiable, 255 outside area", "clcplus": "253, 254 outside area, 255 no data"}[kind]
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "stac_extensions": ["https://stac-extensions.github.io/projection/v2.0.0/schema.json",
                            "https://stac-extensions.github.io/grid/v1.1.0/schema.json"],
        "id": item_id(kind, year, tile),
        "collection": COLLECTION[kind],
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "bbox": [float(min(lon)), float(min(lat)), float(max(lon)), float(max(lat))],
        "properties": {
            "datetime": f"{year}-01-01T00:00:00Z",
            "start_datetime": f"{year}-01-01T00:00:00Z",
            "end_datetime": f"{year}-12-31T23:59:59Z",
            "proj:code": LAEA,
            "proj:shape": [h, w],
            "proj:transform": [float(v) for v in transform],
            "proj:bbox": [x0, y0, x1, y1],
            "grid:code": f"LAEA-{tile}",
            "gsd": RES,
            "processing:facility": "greenwatch sampledata (synthetic)",
        },
        "links": [],
        "assets": {
            "data": {"href": path.resolve().as_uri(), "type": MEDIA_TYPE, "roles": ["data"],
                     "title": f"{COLLECTION[kind]} {year} {tile} (uint8; {nodata})",
                     "raster:bands": [{"data_type": "uint8", "nodata": 255, "spatial_resolution": RES}]},
        },
    }


def _collection(kind: Kind, items: list[dict[str, Any]]) -> dict[str, Any]:
    west = min(i["bbox"][0] for i in items)
    south = min(i["bbox"][1] for i in items)
    east = max(i["bbox"][2] for i in items)
    north = max(i["bbox"][3] for i in items)
    years = sorted(int(i["properties"]["start_datetime"][:4]) for i in items)
    title = {"tcd": "Tree Cover Density 10 m (synthetic)", "clcplus": "CLC+ Backbone 10 m raster (synthetic)"}[kind]
    return {
        "type": "Collection", "stac_version": "1.1.0", "id": COLLECTION[kind], "title": title,
        "description": f"{title}, generated by greenwatch.services.sampledata.clms", "license": "other",
        "extent": {"spatial": {"bbox": [[west, south, east, north]]},
                   "temporal": {"interval": [[f"{years[0]}-01-01T00:00:00Z", f"{years[-1]}-12-31T23:59:59Z"]]}},
        "links": [],
    }


def generate_clms(
    out_dir: Path,
    scenario: Scenario | None = None,
    *,
    truth: Truth | None = None,
    tcd_years: tuple[int, ...] = (2024, 2025, 2026),
    clcplus_years: tuple[int, ...] = (2023,),
    tiles: int = 2,
) -> list[ClmsProduct]:
    """Write the CLMS layers of `scenario` (default: the demo) under `out_dir/clms`; returns the
    tiles. A layer of year Y shows the truth on 1 July of Y (before or after the scripted change)."""
    scenario = scenario or Scenario()
    truth = truth or build_truth(scenario)
    root = Path(out_dir).resolve() / "clms"
    transform, _ = laea_window(truth)
    products: list[ClmsProduct] = []
    items: dict[Kind, list[dict[str, Any]]] = {"tcd": [], "clcplus": []}
    layers: list[tuple[Kind, int, np.ndarray]] = [
        *(("tcd", y, tcd_raster(truth, date(y, 7, 1), scenario.seed)) for y in tcd_years),
        *(("clcplus", y, clcplus_raster(truth, date(y, 7, 1), scenario.seed)) for y in clcplus_years),
    ]
    for kind, year, data in layers:
        for part, part_transform in split_tiles(data, transform, tiles):
            tile = tile_code(part_transform, part.shape)
            iid = item_id(kind, year, tile)
            path = write_geotiff(root / kind / f"{iid}.tif", part, part_transform, kind=kind)
            item = stac_item(kind, year, tile, path, part_transform, part.shape)
            item_path = root / "stac" / "items" / f"{iid}.json"
            item_path.parent.mkdir(parents=True, exist_ok=True)
            item_path.write_text(json.dumps(item, indent=2) + "\n", encoding="utf-8")
            items[kind].append(item)
            products.append(ClmsProduct(kind, year, tile, iid, path, item_path, part_transform, part.shape))
    for kind, its in items.items():
        if its:
            (root / "stac" / f"{COLLECTION[kind]}.json").write_text(
                json.dumps(_collection(kind, its), indent=2) + "\n", encoding="utf-8")
    (root / "truth.json").write_text(json.dumps(
        {"scenario": scenario.to_json(), "crs": LAEA, "transform": list(transform),
         "layers": [{"kind": k, "year": y, "values": _value_counts(d)} for k, y, d in layers]},
        indent=2) + "\n", encoding="utf-8")
    return products


def _value_counts(data: np.ndarray) -> dict[str, int]:
    counts = np.bincount(data.ravel(), minlength=256)
    return {str(v): int(n) for v, n in enumerate(counts) if n}
