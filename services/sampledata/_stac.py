"""STAC items and collection for synthetic products, modelled on the EOPF Samples Service (EODC) ones."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ._grid import Grid, mgrs_parts, wkt1
from ._scenario import Scenario

_EXTENSIONS = [
    "https://stac-extensions.github.io/timestamps/v1.1.0/schema.json",
    "https://stac-extensions.github.io/eo/v2.0.0/schema.json",
    "https://stac-extensions.github.io/sat/v1.0.0/schema.json",
    "https://stac-extensions.github.io/projection/v2.0.0/schema.json",
    "https://stac-extensions.github.io/mgrs/v1.0.0/schema.json",
    "https://stac-extensions.github.io/grid/v1.1.0/schema.json",
    "https://stac-extensions.github.io/view/v1.0.0/schema.json",
    "https://stac-extensions.github.io/processing/v1.2.0/schema.json",
    "https://stac-extensions.github.io/product/v0.1.0/schema.json",
    "https://stac-extensions.github.io/raster/v2.0.0/schema.json",
]
_BANDS = [
    {
        "name": "b02",
        "description": "Blue (band 2)",
        "eo:common_name": "blue",
        "eo:center_wavelength": 0.49,
        "eo:full_width_half_max": 0.098,
    },
    {
        "name": "b03",
        "description": "Green (band 3)",
        "eo:common_name": "green",
        "eo:center_wavelength": 0.56,
        "eo:full_width_half_max": 0.045,
    },
    {
        "name": "b04",
        "description": "Red (band 4)",
        "eo:common_name": "red",
        "eo:center_wavelength": 0.665,
        "eo:full_width_half_max": 0.038,
    },
    {
        "name": "b08",
        "description": "NIR 1 (band 8)",
        "eo:common_name": "nir",
        "eo:center_wavelength": 0.842,
        "eo:full_width_half_max": 0.145,
    },
]
# (reference date, absolute orbit) to make plausible absolute orbit numbers (14.3 orbits a day)
_ORBIT_REF = {"S2A": (date(2025, 10, 8), 53773), "S2B": (date(2026, 9, 7), 49642), "S2C": (date(2025, 6, 10), 3950)}
MEDIA_TYPE = {2: "application/vnd+zarr", 3: "application/vnd.zarr; version=3"}  # as served by EODC


def _ts(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Acquisition:
    """Identity of one synthetic product."""

    index: int
    when: datetime
    platform: str  # S2A / S2B / S2C
    processed: datetime
    baseline: str
    tile: str
    relative_orbit: int

    @property
    def absolute_orbit(self) -> int:
        ref_day, ref_orbit = _ORBIT_REF[self.platform]
        return max(1, ref_orbit + round((self.when.date() - ref_day).days * 14.3))

    @property
    def item_id(self) -> str:
        n = self.baseline.replace(".", "")
        return (
            f"{self.platform}_MSIL2A_{self.when:%Y%m%dT%H%M%S}_N{n}_R{self.relative_orbit:03d}"
            f"_T{self.tile}_{self.processed:%Y%m%dT%H%M%S}"
        )

    @property
    def datatake_id(self) -> str:
        return f"G{self.platform}_{self.when:%Y%m%dT%H%M%S}_{self.absolute_orbit:06d}_N{self.baseline}"

    @property
    def datastrip_id(self) -> str:
        return (
            f"{self.platform}_OPER_MSI_L2A_DS_2{self.platform[-1]}PS_{self.processed:%Y%m%dT%H%M%S}"
            f"_S{self.when:%Y%m%dT%H%M%S}_N{self.baseline}"
        )


def acquisitions(scenario: Scenario) -> list[Acquisition]:
    out = []
    for i, when in enumerate(scenario.acquisitions()):
        platform = "S2B" if i % 2 == 0 else ("S2A" if when.year < 2025 else "S2C")
        processed = (when + timedelta(hours=2, minutes=13, seconds=41)).replace(microsecond=0)
        out.append(
            Acquisition(
                i, when, platform, processed, scenario.processing_baseline, scenario.tile, scenario.relative_orbit
            )
        )
    return out


def _sun(when: datetime, lat: float) -> tuple[float, float]:
    """Rough (azimuth, elevation) near local noon."""
    doy = when.timetuple().tm_yday
    declination = 23.44 * math.sin(2 * math.pi * (284 + doy) / 365.0)
    return 162.0, 90.0 - lat + declination


def _properties(scenario: Scenario, grid: Grid, acq: Acquisition, cloud_cover: float) -> dict[str, Any]:
    zone, band, square = mgrs_parts(scenario.tile)
    azimuth, elevation = _sun(acq.when, grid.centre_lonlat()[1])
    software = {"EOPF-CPM": "2.6.2"} if scenario.zarr_format == 2 else {"EOPF_CPM": "3.0.0"}
    return {
        "datetime": _ts(acq.when),
        "start_datetime": _ts(acq.when),
        "end_datetime": _ts(acq.when),
        "created": _ts(acq.processed),
        "updated": _ts(acq.processed),
        "published": _ts(acq.processed + timedelta(hours=1)),
        "platform": acq.platform.replace("S2", "sentinel-2").lower(),
        "constellation": "sentinel-2",
        "mission": "Sentinel-2",
        "instruments": ["msi"],
        "gsd": 10.0,
        "eo:cloud_cover": round(cloud_cover, 6),
        "eo:snow_cover": 0.0,
        "grid:code": f"MGRS-{scenario.tile}",
        "mgrs:utm_zone": zone,
        "mgrs:latitude_band": band,
        "mgrs:grid_square": square,
        "proj:code": grid.crs,
        "proj:bbox": list(grid.bounds) if scenario.zarr_format == 3 else list(grid.bbox_lonlat()),
        "sat:relative_orbit": acq.relative_orbit,
        "sat:absolute_orbit": acq.absolute_orbit,
        "sat:orbit_state": "descending",
        "view:sun_azimuth": azimuth,
        "view:sun_elevation": round(elevation, 3),
        "processing:level": "L2A",
        "processing:version": acq.baseline,
        "processing:software": software,
        "processing:facility": "greenwatch sampledata (synthetic)",
        "processing:lineage": "synthetic",
        "product:type": "S02MSIL2A",
        "product:timeliness": "PT3H",
        "product:timeliness_category": "NRT",
        "eopf:datatake_id": acq.datatake_id,
        "eopf:datastrip_id": acq.datastrip_id,
        "eopf:instrument_mode": "INS-NOBS",
        "deprecated": False,
        "greenwatch:synthetic": True,
    }


def _assets(scenario: Scenario, grid: Grid, href: str) -> dict[str, Any]:
    fmt = scenario.zarr_format
    media = MEDIA_TYPE[fmt]
    offset = -0.1 if scenario.has_boa_offset else 0.0
    r10m, scl = f"{href}/measurements/reflectance/r10m", f"{href}/conditions/mask/l2a_classification/r20m"
    product: dict[str, Any] = {"href": href, "type": media, "roles": ["data", "metadata"], "title": "EOPF Product"}
    sr: dict[str, Any] = {
        "href": r10m,
        "type": media,
        "roles": ["data", "reflectance"],
        "title": "Surface Reflectance - 10m",
        "gsd": 10,
        "bands": _BANDS,
        "nodata": 0,
        "data_type": "uint16",
        "proj:shape": list(grid.shape),
        "raster:scale": 0.0001,
        "raster:offset": offset,
        "raster:spatial_resolution": 10,
    }
    scl_asset: dict[str, Any] = {
        "type": media,
        "roles": ["data", "mask"],
        "title": "Scene classification map (SCL) - 20m",
        "gsd": 20,
        "nodata": 0,
        "data_type": "uint8",
        "raster:scale": 1,
        "raster:offset": 0,
        "proj:shape": [grid.height // 2, grid.width // 2],
    }
    if fmt == 3:
        product.update(
            {
                "description": "The full Zarr store of the EOPF product including consolidated metadata.",
                "zarr:node_type": "group",
                "zarr:consolidated": scenario.consolidated,
            }
        )
        sr["zarr:node_type"] = "group"
        scl_asset.update(
            {
                "href": scl,
                "bands": [{"name": "scl", "description": "Scene classification (SCL) map"}],
                "zarr:node_type": "group",
            }
        )
        return {"product": product, "SR_10m": sr, "SCL_20m": scl_asset}
    product["xarray:open_datatree_kwargs"] = {"chunks": {}, "engine": "eopf-zarr", "op_mode": "native"}
    sr["bands"] = [{**b, "name": str(b["name"]).upper()} for b in _BANDS]
    scl_asset["href"] = f"{scl}/scl"
    assets: dict[str, Any] = {"product": product, "SR_10m": sr, "SCL_20m": scl_asset}
    if scenario.consolidated:
        assets["product_metadata"] = {
            "href": f"{href}/.zmetadata",
            "type": "application/json",
            "roles": ["metadata"],
            "title": "Consolidated Metadata",
        }
    for band in _BANDS:
        name = str(band["name"])
        assets[f"{name.upper()}_10m"] = {
            "href": f"{r10m}/{name}",
            "type": media,
            "roles": ["data", "reflectance"],
            "bands": [{**band, "name": name.upper()}],
            "gsd": 10,
            "nodata": 0,
            "data_type": "uint16",
            "raster:scale": 0.0001,
            "raster:offset": offset,
        }
    return assets


def item(scenario: Scenario, grid: Grid, acq: Acquisition, href: str, cloud_cover: float) -> dict[str, Any]:
    """The STAC 1.1 item of one product whose store is at `href`."""
    west, south, east, north = grid.bbox_lonlat()
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "stac_extensions": _EXTENSIONS,
        "id": acq.item_id,
        "collection": scenario.collection,
        "bbox": [west, south, east, north],
        "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in grid.footprint_lonlat()]]},
        "properties": _properties(scenario, grid, acq, cloud_cover),
        "links": [{"rel": "collection", "href": "../collection.json", "type": "application/json"}],
        "assets": _assets(scenario, grid, href),
    }


def stac_discovery(scenario: Scenario, grid: Grid, acq: Acquisition, cloud_cover: float) -> dict[str, Any]:
    """The root `stac_discovery` attribute of the product (where readers find CRS and dates)."""
    props = _properties(scenario, grid, acq, cloud_cover)
    props["proj:bbox"] = list(grid.bounds)  # UTM metres inside the product, in both formats
    if scenario.zarr_format == 2:  # CPM 2.x: proj:epsg and the eopf:* spellings of those days
        del props["proj:code"]
        props.update({"proj:epsg": grid.epsg, "eopf:baseline": acq.baseline, "eopf:data_take_id": acq.datatake_id})
    else:  # CPM 3.0: proj:code, and a proj:transform that is the 60 m grid's (as in the real products)
        x0, y1 = grid.x0, grid.y1
        props.update({"proj:transform": [60.0, 0.0, x0, 0.0, -60.0, y1], "proj:wkt2": wkt1(grid.epsg)})
    west, south, east, north = grid.bbox_lonlat()
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": acq.item_id,
        "bbox": [west, south, east, north],
        "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in grid.footprint_lonlat()]]},
        "properties": props,
        "links": [],
        "assets": {},
    }


def other_metadata(grid: Grid, acq: Acquisition) -> dict[str, Any]:
    azimuth, elevation = _sun(acq.when, grid.centre_lonlat()[1])
    return {
        "horizontal_CRS_code": grid.crs,
        "horizontal_CRS_name": f"WGS84 / UTM zone {grid.epsg % 100}N",
        "mean_sensing_time": _ts(acq.when),
        "mean_sun_azimuth_angle_in_deg_for_all_bands_all_detectors": azimuth,
        "mean_sun_zenith_angle_in_deg_for_all_bands_all_detectors": round(90.0 - elevation, 3),
        "product_quality_status": "PASSED",
        "eopf_category": "eoproduct",
        "history": [{"type": "synthetic", "processor": "greenwatch.services.sampledata"}],
    }


def collection(scenario: Scenario, items: list[dict[str, Any]]) -> dict[str, Any]:
    """A STAC 1.1 collection covering `items`."""
    west = min(i["bbox"][0] for i in items)
    south = min(i["bbox"][1] for i in items)
    east = max(i["bbox"][2] for i in items)
    north = max(i["bbox"][3] for i in items)
    times = sorted(i["properties"]["datetime"] for i in items)
    return {
        "type": "Collection",
        "stac_version": "1.1.0",
        "stac_extensions": [],
        "id": scenario.collection,
        "title": f"Sentinel-2 Level-2A (EOPF Zarr v{scenario.zarr_format}) - synthetic",
        "description": (
            "Synthetic Sentinel-2 L2A products in the EOPF Zarr layout generated by greenwatch.services.sampledata "
            "from a known land-cover truth; not Copernicus data."
        ),
        "keywords": ["sentinel-2", "l2a", "eopf", "zarr", "synthetic"],
        "license": "other",
        "providers": [{"name": "greenwatch sampledata", "roles": ["producer", "processor", "host"]}],
        "extent": {
            "spatial": {"bbox": [[west, south, east, north]]},
            "temporal": {"interval": [[times[0], times[-1]]]},
        },
        "summaries": {
            "platform": sorted({i["properties"]["platform"] for i in items}),
            "constellation": ["sentinel-2"],
            "instruments": ["msi"],
            "gsd": [10],
            "processing:version": sorted({i["properties"]["processing:version"] for i in items}),
            "product:type": ["S02MSIL2A"],
        },
        "links": [],
    }
