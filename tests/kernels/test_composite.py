"""Season composites: median NDVI and majority class with valid-observation counts."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from greenwatch.kernels import PixelClass, reference, season_composite, season_majority

from ._gen import KERNEL_SETTINGS


@KERNEL_SETTINGS
@given(
    t=st.integers(0, 12),
    h=st.integers(1, 12),
    w=st.integers(1, 25),
    p_invalid=st.sampled_from([0.0, 0.3, 1.0]),
    seed=st.integers(0, 2**32 - 1),
    threads=st.sampled_from([1, 2]),
)
def test_median_equals_reference_and_nanmedian(
    t: int, h: int, w: int, p_invalid: float, seed: int, threads: int
) -> None:
    rng = np.random.default_rng(seed)
    stack = rng.uniform(-0.2, 0.9, (t, h, w)).astype(np.float32)
    stack[rng.random(stack.shape) < p_invalid] = np.nan
    stack[rng.random(stack.shape) < 0.02] = -np.inf
    med, cnt = season_composite(stack, threads=threads)
    ref_med, ref_cnt = reference.season_composite(stack)
    assert med.dtype == np.float32 and cnt.dtype == np.int16
    np.testing.assert_array_equal(med.view(np.uint32), ref_med.view(np.uint32))  # bit for bit
    np.testing.assert_array_equal(cnt, ref_cnt)
    finite = np.where(np.isfinite(stack), stack, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices
        np.testing.assert_allclose(med, np.nanmedian(finite, axis=0), rtol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(cnt, np.isfinite(stack).sum(axis=0))


@KERNEL_SETTINGS
@given(
    t=st.integers(0, 12),
    h=st.integers(1, 12),
    w=st.integers(1, 25),
    seed=st.integers(0, 2**32 - 1),
    threads=st.sampled_from([1, 2]),
)
def test_majority_equals_reference(t: int, h: int, w: int, seed: int, threads: int) -> None:
    rng = np.random.default_rng(seed)
    stack = rng.integers(0, 7, (t, h, w)).astype(np.uint8)  # 5, 6: out-of-range codes count as invalid
    got = season_majority(stack, threads=threads)
    want = reference.season_majority(stack)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


def test_majority_ties_and_empty() -> None:
    stack = np.array([[[2, 0, 0]], [[3, 0, 4]], [[3, 0, 4]], [[2, 0, 0]]], np.uint8)  # (T=4, 1, 3)
    cls, cnt = season_majority(stack)
    assert cls[0].tolist() == [PixelClass.TREE, PixelClass.INVALID, PixelClass.NOT_GREEN]  # tie -> lowest code
    assert cnt[0].tolist() == [4, 0, 2]


def test_median_known_values() -> None:
    nan = np.nan
    stack = np.array([[[0.1, nan, 0.3]], [[0.5, nan, nan]], [[0.2, nan, 0.1]], [[nan, nan, nan]]], np.float32)
    med, cnt = season_composite(stack)
    assert med[0, 0] == np.float32(0.2)
    assert np.isnan(med[0, 1])
    assert med[0, 2] == np.float32(0.2)  # (0.1 + 0.3) / 2 in float32
    assert cnt[0].tolist() == [3, 0, 2]


def test_stack_validation() -> None:
    with pytest.raises(ValueError, match="3-D"):
        season_composite(np.zeros((2, 2), np.float32))
    with pytest.raises(TypeError, match="float32"):
        season_composite(np.zeros((1, 2, 2), np.float64))
