"""Radiometry and the versioned classification parameter set.

Parameters are frozen dataclasses passed explicitly to every kernel; nothing here reads configuration.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

#: Processing baseline from which L2A reflectance carries the -1000 DN BOA offset (January 2022).
OFFSET_BASELINE: tuple[int, int] = (4, 0)

# Codes of the per-20m-pixel SCL lookup table used inside the kernels.
SCL_VALID, SCL_INVALID, SCL_WATER = 0, 1, 2

_BASELINE_RE = re.compile(r"^\s*N?(\d{1,2})\.?(\d{2})\s*$")


@dataclass(frozen=True)
class Radiometry:
    """Reflectance = DN x ``scale`` + ``offset`` (EOPF attrs ``scale_factor`` / ``add_offset``).

    The defaults are those of every EOPF Sentinel-2 L2A product (baseline >= 04.00):
    ``scale_factor 0.0001``, ``add_offset -0.1``. The same radiometry applies to all bands.
    """

    scale: float = 1e-4
    offset: float = -0.1

    def __post_init__(self) -> None:
        if not (np.isfinite(self.scale) and self.scale > 0 and np.isfinite(self.offset)):
            raise ValueError(f"invalid radiometry {self}")

    @property
    def ratio_offset(self) -> float:
        """``2 x offset / scale`` in DN: NDVI = (n - r) / (n + r + ratio_offset) on DNs."""
        return 2.0 * self.offset / self.scale


def parse_baseline(processing_baseline: str) -> tuple[int, int]:
    """'04.00', '4.00', 'N0400', '05.11' -> (major, minor)."""
    m = _BASELINE_RE.match(processing_baseline)
    if m is None:
        raise ValueError(f"unrecognised processing baseline {processing_baseline!r}")
    return int(m.group(1)), int(m.group(2))


def radiometry_for(
    processing_baseline: str | None,
    scale_factor: float | None,
    add_offset: float | None,
) -> Radiometry:
    """The radiometry of one product, harmonised across processing baselines.

    * The product's own ``scale_factor`` / ``add_offset`` attributes win when present (EOPF writes
      both on every reflectance array).
    * Without ``add_offset`` the baseline decides: products before baseline 04.00 (before
      25 January 2022) have reflectance = DN / 10000, i.e. offset 0.0; from 04.00 on the L2A BOA
      offset is -1000 DN, i.e. -0.1. Applying the offset per baseline puts both on the same
      reflectance scale, so NDVI does not jump in January 2022 (the offset changes NDVI by up to
      ~0.1 over dark vegetation if ignored).
    * ``scale_factor`` defaults to 1e-4 (unchanged across baselines).

    Raises ``ValueError`` when neither ``add_offset`` nor the baseline is known: guessing would bias
    every index.
    """
    scale = 1e-4 if scale_factor is None else float(scale_factor)
    if add_offset is not None:
        return Radiometry(scale=scale, offset=float(add_offset))
    if processing_baseline is None:
        raise ValueError("need add_offset or processing_baseline to know the reflectance offset")
    offset = 0.0 if parse_baseline(processing_baseline) < OFFSET_BASELINE else -1000.0 * scale
    return Radiometry(scale=scale, offset=offset)


@dataclass(frozen=True)
class ClassifyParams:
    """Versioned thresholds of the Sentinel-2 classification (NDVI/NDWI on BOA reflectance).

    Classes, in order of precedence:

    1. INVALID: SCL in ``invalid_scl`` (default 0 no data, 1 saturated/defective, 3 cloud shadow,
       8/9 cloud medium/high probability, 10 thin cirrus, 11 snow), or DN 0 (fill) in any band used.
    2. WATER: SCL == ``water_scl`` (6), or NDWI = (B03 - B08) / (B03 + B08) > ``ndwi_water``
       (McFeeters 1996; tested as B03 - B08 > ndwi_water x (B03 + B08) on reflectance sums > 0).
    3. TREE: NDVI > ``ndvi_tree`` (0.5).
    4. OTHER_GREEN: ``ndvi_green`` (0.2) <= NDVI <= ``ndvi_tree``.
    5. NOT_GREEN: NDVI < ``ndvi_green``.

    NDVI = (B08 - B04) / (B08 + B04) on reflectance, computed exactly from DNs as
    (n - r) / (n + r + 2 x offset / scale) with one float32 division; it is taken as 0 where the
    reflectance sum B04 + B08 <= 0 (undefined).

    Literature defaults: NDVI < 0.2 non-vegetation, 0.2-0.5 low vegetation, > 0.5 trees.

    Canopy fraction (0..1): linear in NDVI between the endmembers ``ndvi_soil`` (fraction 0) and
    ``ndvi_canopy`` (fraction 1), clipped; 0 for water, NaN for invalid. It is a fractional
    vegetation cover in the sense of Gutman & Ignatov (1998); the defaults (0.2, 0.8) make it 0
    exactly where the class is NOT_GREEN and are to be calibrated against CLMS Tree Cover Density.

    ``version`` names the algorithm; :func:`kernel_version` adds a hash of all other fields, so any
    change to the parameter set changes the stamped version.
    """

    ndvi_green: float = 0.2
    ndvi_tree: float = 0.5
    ndwi_water: float = 0.0
    ndvi_soil: float = 0.2
    ndvi_canopy: float = 0.8
    invalid_scl: tuple[int, ...] = (0, 1, 3, 8, 9, 10, 11)
    water_scl: int = 6
    version: str = "s2-ndvi-1.0.0"

    def __post_init__(self) -> None:
        if not -1.0 <= self.ndvi_green < self.ndvi_tree <= 1.0:
            raise ValueError("need -1 <= ndvi_green < ndvi_tree <= 1")
        if not self.ndvi_soil < self.ndvi_canopy:
            raise ValueError("need ndvi_soil < ndvi_canopy")
        if not -1.0 <= self.ndwi_water <= 1.0:
            raise ValueError("need -1 <= ndwi_water <= 1")
        codes = (*self.invalid_scl, self.water_scl)
        if any(not 0 <= c <= 255 for c in codes):
            raise ValueError("SCL codes must be in 0..255")
        if self.water_scl in self.invalid_scl:
            raise ValueError("water_scl must not be in invalid_scl")
        if not self.version:
            raise ValueError("version must not be empty")

    @property
    def kernel_version(self) -> str:
        """``<version>+p<hash8>``: stamped on every result computed with these parameters."""
        fields = dataclasses.asdict(self)
        del fields["version"]
        digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:8]
        return f"{self.version}+p{digest}"


def kernel_version(params: ClassifyParams) -> str:
    """Version string of the Sentinel-2 kernels for ``params`` (see :attr:`ClassifyParams.kernel_version`)."""
    return params.kernel_version


class KernelConstants(NamedTuple):
    """float32 constants shared by the Numba kernels and the NumPy reference (same rounding)."""

    ratio_offset: np.float32  #: 2 x offset / scale, added to DN sums
    ndvi_green: np.float32
    ndvi_tree: np.float32
    ndwi_water: np.float32
    ndvi_soil: np.float32
    inv_span: np.float32  #: 1 / (ndvi_canopy - ndvi_soil)


def kernel_constants(radiometry: Radiometry, params: ClassifyParams) -> KernelConstants:
    f32 = np.float32
    return KernelConstants(
        ratio_offset=f32(radiometry.ratio_offset),
        ndvi_green=f32(params.ndvi_green),
        ndvi_tree=f32(params.ndvi_tree),
        ndwi_water=f32(params.ndwi_water),
        ndvi_soil=f32(params.ndvi_soil),
        inv_span=f32(1.0 / (params.ndvi_canopy - params.ndvi_soil)),
    )


def scl_lut(params: ClassifyParams) -> npt.NDArray[np.uint8]:
    """256-entry table SCL value -> SCL_VALID / SCL_INVALID / SCL_WATER, applied per 20 m pixel."""
    lut = np.full(256, SCL_VALID, dtype=np.uint8)
    lut[list(params.invalid_scl)] = SCL_INVALID
    lut[params.water_scl] = SCL_WATER
    return lut
