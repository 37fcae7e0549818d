"""Radiometry, baseline harmonisation and the versioned parameter set."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from greenwatch.kernels import ClassifyParams, Radiometry, classify, kernel_version, parse_baseline, radiometry_for

from ._gen import make_window


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("04.00", (4, 0)),
        ("4.00", (4, 0)),
        ("N0400", (4, 0)),
        ("05.11", (5, 11)),
        ("02.14", (2, 14)),
        ("N0212", (2, 12)),
    ],
)
def test_parse_baseline(text: str, expected: tuple[int, int]) -> None:
    assert parse_baseline(text) == expected


@pytest.mark.parametrize("text", ["", "abc", "4", "04-00", "N04000"])
def test_parse_baseline_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="baseline"):
        parse_baseline(text)


def test_radiometry_from_product_attrs_wins() -> None:
    assert radiometry_for("02.14", 1e-4, -0.1) == Radiometry(1e-4, -0.1)
    assert radiometry_for(None, 2e-4, 0.0) == Radiometry(2e-4, 0.0)


def test_radiometry_by_baseline_without_offset() -> None:
    assert radiometry_for("03.01", None, None) == Radiometry(1e-4, 0.0)
    assert radiometry_for("04.00", None, None) == Radiometry(1e-4, -0.1)
    assert radiometry_for("N0511", 1e-4, None) == Radiometry(1e-4, -0.1)


def test_radiometry_unknown_offset_is_an_error() -> None:
    with pytest.raises(ValueError, match="add_offset"):
        radiometry_for(None, 1e-4, None)


def test_harmonisation_across_baseline_04_00() -> None:
    """Same surface, encoded before (DN = rho x 1e4) and after 04.00 (DN + 1000): same classes, same NDVI.

    This is the January 2022 jump the harmonisation removes: with the right offset per baseline,
    (n - r) / (n + r + 2 offset / scale) is the same float32 computation on both encodings.
    """
    win = make_window(40, 41, "mixed", seed=7)
    old = tuple((b.astype(np.int32) - 1000).clip(1, 60000).astype(np.uint16) for b in win.bands)
    new = tuple((b + 1000).astype(np.uint16) for b in old)
    params = ClassifyParams()
    cls_old, frac_old = classify(*old, win.scl, radiometry_for("03.01", None, None), params)
    cls_new, frac_new = classify(*new, win.scl, radiometry_for("05.11", None, None), params)
    np.testing.assert_array_equal(cls_old, cls_new)
    np.testing.assert_array_equal(frac_old, frac_new)
    # Ignoring the offset (treating new DNs as old) would shift the classes.
    cls_wrong, _ = classify(*new, win.scl, Radiometry(1e-4, 0.0), params)
    assert (cls_wrong != cls_new).any()


def test_radiometry_validates() -> None:
    with pytest.raises(ValueError, match="radiometry"):
        Radiometry(scale=0.0)


@pytest.mark.parametrize(
    "changes",
    [
        {"ndvi_green": 0.5, "ndvi_tree": 0.4},
        {"ndvi_soil": 0.8, "ndvi_canopy": 0.2},
        {"ndwi_water": 2.0},
        {"invalid_scl": (0, 300)},
        {"water_scl": 3},
        {"version": ""},
    ],
)
def test_params_validate(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        ClassifyParams(**changes)  # type: ignore[arg-type]


def test_kernel_version_changes_with_every_parameter() -> None:
    base = ClassifyParams()
    assert base.kernel_version == kernel_version(base)
    assert base.kernel_version.startswith("s2-ndvi-1.0.0+p")
    assert ClassifyParams().kernel_version == base.kernel_version  # stable
    variants = [
        dataclasses.replace(base, ndvi_green=0.25),
        dataclasses.replace(base, ndvi_tree=0.55),
        dataclasses.replace(base, ndwi_water=0.1),
        dataclasses.replace(base, ndvi_soil=0.1),
        dataclasses.replace(base, ndvi_canopy=0.9),
        dataclasses.replace(base, invalid_scl=(0, 1, 3, 8, 9, 10)),
        dataclasses.replace(base, water_scl=5),
        dataclasses.replace(base, version="s2-ndvi-1.1.0"),
    ]
    versions = {v.kernel_version for v in variants} | {base.kernel_version}
    assert len(versions) == len(variants) + 1
