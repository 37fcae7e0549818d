"""Generate a synthetic Sentinel-2 L2A series: EOPF Zarr products, STAC items and the truth.

Output layout under `out_dir`:

    products/<item_id>.zarr          the EOPF Zarr stores (v2 or v3 layout)
    stac/collection.json             a STAC collection (`sentinel-2-l2a-zarr3` or `sentinel-2-l2a`)
    stac/items/<item_id>.json        one STAC item per product; asset hrefs are absolute file:// URLs
    truth/truth.zarr                 land cover and canopy percent before/after the change, cleared trees
    truth/products/<item_id>.json    true per-area pixel counts for each product
    scenario.json                    the scenario and the areas the window covers
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import zarr
from zarr.codecs import ZstdCodec

from ._eopf_writer import consolidate, create_product
from ._radiometry import BANDS, CLEAR_SCL, make_sky, reflectance_stripe, scl_stripe, season, to_dn, up2
from ._scenario import Scenario
from ._stac import Acquisition, acquisitions, collection, item, other_metadata, stac_discovery
from .truth import AreaTruth, LandCover, Truth, build_truth


@dataclass(frozen=True)
class GeneratedProduct:
    """One written product and its truth."""

    item_id: str
    datetime: datetime
    collection: str
    zarr_format: int
    path: Path  # the Zarr store
    href: str  # file:// URL of the store, as in the STAC item's `product` asset
    item_path: Path
    cloud_cover: float  # percent of valid pixels with SCL 8/9
    changed: bool  # whether the scripted canopy loss is visible in this product
    area_truth: dict[str, AreaTruth]


def generate(out_dir: Path, scenario: Scenario | None = None, *, truth: Truth | None = None) -> list[GeneratedProduct]:
    """Write all products of `scenario` (default: the demo) under `out_dir`; returns them by date.
    The arrays depend only on the scenario (same scenario, byte-identical chunks)."""
    scenario = scenario or Scenario()
    out_dir = Path(out_dir).resolve()
    truth = truth or build_truth(scenario)
    for sub in ("products", "stac/items", "truth/products"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    products = [_write_product(out_dir, scenario, truth, acq) for acq in acquisitions(scenario)]
    items = [json.loads(p.item_path.read_text(encoding="utf-8")) for p in products]
    _dump(out_dir / "stac" / "collection.json", collection(scenario, items))
    _write_truth(out_dir / "truth" / "truth.zarr", truth)
    _dump(out_dir / "scenario.json", _manifest(scenario, truth, products))
    return products


def generate_demo(out_dir: Path, *, zarr_format: int = 3) -> Path:
    """Generate the demo series (Utrecht region, 12 summer dates 2024-2026, canopy loss in
    Nieuwegein from 2026-01-01); returns the STAC folder (`collection.json` + `items/`)."""
    generate(Path(out_dir), Scenario(zarr_format=2 if zarr_format == 2 else 3))
    return Path(out_dir).resolve() / "stac"


def true_area_counts(product: GeneratedProduct, *, observed_only: bool = False) -> dict[str, dict[str, int]]:
    """TRUE pixel counts per area code and class key (`not_green`, `other_green`, `tree_canopy`,
    `water`); `observed_only` counts only valid, clear (not cloud/shadow) pixels."""
    out: dict[str, dict[str, int]] = {}
    for code, t in product.area_truth.items():
        counts = t.observed_counts if observed_only else t.counts
        out[code] = dict(counts or {})
    return out


def read_product_truth(path: Path) -> dict[str, AreaTruth]:
    """Per-area truth of one product from `truth/products/<item_id>.json`."""
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    return {a["code"]: AreaTruth(**a) for a in doc["areas"]}


def _dump(path: Path, doc: Any) -> None:
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")


def _write_product(out_dir: Path, scenario: Scenario, truth: Truth, acq: Acquisition) -> GeneratedProduct:
    grid, seed, chunk = truth.grid, scenario.seed, scenario.chunk
    height, width = grid.shape
    sky = make_sky(seed, acq.index, (height // 2, width // 2), scenario.cloud_fraction, scenario.nodata_edge)
    valid20 = ~sky.nodata
    cloud_cover = 100.0 * float(((sky.state >= 2) & valid20).sum()) / max(int(valid20.sum()), 1)
    path = out_dir / "products" / f"{acq.item_id}.zarr"
    attrs = {
        "other_metadata": other_metadata(grid, acq),
        "stac_discovery": stac_discovery(scenario, grid, acq, cloud_cover),
    }
    arrays = create_product(path, grid, chunk, scenario.zarr_format, scenario.has_boa_offset, attrs)
    changed = scenario.changed(acq.when)
    landcover, canopy = truth.landcover(acq.when), truth.canopy_percent(acq.when)
    s = season(acq.when)
    observed = np.empty(grid.shape, dtype=bool)
    for r0 in range(0, height, chunk):
        rows = slice(r0, min(r0 + chunk, height))
        rows20 = slice(rows.start // 2, rows.stop // 2)
        stripe_shape = (rows.stop - rows.start, width)
        state10 = up2(sky.state[rows20], stripe_shape)
        nodata10 = up2(sky.nodata[rows20], stripe_shape)
        removed = truth.removed[rows] if changed else None
        refl = reflectance_stripe(seed, acq.index, grid.shape, rows, landcover[rows], canopy[rows], removed, s, state10)
        dn = to_dn(refl, scenario.has_boa_offset, nodata10)
        for b, name in enumerate(BANDS):
            arrays.bands[name][rows, :] = dn[b]
        scl = scl_stripe(landcover[rows], sky.state[rows20], sky.nodata[rows20])
        arrays.scl[rows20, :] = scl
        observed[rows] = up2(np.isin(scl, CLEAR_SCL), stripe_shape) & ~nodata10
    if scenario.consolidated:
        consolidate(path, scenario.zarr_format)
    area_truth = truth.area_truth(acq.when, observed)
    item_path = out_dir / "stac" / "items" / f"{acq.item_id}.json"
    _dump(item_path, item(scenario, grid, acq, path.as_uri(), cloud_cover))
    _dump(
        out_dir / "truth" / "products" / f"{acq.item_id}.json",
        {
            "item_id": acq.item_id,
            "datetime": acq.when.isoformat(),
            "changed": changed,
            "areas": [a.to_json() for a in area_truth.values()],
        },
    )
    return GeneratedProduct(
        item_id=acq.item_id,
        datetime=acq.when,
        collection=scenario.collection,
        zarr_format=scenario.zarr_format,
        path=path,
        href=path.as_uri(),
        item_path=item_path,
        cloud_cover=cloud_cover,
        changed=changed,
        area_truth=area_truth,
    )


def _write_truth(path: Path, truth: Truth) -> None:
    sc = truth.scenario
    after = sc.change_date if sc.change_area else None
    attrs: dict[str, Any] = {
        "crs": truth.grid.crs,
        "transform": list(truth.grid.transform),
        "classes": {c.name.lower(): int(c) for c in LandCover},
        "change_area": sc.change_area,
        "change_date": after.isoformat() if after else None,
        "change_fraction": sc.change_fraction,
    }
    root = zarr.create_group(zarr.storage.LocalStore(path), zarr_format=3, attributes=attrs, overwrite=True)
    chunks = (min(sc.chunk, truth.grid.height), min(sc.chunk, truth.grid.width))
    layers = {
        "landcover_before": truth.landcover_before,
        "landcover_after": truth.landcover_after,
        "canopy_percent_before": truth.canopy_percent_before,
        "canopy_percent_after": truth.canopy_percent_after,
        "cleared": truth.removed.astype(np.uint8),
    }
    for name, data in layers.items():
        arr = root.create_array(
            name=name,
            shape=data.shape,
            dtype=data.dtype,
            chunks=chunks,
            fill_value=0,
            compressors=ZstdCodec(level=3),
            dimension_names=("y", "x"),
        )
        arr[:] = data


def _manifest(scenario: Scenario, truth: Truth, products: list[GeneratedProduct]) -> dict[str, Any]:
    return {
        "scenario": scenario.to_json(),
        "crs": truth.grid.crs,
        "transform": list(truth.grid.transform),
        "shape": list(truth.grid.shape),
        "bbox_lonlat": list(truth.grid.bbox_lonlat()),
        "areas": [
            {
                "code": a.code,
                "name": a.name,
                "window_fraction": round(a.window_fraction, 4),
                "fully_inside": a.fully_inside,
            }
            for a in truth.areas
        ],
        "products": [
            {
                "item_id": p.item_id,
                "datetime": p.datetime.isoformat(),
                "cloud_cover": round(p.cloud_cover, 3),
                "changed": p.changed,
            }
            for p in products
        ],
    }
