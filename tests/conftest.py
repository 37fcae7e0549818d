"""Suite-wide: a summary of the integration tests that ran, so CI logs show they were not skipped."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from greenwatch.services.config import Settings, SourceSettings, WatchSettings
from greenwatch.services.sampledata import Scenario, generate
from greenwatch.services.stac import serve_stac

_COUNTS: dict[str, dict[str, int]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call" and not (report.when == "setup" and report.outcome != "passed"):
        return
    for marker in ("kafka", "stac"):
        if marker in report.keywords:
            c = _COUNTS.setdefault(marker, {"passed": 0, "failed": 0, "skipped": 0})
            c[report.outcome] = c.get(report.outcome, 0) + 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int) -> None:
    for marker, label in (("kafka", "Kafka integration tests (real broker)"),
                          ("stac", "STAC integration tests (real STAC API server)")):
        c = _COUNTS.get(marker, {"passed": 0, "failed": 0, "skipped": 0})
        terminalreporter.write_line(f"{label}: {c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped")
        if os.environ.get("CI") and c["skipped"]:
            terminalreporter.write_line(f"ERROR: {c['skipped']} {marker} tests skipped in CI")
            terminalreporter._session.exitstatus = 1  # type: ignore[attr-defined]


SHARED = Path(__file__).resolve().parents[1].parent / "shared"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data` beside the checkout (CI lays it there); fail in CI, skip elsewhere, if absent."""
    path = SHARED / "data"
    if not path.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"shared data not found at {path}")
        pytest.skip(f"shared data not found at {path}")
    return path


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
