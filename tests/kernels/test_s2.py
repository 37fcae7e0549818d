"""Sentinel-2 kernels: Numba == NumPy reference, bit for bit, for any shape, content and thread count."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from greenwatch.kernels import (
    AreaCounts,
    ClassifyParams,
    PixelClass,
    Radiometry,
    classify,
    classify_count,
    classify_ndvi,
    reference,
)

from ._gen import KERNEL_SETTINGS, Window, make_window, windows

PARAMS = ClassifyParams()
RADIOMETRY = Radiometry()
OTHER_PARAMS = ClassifyParams(ndvi_green=0.3, ndvi_tree=0.6, ndwi_water=0.1, ndvi_soil=0.1, ndvi_canopy=0.9,
                              invalid_scl=(0, 1, 8, 9), water_scl=6, version="test")  # fmt: skip


def assert_maps_equal(got: tuple[np.ndarray, np.ndarray], want: tuple[np.ndarray, np.ndarray]) -> None:
    assert got[0].dtype == np.uint8 and got[1].dtype == np.float32
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1].view(np.uint32), want[1].view(np.uint32))  # bit for bit


@KERNEL_SETTINGS
@given(win=windows(), threads=st.sampled_from([1, 2]), other=st.booleans())
def test_classify_equals_reference(win: Window, threads: int, other: bool) -> None:
    params = OTHER_PARAMS if other else PARAMS
    got = classify(*win.bands, win.scl, RADIOMETRY, params, threads=threads)
    assert_maps_equal(got, reference.classify(*win.bands, win.scl, RADIOMETRY, params))
    cls, frac = got
    assert np.isnan(frac[cls == PixelClass.INVALID]).all()
    valid = frac[cls != PixelClass.INVALID]
    assert ((valid >= 0) & (valid <= 1)).all()
    assert (frac[cls == PixelClass.WATER] == 0).all()


@KERNEL_SETTINGS
@given(win=windows(), other=st.booleans())
def test_classify_count_equals_reference_for_1_and_2_threads(win: Window, other: bool) -> None:
    params = OTHER_PARAMS if other else PARAMS
    args = (*win.bands, win.scl, win.labels, win.n_areas, RADIOMETRY, params)
    one = classify_count(*args, threads=1)
    two = classify_count(*args, threads=2)
    assert one == two  # integers and fixed-point canopy: identical, not just close
    assert one == reference.classify_count(*args)
    assert one.version == params.kernel_version


@KERNEL_SETTINGS
@given(win=windows(max_h=20, max_w=40), data=st.data())
def test_chunked_counts_add_up_to_the_whole(win: Window, data: st.DataObject) -> None:
    """A window split into chunks (at even offsets, where the 20 m grid aligns) sums to the whole."""
    h, w = win.b03.shape
    i = 2 * data.draw(st.integers(0, h // 2), label="row split / 2")
    j = 2 * data.draw(st.integers(0, w // 2), label="col split / 2")
    total = AreaCounts.zeros(win.n_areas, PARAMS.kernel_version)
    for rows in (slice(0, i), slice(i, h)):
        for cols in (slice(0, j), slice(j, w)):
            scl_rows = slice(rows.start // 2, (rows.stop + 1) // 2)
            scl_cols = slice(cols.start // 2, (cols.stop + 1) // 2)
            bands = [b[rows, cols] for b in win.bands]
            total = total + classify_count(
                *bands, win.scl[scl_rows, scl_cols], win.labels[rows, cols], win.n_areas, RADIOMETRY, PARAMS
            )
    assert total == classify_count(*win.bands, win.scl, win.labels, win.n_areas, RADIOMETRY, PARAMS)


@pytest.mark.parametrize("mode", ["all_invalid", "all_water", "fill", "extreme", "dark", "mixed"])
@pytest.mark.parametrize(("h", "w"), [(1, 1), (1, 2), (2, 1), (3, 5), (17, 33)])
def test_edge_cases(mode: str, h: int, w: int) -> None:
    win = make_window(h, w, mode, seed=h * 100 + w)
    assert_maps_equal(
        classify(*win.bands, win.scl, RADIOMETRY, PARAMS), reference.classify(*win.bands, win.scl, RADIOMETRY, PARAMS)
    )
    cls, _ = classify(*win.bands, win.scl, RADIOMETRY, PARAMS)
    if mode == "all_invalid":
        assert (cls == PixelClass.INVALID).all()
    if mode == "all_water":
        assert np.isin(cls, [PixelClass.WATER, PixelClass.INVALID]).all()


def test_long_rows_cross_block_boundaries() -> None:
    """Rows longer than the 2048-pixel counting block, runs spanning blocks, areas absent from blocks."""
    win = make_window(6, 4500, "mixed", seed=3, n_areas=3)
    labels = np.full(win.labels.shape, -1, np.int32)
    labels[:, 100:4100] = 1  # one run across two block boundaries
    labels[1, 2040:2060] = 2
    labels[2, :] = 0
    labels[3] = win.labels[3]
    args = (*win.bands, win.scl, labels, 3, RADIOMETRY, PARAMS)
    for threads in (1, 2):
        assert classify_count(*args, threads=threads) == reference.classify_count(*args)


def test_empty_and_no_area() -> None:
    win = make_window(4, 4, "mixed", seed=1)
    empty = np.zeros((0, 0), np.uint16)
    cls, frac = classify(empty, empty, empty, np.zeros((0, 0), np.uint8), RADIOMETRY, PARAMS)
    assert cls.shape == frac.shape == (0, 0)
    none = classify_count(*win.bands, win.scl, np.full((4, 4), -1, np.int32), 2, RADIOMETRY, PARAMS)
    assert none == AreaCounts.zeros(2, PARAMS.kernel_version)
    assert classify_count(*win.bands, win.scl, win.labels, 0, RADIOMETRY, PARAMS).n_areas == 0


def test_known_pixels() -> None:
    """Hand-computed pixels with the EOPF radiometry (reflectance = DN x 1e-4 - 0.1)."""
    rho = np.array(  # green, red, NIR reflectance, one 10 m pixel per row
        [
            [0.05, 0.03, 0.40],  # NDVI 0.86 -> TREE            } SCL pixel 0
            [0.08, 0.10, 0.25],  # NDVI 0.43 -> OTHER_GREEN     }
            [0.15, 0.20, 0.25],  # NDVI 0.11 -> NOT_GREEN       } SCL pixel 1
            [0.08, 0.05, 0.02],  # NDWI 0.6 -> WATER            }
            [0.05, 0.03, 0.40],  # tree, but the SCL decides    } SCL pixel 2
            [0.15, 0.20, 0.25],  # not green, but the SCL decides }
        ]
    )
    b03, b04, b08 = (np.round(rho[:, [k]] * 1e4 + 1000).astype(np.uint16) for k in range(3))
    cls, frac = classify(b03, b04, b08, np.array([[4], [5], [9]], np.uint8), RADIOMETRY, PARAMS)
    assert cls[:, 0].tolist() == [
        PixelClass.TREE, PixelClass.OTHER_GREEN, PixelClass.NOT_GREEN, PixelClass.WATER,
        PixelClass.INVALID, PixelClass.INVALID,
    ]  # fmt: skip
    assert frac[0, 0] == 1.0  # NDVI 0.86 >= canopy endmember 0.8
    assert frac[1, 0] == pytest.approx((0.15 / 0.35 - 0.2) / 0.6, abs=1e-6)
    assert frac[2, 0] == 0.0 and frac[3, 0] == 0.0
    assert np.isnan(frac[4:, 0]).all()
    cls_w, frac_w = classify(b03, b04, b08, np.array([[4], [5], [6]], np.uint8), RADIOMETRY, PARAMS)
    assert cls_w[4:, 0].tolist() == [PixelClass.WATER, PixelClass.WATER]
    assert (frac_w[4:, 0] == 0).all()
    b08_fill = b08.copy()
    b08_fill[0, 0] = 0
    assert classify(b03, b04, b08_fill, np.array([[4], [5], [6]], np.uint8), RADIOMETRY, PARAMS)[0][0, 0] == 0


@KERNEL_SETTINGS
@given(
    h=st.integers(1, 30),
    w=st.integers(1, 50),
    seed=st.integers(0, 2**32 - 1),
    threads=st.sampled_from([1, 2]),
)
def test_classify_ndvi_equals_reference(h: int, w: int, seed: int, threads: int) -> None:
    rng = np.random.default_rng(seed)
    ndvi = rng.uniform(-1, 1, (h, w)).astype(np.float32)
    ndvi[rng.random((h, w)) < 0.2] = np.nan
    ndvi[rng.random((h, w)) < 0.05] = np.inf
    ndvi[rng.random((h, w)) < 0.05] = np.float32(0.2)  # exactly on the threshold
    got = classify_ndvi(ndvi, PARAMS, threads=threads)
    assert_maps_equal(got, reference.classify_ndvi(ndvi, PARAMS))
    assert (got[0][~np.isfinite(ndvi)] == PixelClass.INVALID).all()


def test_classify_ndvi_is_the_same_decision_as_classify() -> None:
    """Where NDVI is computed from DNs, classify and classify_ndvi agree on every non-water pixel."""
    win = make_window(30, 31, "mixed", seed=11)
    cls, frac = classify(*win.bands, win.scl, RADIOMETRY, PARAMS)
    r, n = (b.astype(np.float32) for b in (win.b04, win.b08))
    ndvi = ((n - r) / ((n + r) + np.float32(RADIOMETRY.ratio_offset))).astype(np.float32)
    ncls, nfrac = classify_ndvi(ndvi, PARAMS)
    land = ~np.isin(cls, [PixelClass.INVALID, PixelClass.WATER]) & ((n + r) - 2000 > 0)
    np.testing.assert_array_equal(cls[land], ncls[land])
    np.testing.assert_array_equal(frac[land], nfrac[land])


def test_input_validation() -> None:
    win = make_window(4, 5, "mixed", seed=0)
    with pytest.raises(TypeError, match="uint16"):
        classify(win.b03.astype(np.int32), win.b04, win.b08, win.scl, RADIOMETRY, PARAMS)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="scl has shape"):
        classify(*win.bands, win.scl[:1], RADIOMETRY, PARAMS)
    with pytest.raises(ValueError, match="b04 has shape"):
        classify(win.b03, win.b04[:3], win.b08, win.scl, RADIOMETRY, PARAMS)
    with pytest.raises(ValueError, match="threads"):
        classify(*win.bands, win.scl, RADIOMETRY, PARAMS, threads=0)
    with pytest.raises(ValueError, match="out"):
        bad_out = (np.empty((4, 5), np.uint8), np.empty((4, 4), np.float32))
        classify(*win.bands, win.scl, RADIOMETRY, PARAMS, out=bad_out)


def test_out_buffers_are_reused_and_non_contiguous_inputs_accepted() -> None:
    win = make_window(8, 9, "mixed", seed=5)
    out = (np.empty((8, 9), np.uint8), np.empty((8, 9), np.float32))
    cls, frac = classify(*win.bands, win.scl, RADIOMETRY, PARAMS, out=out)
    assert cls is out[0] and frac is out[1]
    wide = [np.repeat(b, 2, axis=1)[:, ::2] for b in win.bands]  # non-contiguous views
    assert_maps_equal(classify(*wide, win.scl, RADIOMETRY, PARAMS), (cls, frac))
