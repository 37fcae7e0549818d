"""Small synthetic scenarios, generated once per session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from greenwatch.services.sampledata import GeneratedProduct, Scenario, Truth, build_truth, generate

CHANGE_AREA = "GM0356"  # Nieuwegein
# 7.6 km window wholly containing Nieuwegein, two summers either side of the change date
NIEUWEGEIN = Scenario(
    centre=(5.083, 52.031),
    size=760,
    chunk=200,
    dates=(date(2025, 6, 20), date(2025, 7, 25), date(2026, 6, 22), date(2026, 7, 27)),
    cloud_fraction=0.1,
)


@dataclass(frozen=True)
class Generated:
    root: Path
    scenario: Scenario
    truth: Truth
    products: list[GeneratedProduct]


def _generate(root: Path, scenario: Scenario) -> Generated:
    truth = build_truth(scenario)
    return Generated(root, scenario, truth, generate(root, scenario, truth=truth))


@pytest.fixture(scope="session")
def v3_series(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    return _generate(tmp_path_factory.mktemp("v3"), NIEUWEGEIN)


@pytest.fixture(scope="session")
def v2_series(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    scenario = NIEUWEGEIN.replace(zarr_format=2, size=244, chunk=64, dates=(date(2025, 7, 1),), change_area=None)
    return _generate(tmp_path_factory.mktemp("v2"), scenario)
