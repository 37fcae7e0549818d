"""Small statistics the rules need, written out so that every figure in a state can be traced to a
formula: the Mann-Kendall trend test, the Theil-Sen slope and a bootstrap standard error of a median.

* Mann-Kendall ("original test", Mann 1945, Kendall 1975; as in Hussain & Mahmud's pymannkendall):
  S = sum over i < j of sign(x_j - x_i); Var(S) = (n(n-1)(2n+5) - sum over tie groups of
  t(t-1)(2t+5)) / 18; Z = (S - sign(S)) / sqrt(Var(S)) (continuity correction); two-sided
  p = erfc(|Z| / sqrt 2); Kendall's tau = S / (n(n-1)/2). The normal approximation is coarse below
  about 8 values; with 4 values no p-value can go below 0.08, so `Rules.mk_min_years` guards it.
* Theil-Sen: the median of the pairwise slopes (x_j - x_i) / (t_j - t_i); intercept median(x) -
  slope * median(t). Robust to one bad year, which a least-squares slope is not.
* Bootstrap: the standard deviation of the medians of `n_boot` resamples with replacement, seeded from
  the values themselves, so the same observations always give the same figure (states are compared
  and re-emitted by content; a random seed would make every redelivery look like news).
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections import Counter
from dataclasses import dataclass
from statistics import median

import numpy as np


@dataclass(frozen=True)
class MannKendall:
    n: int
    s: int
    var_s: float
    z: float
    p: float
    tau: float
    slope: float  # Theil-Sen, units of x per unit of t
    intercept: float
    alpha: float

    @property
    def trend(self) -> str:
        """'increasing', 'decreasing' or 'no trend' at the test's alpha."""
        if self.p < self.alpha and self.s > 0:
            return "increasing"
        if self.p < self.alpha and self.s < 0:
            return "decreasing"
        return "no trend"


def theil_sen(t: list[float], x: list[float]) -> tuple[float, float]:
    """Slope and intercept (median of pairwise slopes); pairs with equal t are skipped."""
    slopes = [(x[j] - x[i]) / (t[j] - t[i]) for i in range(len(x)) for j in range(i + 1, len(x)) if t[j] != t[i]]
    if not slopes:
        return 0.0, float(median(x)) if x else 0.0
    slope = float(median(slopes))
    return slope, float(median(x) - slope * median(t))


def mann_kendall(t: list[float], x: list[float], alpha: float = 0.05) -> MannKendall:
    """The two-sided Mann-Kendall test of `x` ordered by `t`, with the Theil-Sen slope."""
    if len(t) != len(x):
        raise ValueError("t and x differ in length")
    order = sorted(range(len(t)), key=lambda i: t[i])
    ts, xs = [float(t[i]) for i in order], [float(x[i]) for i in order]
    n = len(xs)
    s = sum((xs[j] > xs[i]) - (xs[j] < xs[i]) for i in range(n) for j in range(i + 1, n))
    ties = sum(c * (c - 1) * (2 * c + 5) for c in Counter(xs).values() if c > 1)
    var_s = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    z = 0.0 if s == 0 or var_s <= 0 else (s - math.copysign(1, s)) / math.sqrt(var_s)
    p = math.erfc(abs(z) / math.sqrt(2.0))
    pairs = n * (n - 1) / 2
    slope, intercept = theil_sen(ts, xs)
    return MannKendall(n=n, s=int(s), var_s=var_s, z=z, p=p, tau=s / pairs if pairs else 0.0,
                       slope=slope, intercept=intercept, alpha=alpha)


def _seed(values: list[float]) -> int:
    digest = hashlib.sha256(b"".join(struct.pack("<d", v) for v in values)).digest()
    return int.from_bytes(digest[:8], "little")


def bootstrap_se_median(values: list[float], n_boot: int = 1000) -> float:
    """Standard error of the median by bootstrap (0 for fewer than two values)."""
    if len(values) < 2:
        return 0.0
    arr = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(_seed(values))
    idx = rng.integers(0, len(arr), size=(n_boot, len(arr)))
    return float(np.median(arr[idx], axis=1).std(ddof=1))
