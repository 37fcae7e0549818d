"""The HTTP API over a finished pipeline run: every route answers as its OpenAPI document says."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from greenwatch.services.api import create_app
from greenwatch.services.app import App

from ..conftest import CHANGE_AREA

pytestmark = pytest.mark.stac


@pytest.fixture(scope="module")
def client(finished: App) -> TestClient:
    return TestClient(create_app(finished))


def test_routes_answer_and_match_the_openapi_document(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = set(spec["paths"])
    assert {"/areas", "/areas/{area_id}", "/areas/{area_id}/series", "/areas/{area_id}/series.csv",
            "/areas/{area_id}/plot.png", "/national", "/alerts", "/healthz", "/readyz"} <= paths
    areas = client.get("/areas")
    assert areas.status_code == 200
    ids = {a["area_id"] for a in areas.json()}
    assert CHANGE_AREA in ids and len(ids) >= 3
    detail = client.get(f"/areas/{CHANGE_AREA}").json()
    assert detail["state"] == "net-loss" and detail["name"] == "Nieuwegein" and detail["annual"]
    series = client.get(f"/areas/{CHANGE_AREA}/series").json()
    assert len(series) == 6 and {"date", "green_area_m2", "canopy_area_m2", "valid_fraction"} <= set(series[0])
    csv_text = client.get(f"/areas/{CHANGE_AREA}/series.csv").text
    assert csv_text.splitlines()[0].startswith("date,") and len(csv_text.splitlines()) == 7
    png = client.get(f"/areas/{CHANGE_AREA}/plot.png")
    assert png.headers["content-type"] == "image/png" and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get("/national").json()["area_id"] == "national"
    alerts = client.get("/alerts", params={"area": CHANGE_AREA, "type": "canopy-loss"}).json()
    assert len(alerts) == 1 and alerts[0]["severity"] == "critical"
    assert client.get("/healthz").json() == {"status": "ok"} and client.get("/readyz").status_code == 200
    assert client.get("/areas/GM9999").status_code == 404
    assert client.get("/areas/GM9999/series").status_code == 404
    for path, method in (("/alerts", "get"), ("/areas", "get")):
        assert method in spec["paths"][path]
