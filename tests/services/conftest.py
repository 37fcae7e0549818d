"""The pipeline run on the embedded bus that several service tests inspect."""

from __future__ import annotations

import pytest

from greenwatch.services.app import App, drain

from ..conftest import settings_for


@pytest.fixture(scope="session")
def finished(tmp_path_factory: pytest.TempPathFactory, stac_url: str) -> App:
    app = App.build(settings_for(tmp_path_factory.mktemp("run"), stac_url))
    report = app.watcher().poll()
    assert report.published == 6 and report.dead_lettered == 0
    drain(app, app.services())
    return app
