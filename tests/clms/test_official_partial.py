"""An official figure from only some of the tiles that cover an area is kept but not usable, so the
compliance state does not flap while the second tile of a layer is on its way."""

from __future__ import annotations

from greenwatch.services.clms.official import official_observation


def _layer(covered: int, area_pixels: int = 100) -> dict:
    return {"area_pixels": area_pixels, "covered_pixels": covered, "pixel_area_m2": 100.0, "valid": covered,
            "valid_fraction": covered / area_pixels, "canopy_share": 0.2, "green_share": 0.5, "water_share": 0.1,
            "kernel_version": "k", "scene_ids": ["s"]}


def test_partial_coverage_is_not_usable_even_above_the_valid_fraction() -> None:
    partial = official_observation("A", 2024, _layer(70), _layer(100), min_valid_fraction=0.6)
    assert partial["valid_fraction"] == 0.7 and partial["usable"] is False
    full = official_observation("A", 2024, _layer(100), _layer(100), min_valid_fraction=0.6)
    assert full["usable"] is True
