"""What a synthetic data set looks like: window, dates, format, clouds and the scripted canopy loss."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from ._grid import Grid, mgrs_parts

# Centre of the demo window (UTM 31N, 18.3 km wide): it fully contains Utrecht (GM0344),
# Nieuwegein (GM0356) and IJsselstein (GM0353) and touches nine neighbouring municipalities.
DEMO_CENTRE: tuple[float, float] = (5.10, 52.07)
DEMO_CHANGE_AREA = "GM0356"  # Nieuwegein: mid-size (25 km2), wholly inside the demo window
DEMO_CHANGE_DATE = date(2026, 1, 1)

# Four summer acquisitions a year (typical clear-sky revisits), 2024-2026.
DEMO_DATES: tuple[date, ...] = (
    date(2024, 5, 24),
    date(2024, 6, 23),
    date(2024, 7, 28),
    date(2024, 8, 27),
    date(2025, 5, 19),
    date(2025, 6, 18),
    date(2025, 7, 23),
    date(2025, 9, 1),
    date(2026, 5, 24),
    date(2026, 6, 28),
    date(2026, 7, 18),
    date(2026, 8, 22),
)

COLLECTIONS: dict[int, str] = {2: "sentinel-2-l2a", 3: "sentinel-2-l2a-zarr3"}


@dataclass(frozen=True)
class Scenario:
    """A deterministic synthetic Sentinel-2 L2A series (same seed -> byte-identical arrays).

    `size` and `chunk` are in 10 m pixels and must be even (the SCL grid is 20 m). `change_*`
    scripts the loss: from `change_date` on, `change_fraction` of the tree pixels of the area
    `change_area` (an id in the areas GeoJSON) become sealed/bare. `areas_path` None means the
    bundled CBS gemeenten 2023 file.
    """

    centre: tuple[float, float] = DEMO_CENTRE  # lon, lat
    size: int = 1830
    chunk: int = 610
    dates: tuple[date, ...] = DEMO_DATES
    zarr_format: Literal[2, 3] = 3
    seed: int = 20260101
    change_area: str | None = DEMO_CHANGE_AREA
    change_date: date = DEMO_CHANGE_DATE
    change_fraction: float = 0.6
    tile: str = "31UFT"
    processing_baseline: str = "05.11"
    cloud_fraction: float = 0.12  # mean cloud cover per date (each date draws 0..2x this)
    relative_orbit: int = 51
    acquisition_time: str = "104619"  # HHMMSS UTC
    areas_path: Path | None = None
    consolidated: bool = True
    nodata_edge: bool = True  # a few fill-value (0) pixels along the east edge
    id_property: str = "gemeentecode"

    def __post_init__(self) -> None:
        if self.size <= 0 or self.size % 2:
            raise ValueError(f"size must be a positive even number, got {self.size}")
        if self.chunk <= 0 or self.chunk % 2:
            raise ValueError(f"chunk must be a positive even number, got {self.chunk}")
        if self.zarr_format not in (2, 3):
            raise ValueError(f"zarr_format must be 2 or 3, got {self.zarr_format}")
        if not 0.0 <= self.change_fraction <= 1.0:
            raise ValueError("change_fraction must be within 0..1")
        if not 0.0 <= self.cloud_fraction <= 0.5:
            raise ValueError("cloud_fraction must be within 0..0.5")
        if len(set(self.dates)) != len(self.dates) or not self.dates:
            raise ValueError("dates must be non-empty and unique")
        mgrs_parts(self.tile)
        major, _, minor = self.processing_baseline.partition(".")
        if not (len(major) == 2 and len(minor) == 2 and major.isdigit() and minor.isdigit()):
            raise ValueError(f"processing_baseline must look like '05.11', got {self.processing_baseline!r}")
        if len(self.acquisition_time) != 6 or not self.acquisition_time.isdigit():
            raise ValueError("acquisition_time must be HHMMSS")

    def grid(self) -> Grid:
        return Grid.centred(self.centre[0], self.centre[1], self.size)

    @property
    def collection(self) -> str:
        return COLLECTIONS[self.zarr_format]

    @property
    def has_boa_offset(self) -> bool:
        """Baseline >= 04.00 products carry the -1000 DN BOA offset (add_offset -0.1)."""
        return self.processing_baseline >= "04.00"

    def acquisitions(self) -> list[datetime]:
        hh, mm, ss = (int(self.acquisition_time[i : i + 2]) for i in (0, 2, 4))
        return sorted(datetime(d.year, d.month, d.day, hh, mm, ss, 24000, tzinfo=UTC) for d in self.dates)

    def changed(self, when: datetime | date) -> bool:
        """Whether the scripted canopy loss has happened at `when`."""
        day = when.date() if isinstance(when, datetime) else when
        return self.change_area is not None and day >= self.change_date

    def replace(self, **changes: Any) -> Scenario:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "centre": list(self.centre),
            "size": self.size,
            "chunk": self.chunk,
            "dates": [d.isoformat() for d in self.dates],
            "zarr_format": self.zarr_format,
            "seed": self.seed,
            "change_area": self.change_area,
            "change_date": self.change_date.isoformat(),
            "change_fraction": self.change_fraction,
            "tile": self.tile,
            "processing_baseline": self.processing_baseline,
            "cloud_fraction": self.cloud_fraction,
            "relative_orbit": self.relative_orbit,
            "collection": self.collection,
            "areas_path": str(self.areas_path) if self.areas_path else None,
        }
