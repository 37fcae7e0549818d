"""Suite-wide: a summary of the integration tests that ran, so CI logs show they were not skipped."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

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
