"""Kernel contracts as data: what goes in, what comes out, the class table and the version."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class ArraySpec:
    """One input or output array of a kernel."""

    name: str
    dtype: str  #: NumPy dtype name, e.g. "uint16"
    shape: str  #: symbolic shape, e.g. "(H, W)" or "(ceil(H/2), ceil(W/2))"
    resolution_m: float | None  #: ground sampling distance; None for non-raster outputs
    nodata: int | float | str | None  #: value meaning "no data" (None: every value is data)
    description: str = ""


@dataclass(frozen=True)
class KernelContract:
    """Declared interface of one kernel; ``version`` is the version of the default parameter set."""

    name: str
    version: str
    inputs: tuple[ArraySpec, ...]
    outputs: tuple[ArraySpec, ...]
    class_table: Mapping[int, str] = field(default_factory=lambda: MappingProxyType({}))
    notes: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (for result metadata and documentation)."""

        def spec(a: ArraySpec) -> dict[str, Any]:
            return {
                "name": a.name,
                "dtype": a.dtype,
                "shape": a.shape,
                "resolution_m": a.resolution_m,
                "nodata": a.nodata,
                "description": a.description,
            }

        return {
            "name": self.name,
            "version": self.version,
            "inputs": [spec(a) for a in self.inputs],
            "outputs": [spec(a) for a in self.outputs],
            "class_table": {str(k): v for k, v in self.class_table.items()},
            "notes": self.notes,
        }


#: The ``labels`` input of every counting kernel.
LABELS_SPEC = ArraySpec("labels", "int32", "(H, W)", 10.0, "<0 or >=n_areas", "area id; other values: no area")

#: The outputs of every counting kernel (fields of AreaCounts).
AREA_COUNTS_SPECS = (
    ArraySpec("class_counts", "int64", "(n_areas, 5)", None, None, "pixels per (area, PixelClass)"),
    ArraySpec("valid", "int64", "(n_areas,)", None, None, "pixels not INVALID"),
    ArraySpec("canopy_sum", "float64", "(n_areas,)", None, None, "canopy in pixels (x pixel area = m2)"),
)
