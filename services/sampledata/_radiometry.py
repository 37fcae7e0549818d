"""Reflectances, clouds and the scene classification (SCL) of one synthetic acquisition.

BOA reflectance per material (b02, b03, b04, b08) with a seasonal factor s in 0..1 (1 at the end
of July): trees NDVI 0.6-0.85, grass 0.22-0.42 (0.35-0.42 from May to September), sealed and bare
< 0.15, water NDWI > 0.5. Tree pixels are mixed with grass by their canopy fraction; each pixel has
a fixed brightness texture, and each acquisition adds sensor noise (0.004 reflectance, 1 sigma).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from ._noise import to_uniform, value_noise
from .truth import LandCover

BANDS: tuple[str, ...] = ("b02", "b03", "b04", "b08")
ASPHALT, ROOF, BARE, GRASS, WATER, TREE, CLOUD = range(7)
NOISE_SIGMA = 0.004
SCL_NO_DATA, SCL_SHADOW, SCL_VEGETATION, SCL_NOT_VEGETATED, SCL_WATER = 0, 3, 4, 5, 6
SCL_CLOUD_MEDIUM, SCL_CLOUD_HIGH = 8, 9
CLEAR_SCL: tuple[int, ...] = (2, 4, 5, 6, 7, 11)  # what the truth calls "observed"
_SHADOW_SHIFT = (15, 20)  # 20 m pixels: shadows fall 300 m north, 400 m west of their cloud


def season(when: datetime) -> float:
    """0 in late January, 1 at the end of July."""
    doy = when.timetuple().tm_yday
    return 0.5 + 0.5 * math.cos(2.0 * math.pi * (doy - 205) / 365.25)


def spectra(s: float) -> np.ndarray:
    """(4 bands, 7 materials) BOA reflectance table at seasonal factor `s`."""
    table = {
        ASPHALT: (0.070, 0.080, 0.090, 0.110),
        ROOF: (0.120, 0.140, 0.160, 0.190),
        BARE: (0.080, 0.110, 0.150, 0.190),
        GRASS: (0.045, 0.070 + 0.010 * s, 0.095 - 0.020 * s, 0.150 + 0.035 * s),
        WATER: (0.050, 0.045, 0.030, 0.012),
        TREE: (0.025, 0.040 + 0.030 * s, 0.055 - 0.025 * s, 0.220 + 0.140 * s),
        CLOUD: (0.420, 0.440, 0.450, 0.490),
    }
    return np.array([table[m] for m in range(7)], dtype=np.float32).T


@dataclass(frozen=True)
class Sky:
    """Clouds and no-data of one acquisition at 20 m: 0 clear, 1 shadow, 2 cloud (medium), 3 cloud (high)."""

    state: np.ndarray  # uint8 (H/2, W/2)
    nodata: np.ndarray  # bool (H/2, W/2)
    cover: float  # requested cloud cover fraction


def make_sky(seed: int, index: int, shape20: tuple[int, int], cloud_fraction: float, nodata_edge: bool) -> Sky:
    rng = np.random.default_rng([seed, 30, index])
    cover = float(min(rng.uniform(0.0, 2.0 * cloud_fraction), 0.95))
    state = np.zeros(shape20, dtype=np.uint8)
    if cover > 0.0:
        field = value_noise([seed, 31, index], shape20, [40, 12], gains=[1.0, 0.5])
        sample = field[::3, ::3]
        threshold = float(np.quantile(sample, 1.0 - cover))
        cloud = field > threshold
        core = float(np.quantile(sample[sample > threshold], 0.4)) if (sample > threshold).any() else threshold
        dy, dx = _SHADOW_SHIFT
        shadow = np.zeros(shape20, dtype=bool)
        shadow[:-dy, :-dx] = cloud[dy:, dx:]
        state[shadow & ~cloud] = 1
        state[cloud] = 2
        state[field > core] = 3
    nodata = np.zeros(shape20, dtype=bool)
    if nodata_edge:  # a thin wedge of fill along the east edge, 0 to 6 px (20 m) wide
        h, w = shape20
        width = np.floor(6.0 * (1.0 - np.arange(h) / h)).astype(np.int64)
        nodata = np.arange(w)[None, :] >= (w - width)[:, None]
    return Sky(state=state, nodata=nodata, cover=cover)


def up2(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """20 m -> 10 m by pixel repetition, cropped to `shape`."""
    return np.repeat(np.repeat(a, 2, axis=0), 2, axis=1)[: shape[0], : shape[1]]


def scl_stripe(landcover: np.ndarray, sky_state: np.ndarray, nodata: np.ndarray) -> np.ndarray:
    """SCL at 20 m for a stripe of 10 m land cover (rows and columns even)."""
    h, w = landcover.shape
    blocks = landcover.reshape(h // 2, 2, w // 2, 2)
    n_water = (blocks == LandCover.WATER).sum(axis=(1, 3))
    n_veg = ((blocks == LandCover.TREE_CANOPY) | (blocks == LandCover.OTHER_GREEN)).sum(axis=(1, 3))
    scl = np.where(n_water >= 3, SCL_WATER, np.where(n_veg >= 2, SCL_VEGETATION, SCL_NOT_VEGETATED)).astype(np.uint8)
    scl[sky_state == 1] = SCL_SHADOW
    scl[sky_state == 2] = SCL_CLOUD_MEDIUM
    scl[sky_state == 3] = SCL_CLOUD_HIGH
    scl[nodata] = SCL_NO_DATA
    return scl


def reflectance_stripe(
    seed: int,
    index: int,
    shape: tuple[int, int],
    rows: slice,
    landcover: np.ndarray,
    canopy_percent: np.ndarray,
    removed: np.ndarray | None,
    s: float,
    sky_state10: np.ndarray,
) -> np.ndarray:
    """(4, h, w) float32 BOA reflectance for `rows` of the scene at acquisition `index`."""
    table = spectra(s)
    roof = to_uniform(value_noise([seed, 40], shape, [3], rows=rows), 0.75) > 0.6
    material = np.full(landcover.shape, GRASS, dtype=np.uint8)
    not_green = landcover == LandCover.NOT_GREEN
    material[not_green] = ASPHALT
    material[not_green & roof] = ROOF
    if removed is not None:
        material[removed] = BARE
    material[landcover == LandCover.WATER] = WATER
    tree_share = canopy_percent.astype(np.float32) / np.float32(100.0)
    tex_rng = np.random.default_rng([seed, 41, rows.start])  # fixed across dates: a surface property
    texture = np.exp(np.float32(0.06) * tex_rng.standard_normal(landcover.shape, dtype=np.float32))
    noise_rng = np.random.default_rng([seed, 42, index, rows.start])
    alpha = np.choose(sky_state10, np.array([0.0, 0.0, 0.6, 0.95], dtype=np.float32)).astype(np.float32)
    dim = np.where(sky_state10 == 1, np.float32(0.35), np.float32(1.0)).astype(np.float32)
    out = np.empty((len(BANDS), *landcover.shape), dtype=np.float32)
    for b in range(len(BANDS)):
        ground = table[b][material] * (1.0 - tree_share) + table[b, TREE] * tree_share
        ground *= texture
        ground += np.float32(NOISE_SIGMA) * noise_rng.standard_normal(landcover.shape, dtype=np.float32)
        out[b] = (ground * dim) * (1.0 - alpha) + table[b, CLOUD] * alpha
    return out


def to_dn(reflectance: np.ndarray, boa_offset: bool, nodata10: np.ndarray) -> np.ndarray:
    """Digital numbers: DN = (reflectance + 0.1) * 1e4 (baseline >= 04.00), else reflectance * 1e4;
    valid pixels are clipped to 1..65535, no-data pixels are 0 (the fill value)."""
    offset = np.float32(0.1 if boa_offset else 0.0)
    dn = np.rint((reflectance + offset) * np.float32(1e4))
    out: np.ndarray = np.clip(dn, 1, 65535).astype(np.uint16)
    out[..., nodata10] = 0
    return out
