"""Deterministic smooth random fields (value noise) that can be evaluated in row stripes.

A field is a lattice of random values every `spacing` pixels, interpolated with a smoothstep;
several octaves are summed. The lattice depends only on the seed and the full grid size, so a
stripe of rows evaluates to exactly the same values as the same rows of the whole field.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _smoothstep(t: np.ndarray) -> np.ndarray:
    return np.asarray(t * t * (3.0 - 2.0 * t))


def interpolate_lattice(lattice: np.ndarray, spacing: int, rows: slice, width: int) -> np.ndarray:
    """Smoothly interpolate `lattice` (values at pixels 0, spacing, 2*spacing, ...) on rows `rows`."""
    r0, r1 = rows.start or 0, rows.stop
    cols = np.arange(width, dtype=np.float64) / spacing
    c0 = np.floor(cols).astype(np.intp)
    wc = _smoothstep(cols - c0).astype(np.float32)
    # first along x for the lattice rows needed, then along y (two cheap gathers instead of four)
    rr = np.arange(r0, r1, dtype=np.float64) / spacing
    g0 = np.floor(rr).astype(np.intp)
    lat_rows = lattice[g0.min() : g0.max() + 2].astype(np.float32)
    along_x = lat_rows[:, c0] * (1.0 - wc) + lat_rows[:, c0 + 1] * wc
    wr = _smoothstep(rr - g0).astype(np.float32)[:, None]
    local = g0 - g0.min()
    return np.asarray(along_x[local] * (1.0 - wr) + along_x[local + 1] * wr, dtype=np.float32)


def value_noise(
    seed: Sequence[int] | int,
    shape: tuple[int, int],
    spacings: Sequence[int],
    rows: slice | None = None,
    gains: Sequence[float] | None = None,
) -> np.ndarray:
    """Sum of value-noise octaves (one per spacing, in pixels) on `rows` of a `shape` grid."""
    height, width = shape
    rows = rows or slice(0, height)
    gains = gains or [1.0 / (i + 1) for i in range(len(spacings))]
    out = np.zeros((rows.stop - (rows.start or 0), width), dtype=np.float32)
    base = [seed] if isinstance(seed, int) else list(seed)
    for octave, (spacing, gain) in enumerate(zip(spacings, gains, strict=True)):
        rng = np.random.default_rng([*base, 7919, octave])
        lattice = rng.standard_normal((height // spacing + 3, width // spacing + 3))
        out += np.float32(gain) * interpolate_lattice(lattice, spacing, rows, width)
    return out


def to_uniform(field: np.ndarray, sigma: float) -> np.ndarray:
    """Map a roughly normal field with std `sigma` to roughly uniform [0, 1] (logistic CDF)."""
    return np.asarray(1.0 / (1.0 + np.exp(-1.702 * field / np.float32(sigma))), dtype=np.float32)


def box3_neighbours(mask: np.ndarray) -> np.ndarray:
    """Fraction (0..1) of the 8 neighbours of each pixel that are set (edges padded with False)."""
    m = mask.astype(np.uint8)
    p = np.pad(m, 1)
    s = np.zeros(m.shape, dtype=np.uint8)
    h, w = m.shape
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            if dy == 1 and dx == 1:
                continue
            s += p[dy : dy + h, dx : dx + w]
    return s.astype(np.float32) / np.float32(8.0)
