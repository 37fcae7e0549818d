"""The Numba loops of the classification and counting kernels, and the scalar helpers they inline.

One module on purpose: Numba's on-disk cache (``cache=True``) is keyed on the source file of each
kernel only, so a helper edited in another file would leave stale machine code behind. Keeping the
helpers beside the kernels that inline them makes any edit here invalidate all of them. Constants
imported below (class codes, SCL codes, CANOPY_UNITS) are frozen into the cached code as well: after
changing one, touch this file (or delete ``kernels/__pycache__/*.nb?``).

Everything is float32 and branch-free so that LLVM vectorises the pixel loops (AVX2: 8 pixels per
iteration). DNs are converted to float32 exactly (uint16 < 2**24) and NDVI is one IEEE division, so
results equal the NumPy reference bit for bit. Compiled with ``error_model="numpy"`` (Numba's default
adds a zero-division branch to every float division, which stops vectorisation), and pixel loops
index slices from 0 (an index LLVM cannot prove non-negative gets negative-index wraparound code,
which also stops vectorisation).

The 20 m SCL is mapped through a 256-entry table once per 20 m row and written twice into a row
buffer that serves the two 10 m rows it covers; indexing ``scl[i >> 1, j >> 1]`` in the pixel loop
would stop vectorisation.

Per-area counting works on blocks of ``BLOCK`` pixels of a row: (1) find the runs of equal in-area
labels (blocks with no area are skipped), (2) classify the pixels spanned by the runs into two small
L1-resident buffers (class, canopy units), (3) per run, count classes in registers (packed in 12-bit
fields of one int64) and add them to the chunk's histogram once. No histogram update per pixel; one
histogram per chunk of rows (per thread), integers only, so any thread count gives the same result.
"""

from __future__ import annotations

import numpy as np

from ._classes import N_CLASSES, PixelClass
from ._counts import CANOPY_UNITS
from ._jit import FASTMATH, inline, jit, prange
from ._params import SCL_INVALID, SCL_WATER
from ._types import F32, I32, I64, U8, U16

_INVALID = int(PixelClass.INVALID)
_WATER = int(PixelClass.WATER)
_TREE = int(PixelClass.TREE)
_OTHER = int(PixelClass.OTHER_GREEN)
_NOT_GREEN = int(PixelClass.NOT_GREEN)

#: Bits per class in the packed run counter (5 classes x 12 bits fit one int64).
PACK_BITS = 12
_PACK_MASK = (1 << PACK_BITS) - 1
#: Pixels per block of a row: the block buffers stay in L1, and a run within a block never
#: overflows a 12-bit packed field.
BLOCK = 2048
_UNITS = np.float32(CANOPY_UNITS)
_NAN32 = np.float32(np.nan)


@inline
def ndvi_class(ndvi: np.float32, t_green: np.float32, t_tree: np.float32) -> int:
    """TREE above ``t_tree``, OTHER_GREEN from ``t_green`` up, NOT_GREEN below (finite NDVI)."""
    veg = _OTHER if ndvi >= t_green else _NOT_GREEN
    return _TREE if ndvi > t_tree else veg


@inline
def canopy_fraction(ndvi: np.float32, soil: np.float32, inv_span: np.float32) -> np.float32:
    """(ndvi - soil) / (canopy - soil), clipped to 0..1."""
    f = (ndvi - soil) * inv_span
    zero = np.float32(0.0)
    one = np.float32(1.0)
    f = zero if f < zero else f
    return one if f > one else f


@inline
def canopy_units(frac: np.float32) -> np.int32:
    """Fixed-point canopy fraction, truncated to 1/2**24 of a pixel (frac must be finite)."""
    return np.int32(frac * _UNITS)


@inline
def s2_pixel(
    g: np.uint16,
    r: np.uint16,
    n: np.uint16,
    code: np.uint8,
    k: np.float32,
    t_green: np.float32,
    t_tree: np.float32,
    t_water: np.float32,
    soil: np.float32,
    inv_span: np.float32,
) -> tuple[int, np.float32]:
    """Class and canopy fraction of one pixel from DNs and its 20 m SCL code.

    Returns (class, fraction); the fraction is finite for every pixel: 0 for water and for INVALID
    (where :func:`classify` writes NaN), so counting kernels can sum it without a test.
    """
    zero = np.float32(0.0)
    one = np.float32(1.0)
    fg = np.float32(g)
    fr = np.float32(r)
    fn = np.float32(n)
    den = (fn + fr) + k
    pos = den > zero
    ndvi = (fn - fr) / (den if pos else one)
    ndvi = ndvi if pos else zero
    den_w = (fg + fn) + k
    water = (code == SCL_WATER) | ((den_w > zero) & ((fg - fn) > t_water * den_w))
    bad = (code == SCL_INVALID) | (g == 0) | (r == 0) | (n == 0)
    veg = ndvi_class(ndvi, t_green, t_tree)
    frac = canopy_fraction(ndvi, soil, inv_span)
    cls = _WATER if water else veg
    cls = _INVALID if bad else cls
    frac = zero if (water | bad) else frac
    return cls, frac


@inline
def expand_scl_row(scl_row: U8, lut: U8, out: U8) -> None:
    """Map one 20 m SCL row through ``lut`` and write each code twice (the 10 m row, no 2-D copy)."""
    for jj in range(scl_row.shape[0]):
        c = lut[scl_row[jj]]
        out[2 * jj] = c
        out[2 * jj + 1] = c


@inline
def run_end(lab: I32, start: int, stop: int) -> int:
    """End (exclusive, <= ``stop``) of the run of equal labels that begins at ``start``."""
    label = lab[start]
    e = start + 1
    while e + 64 <= stop:  # whole 64-pixel steps while the label does not change
        step = lab[e : e + 64]  # slices: loop indices from 0 (no negative-index wraparound code)
        diff = 0
        for m in range(64):
            diff |= step[m] ^ label
        if diff != 0:
            break
        e += 64
    while e < stop and lab[e] == label:
        e += 1
    return e


@inline
def add_packed(hist_row: I64, packed: np.int64) -> None:
    """Add the per-class counts held in 12-bit fields of ``packed`` to ``hist_row``."""
    for c in range(hist_row.shape[0]):
        hist_row[c] += (packed >> (PACK_BITS * c)) & _PACK_MASK


@inline
def find_runs(lab: I32, b0: int, b1: int, n_areas: int, runs: I64) -> tuple[int, int, int]:
    """Runs of equal in-area labels in ``lab[b0:b1]`` into ``runs`` rows (start, stop, area).

    Returns (number of runs, lo, hi): pixels [lo, hi) hold every run; lo >= hi when none.
    """
    n_runs = 0
    lo = b1
    hi = b0
    j = b0
    while j < b1:
        e = run_end(lab, j, b1)
        area = lab[j]
        if 0 <= area < n_areas:
            runs[n_runs, 0] = j
            runs[n_runs, 1] = e
            runs[n_runs, 2] = area
            n_runs += 1
            lo = min(lo, j)
            hi = e
        j = e
    return n_runs, lo, hi


@inline
def add_runs(runs: I64, n_runs: int, b0: int, cls_buf: U8, unit_buf: I32, hist: I64, units: I64) -> None:
    """Count each run's classes in registers, then add them to the histogram once per run."""
    for x in range(n_runs):
        cls_run = cls_buf[runs[x, 0] - b0 : runs[x, 1] - b0]
        unit_run = unit_buf[runs[x, 0] - b0 : runs[x, 1] - b0]
        packed = np.int64(0)
        q = np.int64(0)
        for m in range(cls_run.shape[0]):
            packed += 1 << (PACK_BITS * np.int64(cls_run[m]))
            q += unit_run[m]
        add_packed(hist[runs[x, 2]], packed)
        units[runs[x, 2]] += q


@jit(parallel=True, fastmath=FASTMATH)
def classify_kernel(
    b03: U16, b04: U16, b08: U16, scl: U8, lut: U8,
    k: np.float32, tg: np.float32, tt: np.float32, tw: np.float32, soil: np.float32, inv: np.float32,
    cls_out: U8, frac_out: F32,
) -> None:  # fmt: skip
    h, w = b03.shape
    for s in prange(scl.shape[0]):
        codes = np.empty(2 * scl.shape[1], np.uint8)
        expand_scl_row(scl[s], lut, codes)
        for i in range(2 * s, min(2 * s + 2, h)):
            g, r, n, co, fo = b03[i], b04[i], b08[i], cls_out[i], frac_out[i]
            for j in range(w):
                c, f = s2_pixel(g[j], r[j], n[j], codes[j], k, tg, tt, tw, soil, inv)
                co[j] = c
                fo[j] = _NAN32 if c == 0 else f


@jit(parallel=True, fastmath=FASTMATH)
def count_kernel(
    b03: U16, b04: U16, b08: U16, scl: U8, labels: I32, n_areas: int, lut: U8, n_chunks: int,
    k: np.float32, tg: np.float32, tt: np.float32, tw: np.float32, soil: np.float32, inv: np.float32,
) -> tuple[I64, I64]:  # fmt: skip
    h, w = b03.shape
    n_scl = scl.shape[0]
    n_chunks = max(1, min(n_chunks, n_scl))
    hist = np.zeros((n_chunks, n_areas, N_CLASSES), np.int64)
    units = np.zeros((n_chunks, n_areas), np.int64)
    for t in prange(n_chunks):  # one histogram per chunk of rows: no contention
        codes = np.empty(2 * scl.shape[1], np.uint8)
        cls_buf = np.empty(BLOCK, np.uint8)
        unit_buf = np.empty(BLOCK, np.int32)
        runs = np.empty((BLOCK, 3), np.int64)
        for s in range(t * n_scl // n_chunks, (t + 1) * n_scl // n_chunks):
            expanded = False
            for i in range(2 * s, min(2 * s + 2, h)):
                g, r, n, lab = b03[i], b04[i], b08[i], labels[i]
                for b0 in range(0, w, BLOCK):
                    n_runs, lo, hi = find_runs(lab, b0, min(b0 + BLOCK, w), n_areas, runs)
                    if n_runs == 0:
                        continue  # no area here: skip the pixels
                    if not expanded:
                        expand_scl_row(scl[s], lut, codes)
                        expanded = True
                    gs, rs, ns, cs = g[lo:hi], r[lo:hi], n[lo:hi], codes[lo:hi]
                    cb, ub = cls_buf[lo - b0 : hi - b0], unit_buf[lo - b0 : hi - b0]
                    for m in range(hi - lo):
                        c, f = s2_pixel(gs[m], rs[m], ns[m], cs[m], k, tg, tt, tw, soil, inv)
                        cb[m] = c
                        ub[m] = canopy_units(f)
                    add_runs(runs, n_runs, b0, cls_buf, unit_buf, hist[t], units[t])
    return hist.sum(axis=0), units.sum(axis=0)


@jit(parallel=True)
def classify_ndvi_kernel(
    ndvi: F32, tg: np.float32, tt: np.float32, soil: np.float32, inv: np.float32, cls_out: U8, frac_out: F32
) -> None:
    h, w = ndvi.shape
    big = np.float32(3.0e38)
    for i in prange(h):
        for j in range(w):
            v = ndvi[i, j]
            ok = (v >= -big) & (v <= big)  # False for NaN and +-inf
            c = ndvi_class(v, tg, tt)
            f = canopy_fraction(v, soil, inv)
            cls_out[i, j] = c if ok else 0
            frac_out[i, j] = f if ok else _NAN32


@jit(parallel=True)
def lut_count_kernel(
    values: U8, labels: I32, n_areas: int, cls_lut: U8, unit_lut: I32, n_chunks: int
) -> tuple[I64, I64]:
    """Per-area counts of ``cls_lut[v]`` and sums of ``unit_lut[v]``; one histogram per row chunk."""
    h, w = values.shape
    n_chunks = max(1, min(n_chunks, h))
    hist = np.zeros((n_chunks, n_areas, N_CLASSES), np.int64)
    units = np.zeros((n_chunks, n_areas), np.int64)
    for t in prange(n_chunks):
        cls_buf = np.empty(BLOCK, np.uint8)
        unit_buf = np.empty(BLOCK, np.int32)
        runs = np.empty((BLOCK, 3), np.int64)
        for i in range(t * h // n_chunks, (t + 1) * h // n_chunks):
            v, lab = values[i], labels[i]
            for b0 in range(0, w, BLOCK):
                n_runs, lo, hi = find_runs(lab, b0, min(b0 + BLOCK, w), n_areas, runs)
                vs, cb, ub = v[lo:hi], cls_buf[lo - b0 : hi - b0], unit_buf[lo - b0 : hi - b0]
                for m in range(hi - lo):
                    cb[m] = cls_lut[vs[m]]
                    ub[m] = unit_lut[vs[m]]
                add_runs(runs, n_runs, b0, cls_buf, unit_buf, hist[t], units[t])
    return hist.sum(axis=0), units.sum(axis=0)
