"""Contracts as data, versions, AreaCounts merging, and the public API surface."""

from __future__ import annotations

import json

import numpy as np
import pytest

import greenwatch.kernels as gk
from greenwatch.kernels import CONTRACTS, N_CLASSES, AreaCounts, ClassifyParams, PixelClass


def test_public_api() -> None:
    for name in gk.__all__:
        assert hasattr(gk, name), name
    assert [int(c) for c in PixelClass] == [0, 1, 2, 3, 4]
    assert N_CLASSES == 5


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_contract_is_serialisable_data(name: str) -> None:
    contract = CONTRACTS[name]
    doc = json.loads(json.dumps(contract.as_dict()))
    assert doc["name"] == name
    assert doc["version"]
    assert doc["inputs"] and doc["outputs"]
    for spec in doc["inputs"] + doc["outputs"]:
        np.dtype(spec["dtype"])  # a real dtype name


def test_s2_contracts_carry_the_default_kernel_version() -> None:
    version = ClassifyParams().kernel_version
    for name in ("classify", "classify_count", "classify_ndvi"):
        assert CONTRACTS[name].version == version
    scl = next(s for s in CONTRACTS["classify"].inputs if s.name == "scl")
    assert scl.resolution_m == 20.0 and scl.dtype == "uint8"


def _counts(seed: int, n: int = 3, version: str = "v") -> AreaCounts:
    rng = np.random.default_rng(seed)
    class_counts = rng.integers(0, 100, (n, N_CLASSES)).astype(np.int64)
    units = rng.integers(0, 1000, n).astype(np.int64)
    return AreaCounts.from_totals(class_counts, units, 10, version)


def test_area_counts_add() -> None:
    a, b = _counts(1), _counts(2)
    total = a + b
    np.testing.assert_array_equal(total.class_counts, a.class_counts + b.class_counts)
    np.testing.assert_array_equal(total.valid, a.valid + b.valid)
    np.testing.assert_array_equal(total.valid, total.class_counts[:, 1:].sum(axis=1))
    np.testing.assert_allclose(total.canopy_sum, a.canopy_sum + b.canopy_sum)
    assert total.version == "v"
    assert a + AreaCounts.zeros(3) == a
    with pytest.raises(ValueError, match="areas"):
        a + _counts(3, n=4)
    with pytest.raises(ValueError, match="versions"):
        a + _counts(3, version="w")


def test_area_counts_validate_shapes() -> None:
    with pytest.raises(ValueError, match="class_counts"):
        AreaCounts(np.zeros((2, 4), np.int64), np.zeros(2, np.int64), np.zeros(2))
    with pytest.raises(ValueError, match="valid"):
        AreaCounts(np.zeros((2, 5), np.int64), np.zeros(3, np.int64), np.zeros(2))
    with pytest.raises(ValueError, match="canopy_sum"):
        AreaCounts(np.zeros((2, 5), np.int64), np.zeros(2, np.int64), np.zeros(2, np.float32))  # type: ignore[arg-type]


def test_num_threads_restores() -> None:
    import numba

    before = numba.get_num_threads()
    with gk.num_threads(1) as n:
        assert n == 1 == numba.get_num_threads()
    assert numba.get_num_threads() == before
    with gk.num_threads(10_000) as n:
        assert n == numba.config.NUMBA_NUM_THREADS
