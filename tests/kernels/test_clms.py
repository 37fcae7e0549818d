"""CLMS layers through the per-area aggregation path: CLC+ Backbone classes and Tree Cover Density."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from greenwatch.kernels import CLCPLUS_VERSION, PixelClass, clcplus_count, reference, tcd_count

from ._gen import KERNEL_SETTINGS

CLCPLUS_CLIP = "clms/clcplus_backbone_2023_ojcowski/CLCplusBB_Ojcowski_National_Park_3035.tif"


def _labels(rng: np.random.Generator, shape: tuple[int, int], n_areas: int) -> np.ndarray:
    cols = np.sort(rng.integers(0, shape[1] + 1, 3))
    labels = np.full(shape, -1, np.int32)
    labels[:, cols[0] : cols[1]] = rng.integers(0, n_areas + 1)
    labels[:, cols[1] : cols[2]] = rng.integers(-2, n_areas)
    labels[rng.random(shape) < 0.05] = n_areas  # scattered "no area" pixels
    return labels


@KERNEL_SETTINGS
@given(
    h=st.integers(1, 30),
    w=st.integers(1, 60),
    n_areas=st.integers(0, 4),
    seed=st.integers(0, 2**32 - 1),
    threads=st.sampled_from([1, 2]),
)
def test_clms_counts_equal_reference(h: int, w: int, n_areas: int, seed: int, threads: int) -> None:
    rng = np.random.default_rng(seed)
    labels = _labels(rng, (h, w), n_areas)
    classes = rng.choice(np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 253, 254, 255], np.uint8), (h, w))
    assert clcplus_count(classes, labels, n_areas, threads=threads) == reference.clcplus_count(classes, labels, n_areas)
    tcd = rng.integers(0, 256, (h, w)).astype(np.uint8)
    tcd[rng.random((h, w)) < 0.5] = rng.integers(0, 101)
    for threshold in (10, 30):
        got = tcd_count(tcd, labels, n_areas, tree_threshold=threshold, threads=threads)
        assert got == reference.tcd_count(tcd, labels, n_areas, tree_threshold=threshold)


def test_clcplus_mapping() -> None:
    codes = np.array([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 253, 254, 255]], np.uint8)
    counts = clcplus_count(codes, np.zeros(codes.shape, np.int32), 1)
    expected = {  # INVALID: 0, 12, 253, 254, 255; TREE: 2, 3, 4; OTHER_GREEN: 5, 6, 8; NOT_GREEN: 1, 7, 9, 11
        PixelClass.INVALID: 5,
        PixelClass.WATER: 1,
        PixelClass.TREE: 3,
        PixelClass.OTHER_GREEN: 3,
        PixelClass.NOT_GREEN: 4,
    }
    assert {PixelClass(c): int(n) for c, n in enumerate(counts.class_counts[0])} == expected
    assert counts.valid.tolist() == [11]
    assert counts.canopy_sum.tolist() == [3.0]
    assert counts.version == CLCPLUS_VERSION


def test_tcd_canopy_sum_and_nodata() -> None:
    tcd = np.array([[0, 9, 10, 50, 100, 101, 254, 255]], np.uint8)
    labels = np.array([[0, 0, 0, 0, 0, 0, 0, 1]], np.int32)
    counts = tcd_count(tcd, labels, 2)
    assert counts.valid.tolist() == [5, 0]
    assert counts.canopy_sum.tolist() == [(0 + 9 + 10 + 50 + 100) / 100, 0.0]
    assert counts.class_counts[0, PixelClass.TREE] == 3  # 10, 50, 100 (>= 10 %)
    assert counts.class_counts[0, PixelClass.NOT_GREEN] == 2
    assert counts.class_counts[0, PixelClass.INVALID] == 2
    assert counts.class_counts[1, PixelClass.INVALID] == 1
    assert counts.version == "tcd-1.0.0+t10"
    with pytest.raises(ValueError, match="tree_threshold"):
        tcd_count(tcd, labels, 2, tree_threshold=101)


def test_real_clcplus_clip(shared_data: Path) -> None:
    """The Ojcow National Park CLC+ Backbone 2023 clip: figures from its PROVENANCE.md.

    215,868 pixels inside the park (0 outside is a clip fill -> INVALID); classes 2+3 trees,
    6 permanent herbaceous + 5 shrubs green, 1 sealed + 7 periodically herbaceous + 9 sparse not green,
    113 water pixels.
    """
    image = pytest.importorskip("PIL.Image")  # Pillow comes with matplotlib
    with image.open(shared_data / CLCPLUS_CLIP) as im:  # uint8 GeoTIFF, uncompressed strips, palette
        classes = np.array(im)
    assert classes.shape == (983, 863) and classes.dtype == np.uint8
    labels = np.zeros(classes.shape, np.int32)
    labels[:, 431:] = 1  # west / east halves
    got = clcplus_count(classes, labels, 2)
    assert got == reference.clcplus_count(classes, labels, 2)
    total = got.class_counts.sum(axis=0)
    assert int(got.valid.sum()) == 215_868
    assert total[PixelClass.TREE] == 37_444 + 141_379
    assert total[PixelClass.OTHER_GREEN] == 57 + 30_583
    assert total[PixelClass.NOT_GREEN] == 2_254 + 3_992 + 46
    assert total[PixelClass.WATER] == 113
    assert float(got.canopy_sum.sum()) == 178_823.0  # canopy area = 178,823 x 100 m2 = 17.9 km2
