"""A tile-year's per-pixel season composite and its per-area counts, one map chunk at a time.

Per chunk: the T scenes' class maps (uint8) and canopy fractions (float32) of the chunk are stacked,
`season_majority` gives each pixel's majority class and its number of valid dates, `season_composite`
the median canopy fraction over the same valid dates (the fraction is NaN exactly where the class is
INVALID or not processed). A pixel is valid in the composite when it has at least `min_valid_dates`
valid dates (the caller's figure: see `Compositor.valid_dates_needed`); otherwise it counts as INVALID.
Counting is `np.bincount` over (label x N_CLASSES + class) and the label with the fraction as weight:
about 45 ms for a 1830 x 1830 chunk on the 2-core development machine, against 140 ms for the two
composite kernels at 8 dates and about 600 ms per chunk in all (bench_composite: reading the 8 scenes'
chunks dominates), so a Numba per-label histogram would save at most ~7 %: none is written.

Memory: one chunk's stack, T x chunk pixels x 5 bytes (30 dates of a 1830 x 1830 chunk: 500 MB),
never the tile's whole stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from greenwatch import kernels
from greenwatch.kernels import N_CLASSES, PixelClass
from greenwatch.services.areas import LabelRaster
from greenwatch.services.composite._read import SceneMaps

COMPOSITE_VERSION = f"{kernels.SEASON_MAJORITY_VERSION}+{kernels.SEASON_MEDIAN_VERSION}"


@dataclass(frozen=True, eq=False)
class CompositeCounts:
    """Per area (global index): composite class counts, canopy fraction sums and pixels."""

    class_counts: NDArray[np.int64]  #: (n_areas, N_CLASSES); INVALID = fewer than min_valid_dates valid dates
    canopy_sum: NDArray[np.float64]  #: (n_areas,) median canopy fraction summed over valid pixels
    tree_canopy_sum: NDArray[np.float64]  #: (n_areas,) the same over pixels whose majority class is TREE
    chunks_read: int

    @property
    def area_pixels(self) -> NDArray[np.int64]:
        return np.asarray(self.class_counts.sum(axis=1), dtype=np.int64)

    @property
    def valid(self) -> NDArray[np.int64]:
        return self.area_pixels - self.class_counts[:, PixelClass.INVALID]


def composite_chunk(cls: NDArray[np.uint8], frac: NDArray[np.float32], min_valid_dates: int, *,
                    threads: int | None = None) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    """One window's composite: (class uint8, INVALID below `min_valid_dates`; canopy fraction float32,
    0 where invalid) from (T, H, W) stacks."""
    majority, n_valid = kernels.season_majority(cls, threads=threads)
    median, _ = kernels.season_composite(frac, threads=threads)
    valid = n_valid >= min_valid_dates
    composite = np.where(valid, majority, np.uint8(PixelClass.INVALID)).astype(np.uint8)
    fraction = np.where(valid & np.isfinite(median), median, np.float32(0.0)).astype(np.float32)
    return composite, fraction


def count_chunk(composite: NDArray[np.uint8], fraction: NDArray[np.float32], labels: NDArray[np.int32],
                n_areas: int) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]]:
    inside = labels >= 0
    lab = labels[inside].astype(np.int64)
    cls = composite[inside]
    frac = fraction[inside].astype(np.float64)
    counts = np.bincount(lab * N_CLASSES + cls, minlength=n_areas * N_CLASSES).reshape(n_areas, N_CLASSES)
    canopy = np.bincount(lab, weights=frac, minlength=n_areas).astype(np.float64, copy=False)
    tree_frac = np.where(cls == PixelClass.TREE, frac, 0.0)
    tree = np.bincount(lab, weights=tree_frac, minlength=n_areas).astype(np.float64, copy=False)
    return counts.astype(np.int64), canopy, tree


def composite_counts(scenes: Sequence[SceneMaps], raster: LabelRaster, n_areas: int, min_valid_dates: int, *,
                     threads: int | None = None, read_threads: int = 4) -> CompositeCounts:
    """Composite counts over every chunk of `raster` that touches an area (the others had no task)."""
    counts = np.zeros((n_areas, N_CLASSES), np.int64)
    canopy = np.zeros(n_areas, np.float64)
    tree = np.zeros(n_areas, np.float64)
    (ch, cw), (height, width) = raster.chunks, raster.grid.shape
    n = 0
    with ThreadPoolExecutor(max(1, read_threads), thread_name_prefix="gw-composite-read") as pool:
        for i, j in sorted(raster.chunk_areas):
            r0, c0 = i * ch, j * cw
            h, w = min(ch, height - r0), min(cw, width - c0)
            labels = raster.window(r0, c0, h, w)
            labelled = labels >= 0
            cls = np.empty((len(scenes), h, w), np.uint8)
            frac = np.empty((len(scenes), h, w), np.float32)
            reads = [pool.submit(s.window, r0, c0, h, w, labelled) for s in scenes]
            for t, f in enumerate(reads):
                cls[t], frac[t] = f.result()
            composite, fraction = composite_chunk(cls, frac, min_valid_dates, threads=threads)
            c, a, b = count_chunk(composite, fraction, labels, n_areas)
            counts += c
            canopy += a
            tree += b
            n += 1
    return CompositeCounts(counts, canopy, tree, n)
