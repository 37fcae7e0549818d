"""Real-data check: green / not-green from real Sentinel-2 NDVI against the Slovenian land-use register.

Data: ``shared/data/pixels/eo-learn_TestEOPatch`` (eo-learn example patch, 101 x 100 px at 10 m south
of Ljubljana, 68 dates 2015-07 .. 2017-12, NDVI from Level-1C, s2cloudless mask). Reference:
``LULC.npy`` rasterised from RABA. Green = cultivated (1), forest (2), grassland (3), shrubland (4),
wetland (6); not green = artificial (8), bare (9); no data (0) is not scored. 9,945 pixels scored:
9,747 green, 198 not green (mostly 1-pixel-wide roads through grassland and a small built-up
cluster).

Decision under test: :func:`classify_ndvi` with the default :class:`ClassifyParams` (NDVI >= 0.2 green),
on single dates and on :func:`season_composite` medians. Cloudy pixels (CLM) are NaN (invalid).

Measured (this data, default parameters):

* multi-date, median of the 22 clear-sky observations April-September 2017 (13..22 per pixel):
  agreement 0.9801, green recall 1.000, not-green recall 0.000; the same 0.980 for 2016 Apr-Sep,
  all of 2017 and all 68 dates.
* single dates (30 dates with >= 95 % clear pixels): agreement min 0.471 (2016-01-17), median
  0.980, max 0.983. Winter dates fail (grassland and cultivated land drop below NDVI 0.2 in
  January), which is why the annual indicator uses the growing-season composite.

Limits, stated rather than hidden: 0.980 equals the share of green pixels (the "everything is green"
baseline), because at 10 m the RABA 'artificial' pixels are mixed road/garden pixels whose summer
NDVI is ~0.55 (median); the split's not-green side is not demonstrated by this patch. The NDVI is
top-of-atmosphere (L1C), a little lower than the L2A NDVI the product uses.

Floors, a few points below the measurements: composite agreement >= 0.95 and green recall >= 0.97
(a threshold, NaN or composite bug shows up as green pixels lost); every composite pixel must be
valid (cover 1.0); and the composite must beat the worst single date by a wide margin (>= 0.3).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from greenwatch.kernels import ClassifyParams, PixelClass, classify_ndvi, season_composite

PATCH = "pixels/eo-learn_TestEOPatch"
GREEN_LULC = (1, 2, 3, 4, 6)
NOT_GREEN_LULC = (8, 9)
GROWING_SEASON = ("04", "05", "06", "07", "08", "09")


@dataclass(frozen=True)
class Agreement:
    agreement: float  #: share of scored, validly classified pixels whose green/not-green matches
    green_recall: float
    not_green_recall: float
    cover: float  #: share of scored pixels with a valid (non-INVALID) classification

    def line(self) -> str:
        return (
            f"agreement {self.agreement:.4f}  green recall {self.green_recall:.3f}  "
            f"not-green recall {self.not_green_recall:.3f}  cover {self.cover:.3f}"
        )


@dataclass(frozen=True)
class Patch:
    ndvi: npt.NDArray[np.float32]  #: (T, H, W), NaN where cloudy
    dates: list[str]
    lulc: npt.NDArray[np.uint16]

    def score(self, ndvi: npt.NDArray[np.float32]) -> Agreement:
        cls, _ = classify_ndvi(ndvi, ClassifyParams())
        ref_green = np.isin(self.lulc, GREEN_LULC)
        scored = ref_green | np.isin(self.lulc, NOT_GREEN_LULC)
        valid = scored & (cls != PixelClass.INVALID)
        green = np.isin(cls, (PixelClass.TREE, PixelClass.OTHER_GREEN))
        return Agreement(
            agreement=float((green == ref_green)[valid].mean()),
            green_recall=float(green[valid & ref_green].mean()),
            not_green_recall=float((~green)[valid & ~ref_green].mean()),
            cover=float(valid.sum() / scored.sum()),
        )

    def clear_dates(self, min_clear: float = 0.95) -> list[int]:
        scored = self.lulc > 0
        return [t for t in range(len(self.dates)) if np.isfinite(self.ndvi[t][scored]).mean() >= min_clear]

    def season(self, year: str) -> npt.NDArray[np.bool_]:
        return np.array([d.startswith(year) and d[5:7] in GROWING_SEASON for d in self.dates])


def load_patch(data: Path) -> Patch:
    root = data / PATCH
    ndvi = np.load(root / "data/NDVI.npy")[..., 0]
    clear = np.load(root / "mask/IS_VALID.npy")[..., 0] & (np.load(root / "mask/CLM.npy")[..., 0] == 0)
    dates = [t[:10] for t in json.loads((root / "timestamps.json").read_text())]
    lulc = np.load(root / "mask_timeless/LULC.npy")[..., 0]
    return Patch(np.where(clear, ndvi, np.nan).astype(np.float32), dates, lulc)


@pytest.fixture(scope="module")
def patch(shared_data: Path) -> Patch:
    return load_patch(shared_data)


def report(patch: Patch) -> dict[str, Agreement]:
    """Every figure quoted in the module docstring."""
    out = {f"single {patch.dates[t]}": patch.score(patch.ndvi[t]) for t in patch.clear_dates()}
    for year in ("2016", "2017"):
        median, _ = season_composite(patch.ndvi[patch.season(year)])
        out[f"composite {year} Apr-Sep"] = patch.score(median)
    median, _ = season_composite(patch.ndvi)
    out["composite all 68 dates"] = patch.score(median)
    return out


def test_multi_date_green_split_agrees_with_land_use(patch: Patch) -> None:
    season = patch.season("2017")
    median, count = season_composite(patch.ndvi[season])
    scored = patch.lulc > 0
    assert int(season.sum()) == 22
    assert int(count[scored].min()) >= 10  # every pixel has many clear observations
    got = patch.score(median)
    print(f"\ncomposite 2017 Apr-Sep: {got.line()}")
    assert got.cover == 1.0
    assert got.agreement >= 0.95  # measured 0.9801
    assert got.green_recall >= 0.97  # measured 1.000


def test_single_dates_vary_and_the_composite_is_robust(patch: Patch) -> None:
    singles = {patch.dates[t]: patch.score(patch.ndvi[t]) for t in patch.clear_dates()}
    agreements = np.array([a.agreement for a in singles.values()])
    print(
        f"\nsingle clear dates: n={len(singles)} min {agreements.min():.4f} "
        f"median {np.median(agreements):.4f} max {agreements.max():.4f}"
    )
    assert len(singles) == 30
    assert np.median(agreements) >= 0.95  # measured 0.9801: summer dates agree
    median, _ = season_composite(patch.ndvi[patch.season("2017")])
    assert patch.score(median).agreement >= agreements.min() + 0.3  # worst date 0.471 (January)


if __name__ == "__main__":  # python tests/kernels/test_real_data.py: print every figure
    for name, agreement in report(load_patch(Path(__file__).parents[2].parent / "shared/data")).items():
        print(f"{name:28s} {agreement.line()}")
