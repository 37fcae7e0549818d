"""Fixtures for pipeline tests: a small synthetic scenario and a real STAC API server serving it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from greenwatch.services.app import App, drain
from greenwatch.services.config import Settings, SourceSettings, WatchSettings
from greenwatch.services.sampledata import Scenario, generate
from greenwatch.services.stac import serve_stac

# Two summer dates a year, 2024-2026; canopy removed in Nieuwegein (GM0356) from 2026.
SMALL = Scenario(
    dates=(date(2024, 6, 10), date(2024, 7, 15), date(2025, 6, 12), date(2025, 7, 20), date(2026, 6, 14),
           date(2026, 7, 19)),
    cloud_fraction=0.05,
)
CHANGE_AREA = "GM0356"


@dataclass(frozen=True)
class Sample:
    root: Path
    items: list[Path]
    collection: Path
    scenario: Scenario


@pytest.fixture(scope="session")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Sample:
    root = tmp_path_factory.mktemp("sample")
    generate(root, SMALL)
    stac = root / "stac"
    return Sample(root, sorted((stac / "items").glob("*.json")), stac / "collection.json", SMALL)


@pytest.fixture(scope="session")
def stac_url(sample: Sample) -> Iterator[str]:
    with serve_stac([sample.collection, *sample.items]) as url:
        yield url


def settings_for(data_dir: Path, stac_url: str, **extra: object) -> Settings:
    return Settings(
        data_dir=data_dir,
        watch=WatchSettings(sources=[SourceSettings(url=stac_url, collection="sentinel-2-l2a-zarr3",
                                                    max_cloud_cover=100.0, start="2024-01-01")]),
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
def finished(tmp_path_factory: pytest.TempPathFactory, stac_url: str) -> App:
    app = App.build(settings_for(tmp_path_factory.mktemp("run"), stac_url))
    report = app.watcher().poll()
    assert report.published == 6 and report.dead_lettered == 0
    drain(app, app.services())
    return app
