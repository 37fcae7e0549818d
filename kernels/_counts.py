"""Per-area result of the counting kernels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ._classes import N_CLASSES, PixelClass

#: Canopy fractions are summed in fixed point with this many units per pixel (2**24): integer sums
#: are exact and associative, so results are identical for any thread count and equal to the NumPy
#: reference bit for bit. Truncation costs < 6e-8 pixel per pixel.
CANOPY_UNITS = 1 << 24


@dataclass(frozen=True, eq=False)
class AreaCounts:
    """Pixel counts per (area, class) and summed canopy fraction per area.

    ``canopy_sum`` is in pixels (sum of the 0..1 canopy fraction over valid pixels); the canopy area
    in m2 is ``canopy_sum x pixel area`` (100 m2 at 10 m), computed by the caller.
    ``version`` is the version of the kernel (and parameter set) that produced the counts.
    """

    class_counts: npt.NDArray[np.int64]  #: (n_areas, N_CLASSES); column = PixelClass value
    valid: npt.NDArray[np.int64]  #: (n_areas,) pixels whose class is not INVALID
    canopy_sum: npt.NDArray[np.float64]  #: (n_areas,) sum of canopy fraction over valid pixels
    version: str = ""

    def __post_init__(self) -> None:
        n = self.class_counts.shape[0]
        if self.class_counts.shape != (n, N_CLASSES) or self.class_counts.dtype != np.int64:
            raise ValueError(f"class_counts must be int64 (n_areas, {N_CLASSES})")
        if self.valid.shape != (n,) or self.valid.dtype != np.int64:
            raise ValueError("valid must be int64 (n_areas,)")
        if self.canopy_sum.shape != (n,) or self.canopy_sum.dtype != np.float64:
            raise ValueError("canopy_sum must be float64 (n_areas,)")

    @classmethod
    def zeros(cls, n_areas: int, version: str = "") -> AreaCounts:
        return cls(
            np.zeros((n_areas, N_CLASSES), np.int64),
            np.zeros(n_areas, np.int64),
            np.zeros(n_areas, np.float64),
            version,
        )

    @classmethod
    def from_totals(
        cls,
        class_counts: npt.NDArray[np.int64],
        canopy_units: npt.NDArray[np.int64],
        units_per_pixel: int,
        version: str,
    ) -> AreaCounts:
        """Build from integer totals: canopy_sum = canopy_units / units_per_pixel."""
        valid = class_counts.sum(axis=1) - class_counts[:, PixelClass.INVALID]
        canopy = canopy_units.astype(np.float64) / float(units_per_pixel)
        return cls(class_counts, valid.astype(np.int64), canopy, version)

    @property
    def n_areas(self) -> int:
        return int(self.class_counts.shape[0])

    def __add__(self, other: AreaCounts) -> AreaCounts:
        """Merge partial results (e.g. two chunks of a tile, or two tiles) of the same kernel version."""
        if not isinstance(other, AreaCounts):
            return NotImplemented
        if other.n_areas != self.n_areas:
            raise ValueError(f"cannot add counts of {self.n_areas} and {other.n_areas} areas")
        if self.version and other.version and self.version != other.version:
            raise ValueError(f"cannot add counts of versions {self.version} and {other.version}")
        return AreaCounts(
            self.class_counts + other.class_counts,
            self.valid + other.valid,
            self.canopy_sum + other.canopy_sum,
            self.version or other.version,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AreaCounts):
            return NotImplemented
        return (
            self.version == other.version
            and np.array_equal(self.class_counts, other.class_counts)
            and np.array_equal(self.valid, other.valid)
            and np.array_equal(self.canopy_sum, other.canopy_sum)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable arrays inside
