"""The HTTP API over a finished pipeline run. Contract tests: every answer, errors included, must be a
status code that the OpenAPI document declares for that route, with a body valid against the declared
schema (JSON Schema 2020-12, which OpenAPI 3.1 uses), also for parameters drawn by Hypothesis."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import SecretStr

from greenwatch.services.api import create_app
from greenwatch.services.app import App
from greenwatch.services.config import Settings

from ..conftest import CHANGE_AREA

pytestmark = pytest.mark.stac


@pytest.fixture(scope="module")
def client(finished: App) -> TestClient:
    return TestClient(create_app(finished))


@pytest.fixture(scope="module")
def spec(client: TestClient) -> dict[str, Any]:
    return client.get("/openapi.json").json()


def conforms(spec: dict[str, Any], resp: httpx.Response, route: str, method: str = "get") -> httpx.Response:
    """Assert that `resp` is an answer the OpenAPI document allows for `method route`."""
    op = spec["paths"][route][method]
    declared = op["responses"].get(str(resp.status_code))
    assert declared is not None, f"{method.upper()} {route} answered {resp.status_code}: {resp.text[:300]}"
    media = resp.headers["content-type"].split(";")[0]
    content = declared.get("content", {})
    assert media in content, f"{route} {resp.status_code}: {media} not among {list(content)}"
    if media == "application/json":
        schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "components": spec["components"],
                  **content[media]["schema"]}
        errors = sorted(Draft202012Validator(schema).iter_errors(resp.json()), key=str)
        assert not errors, f"{route} {resp.status_code}: {errors[0].message} at {list(errors[0].absolute_path)}"
    return resp


def test_the_document_lists_every_route(spec: dict[str, Any]) -> None:
    assert {"/areas", "/areas/{area_id}", "/areas/{area_id}/history", "/areas/{area_id}/series",
            "/areas/{area_id}/series.csv", "/areas/{area_id}/plot.png", "/national", "/alerts",
            "/alerts/{alert_id}/deliveries", "/alerts/{alert_id}/ack", "/healthz", "/readyz"} <= set(spec["paths"])
    assert spec["openapi"].startswith("3.1")
    Draft202012Validator.check_schema({"components": spec["components"]})


def test_the_demo_areas_answer(client: TestClient, spec: dict[str, Any]) -> None:
    areas = conforms(spec, client.get("/areas"), "/areas").json()
    by_id = {a["area_id"]: a for a in areas}
    assert by_id[CHANGE_AREA]["state"] == "net-loss" and by_id[CHANGE_AREA]["name"] == "Nieuwegein"
    assert len([a for a in areas if a["state"] != "insufficient-data"]) >= 3
    only = conforms(spec, client.get("/areas", params={"state": "net-loss"}), "/areas").json()
    assert {a["area_id"] for a in only} == {a["area_id"] for a in areas if a["state"] == "net-loss"}
    detail = conforms(spec, client.get(f"/areas/{CHANGE_AREA}"), "/areas/{area_id}").json()
    assert detail["series"] == "sentinel-2" and detail["regime"] == "no-net-loss"
    assert detail["figures"]["canopy_change_pct"] < -20
    assert set(detail["annual"]["sentinel-2"]) == {"2024", "2025", "2026"}
    history = conforms(spec, client.get(f"/areas/{CHANGE_AREA}/history"), "/areas/{area_id}/history").json()
    assert history[0]["state"] == "insufficient-data" and history[-1]["state"] == "net-loss"
    national = conforms(spec, client.get("/national"), "/national").json()
    assert national["area_id"] == "national"
    assert CHANGE_AREA in {c["area_id"] for c in national["figures"]["contributions"]}
    base = national["figures"]["baseline_green_m2"]
    assert national["annual"]["sentinel-2"]["2024"]["green_m2"] == pytest.approx(base)


def test_series_json_csv_and_plot(client: TestClient, spec: dict[str, Any]) -> None:
    rows = conforms(spec, client.get(f"/areas/{CHANGE_AREA}/series"), "/areas/{area_id}/series").json()
    assert [r["date"][:4] for r in rows] == ["2024", "2024", "2025", "2025", "2026", "2026"]
    year = {"from": "2025-01-01", "to": "2025-12-31"}
    later = conforms(spec, client.get(f"/areas/{CHANGE_AREA}/series", params=year), "/areas/{area_id}/series").json()
    assert later == rows[2:4]
    csv_text = conforms(spec, client.get(f"/areas/{CHANGE_AREA}/series.csv"), "/areas/{area_id}/series.csv").text
    lines = csv_text.splitlines()
    assert lines[0] == ("date,green_area_m2,canopy_area_m2,water_area_m2,area_m2,valid_fraction,usable,n_products,"
                        "kernel_version")
    assert len(lines) == 7 and lines[1].startswith(rows[0]["date"] + ",")
    official = conforms(spec, client.get(f"/areas/{CHANGE_AREA}/series", params={"series": "official"}),
                        "/areas/{area_id}/series").json()
    assert official == []  # no CLMS layer ingested in this run
    png = conforms(spec, client.get(f"/areas/{CHANGE_AREA}/plot.png"), "/areas/{area_id}/plot.png")
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert conforms(spec, client.get("/areas/national/plot.png"), "/areas/{area_id}/plot.png").status_code == 200


def test_alert_filters(client: TestClient, spec: dict[str, Any]) -> None:
    every = conforms(spec, client.get("/alerts"), "/alerts").json()
    assert every and every == sorted(every, key=lambda a: (a["raised_at"], a["alert_id"]))
    loss = conforms(spec, client.get("/alerts", params={"area": CHANGE_AREA, "type": "canopy-loss"}), "/alerts").json()
    assert len(loss) == 1 and loss[0]["severity"] == "critical" and loss[0]["area_name"] == "Nieuwegein"
    middle = every[len(every) // 2]["raised_at"]
    since = conforms(spec, client.get("/alerts", params={"since": middle}), "/alerts").json()
    assert since == [a for a in every if a["raised_at"] >= middle.rstrip("Z")]
    assert conforms(spec, client.get("/alerts", params={"since": "2999-01-01"}), "/alerts").json() == []
    zoned = conforms(spec, client.get("/alerts", params={"since": "2000-01-01T02:00:00+02:00"}), "/alerts").json()
    assert len(zoned) == len(every)
    assert conforms(spec, client.get("/alerts", params={"limit": 2}), "/alerts").json() == every[-2:]
    assert conforms(spec, client.get("/alerts", params={"type": "fire"}), "/alerts").status_code == 422
    assert conforms(spec, client.get("/alerts", params={"since": "last tuesday"}), "/alerts").status_code == 422
    log = conforms(spec, client.get(f"/alerts/{loss[0]['alert_id']}/deliveries"), "/alerts/{alert_id}/deliveries")
    assert all(d["alert_id"] == loss[0]["alert_id"] for d in log.json())  # empty unless a webhook test ran first
    assert conforms(spec, client.get("/alerts/ffffffffffffffffffffffff/deliveries"),
                    "/alerts/{alert_id}/deliveries").status_code == 404


def test_errors_are_documented(client: TestClient, spec: dict[str, Any]) -> None:
    for url, route in (("/areas/GM9999", "/areas/{area_id}"), ("/areas/GM9999/series", "/areas/{area_id}/series"),
                       ("/areas/GM9999/series.csv", "/areas/{area_id}/series.csv"),
                       ("/areas/GM9999/plot.png", "/areas/{area_id}/plot.png"),
                       ("/areas/GM9999/history", "/areas/{area_id}/history"),
                       ("/areas/national/series", "/areas/{area_id}/series")):
        assert conforms(spec, client.get(url), route).status_code == 404
    assert conforms(spec, client.get(f"/areas/{CHANGE_AREA}/series", params={"series": "landsat"}),
                    "/areas/{area_id}/series").status_code == 422
    assert conforms(spec, client.get("/healthz"), "/healthz").json() == {"status": "ok"}
    assert conforms(spec, client.get("/readyz"), "/readyz").json()["status"] == "ready"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(area=st.one_of(st.sampled_from(["GM0344", "GM0356", "GM0353", "GM0310", "national"]),
                      st.text("GMgm0123456789-_.~ ", min_size=1, max_size=12)),
       alert_type=st.one_of(st.none(), st.sampled_from(["state-change", "canopy-loss", "data-gap"]),
                            st.text(max_size=8)),
       since=st.one_of(st.none(), st.dates().map(str), st.datetimes().map(lambda d: d.isoformat()),
                       st.text(max_size=12)),
       series=st.sampled_from(["sentinel-2", "official", "sentinel-2 (calibrated)", "x"]))
def test_any_parameters_get_a_documented_answer(client: TestClient, spec: dict[str, Any], area: str,
                                                alert_type: str | None, since: str | None, series: str) -> None:
    a = quote(area, safe="")
    if area.strip(".") == "" or area.strip() == "":
        return  # '.', '..' and blanks are path syntax, not area ids
    conforms(spec, client.get(f"/areas/{a}"), "/areas/{area_id}")
    conforms(spec, client.get(f"/areas/{a}/history"), "/areas/{area_id}/history")
    conforms(spec, client.get(f"/areas/{a}/series", params={"series": series}), "/areas/{area_id}/series")
    params = {k: v for k, v in (("area", area), ("type", alert_type), ("since", since)) if v is not None}
    conforms(spec, client.get("/alerts", params=params), "/alerts")


def test_read_only_unless_a_token_is_configured(finished: App, tmp_path: Path) -> None:
    alert_id = next(a for _, a in finished.store.scan("outbox"))["alert_id"]
    ro = TestClient(create_app(finished))
    spec = ro.get("/openapi.json").json()
    route = "/alerts/{alert_id}/ack"
    r = conforms(spec, ro.post(f"/alerts/{alert_id}/ack", headers={"Authorization": "Bearer anything"}), route, "post")
    assert r.status_code == 403 and "read-only" in r.json()["detail"]
    api_rw = finished.settings.api.model_copy(update={"token": SecretStr("t0k")})
    settings_rw = finished.settings.model_copy(update={"api": api_rw})
    rw_app = App(settings_rw, finished.bus, finished.store, finished.areas)
    rw = TestClient(create_app(rw_app))
    assert conforms(spec, rw.post(f"/alerts/{alert_id}/ack"), route, "post").status_code == 401
    assert conforms(spec, rw.post(f"/alerts/{alert_id}/ack", headers={"Authorization": "Bearer nope"}),
                    route, "post").status_code == 401
    ok = conforms(spec, rw.post(f"/alerts/{alert_id}/ack", headers={"Authorization": "Bearer t0k"},
                                json={"note": "seen by the operator"}), route, "post").json()
    assert ok["alert_id"] == alert_id and ok["note"] == "seen by the operator"
    listed = {a["alert_id"]: a for a in ro.get("/alerts").json()}
    assert listed[alert_id]["acknowledged_at"] == ok["acknowledged_at"]
    assert conforms(spec, rw.post("/alerts/ffffffffffffffffffffffff/ack", headers={"Authorization": "Bearer t0k"}),
                    route, "post").status_code == 404
    # GETs stay open with a token configured
    assert rw.get("/areas").status_code == 200
    # readiness fails, documented, when the store cannot be read
    broken = App.build(Settings(data_dir=tmp_path))
    broken.store.close()
    assert conforms(spec, TestClient(create_app(broken)).get("/readyz"), "/readyz").status_code == 503
