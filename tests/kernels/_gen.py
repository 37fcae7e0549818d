"""Synthetic Sentinel-2 windows for the kernel tests: Hypothesis draws the shape, mode and seed,
NumPy draws the pixels (fast, and Hypothesis still shrinks shape and seed)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

#: Per-test settings (no global profile: other packages' tests are unaffected). No deadline: the
#: first example may include JIT compilation; no example database written into the repository.
KERNEL_SETTINGS = settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

MODES = ("mixed", "all_invalid", "all_water", "fill", "extreme", "dark")


@dataclass(frozen=True)
class Window:
    b03: npt.NDArray[np.uint16]
    b04: npt.NDArray[np.uint16]
    b08: npt.NDArray[np.uint16]
    scl: npt.NDArray[np.uint8]
    labels: npt.NDArray[np.int32]
    n_areas: int

    @property
    def bands(self) -> tuple[npt.NDArray[np.uint16], ...]:
        return self.b03, self.b04, self.b08


def make_window(h: int, w: int, mode: str, seed: int, n_areas: int = 4) -> Window:
    rng = np.random.default_rng(seed)
    shape = (h, w)
    scl_shape = ((h + 1) // 2, (w + 1) // 2)
    if mode == "extreme":
        pick = np.array([0, 1, 999, 1000, 1001, 2000, 65534, 65535], np.uint16)
        b03, b04, b08 = (rng.choice(pick, shape) for _ in range(3))
    elif mode == "dark":  # reflectance near or below 0 after the -0.1 offset
        b03, b04, b08 = (rng.integers(1, 1200, shape).astype(np.uint16) for _ in range(3))
    else:
        b03 = rng.integers(800, 3000, shape).astype(np.uint16)
        b04 = rng.integers(800, 3000, shape).astype(np.uint16)
        b08 = rng.integers(800, 6500, shape).astype(np.uint16)
    if mode == "fill":
        for band in (b03, b04, b08):
            band[rng.random(shape) < 0.2] = 0
    scl = rng.integers(0, 12, scl_shape).astype(np.uint8)
    if mode == "all_invalid":
        scl = rng.choice(np.array([0, 1, 3, 8, 9, 10, 11], np.uint8), scl_shape)
    elif mode == "all_water":
        scl = np.full(scl_shape, 6, np.uint8)
    labels = _runs(rng, shape, n_areas)
    return Window(b03, b04, b08, scl, labels, n_areas)


def _runs(rng: np.random.Generator, shape: tuple[int, int], n_areas: int) -> npt.NDArray[np.int32]:
    """Labels in runs of random length, including 'no area' values (-1 and n_areas + 1)."""
    h, w = shape
    out = np.empty(shape, np.int32)
    for i in range(h):
        j = 0
        while j < w:
            length = int(rng.integers(1, 90))
            out[i, j : j + length] = rng.integers(-1, n_areas + 2)
            j += length
    return out


@st.composite
def windows(draw: st.DrawFn, max_h: int = 24, max_w: int = 70) -> Window:
    h = draw(st.integers(1, max_h))
    w = draw(st.integers(1, max_w))
    mode = draw(st.sampled_from(MODES))
    seed = draw(st.integers(0, 2**32 - 1))
    n_areas = draw(st.integers(0, 6))
    return make_window(h, w, mode, seed, n_areas)
