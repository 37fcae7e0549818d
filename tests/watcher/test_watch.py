"""The watcher against a real STAC API (rustac on 127.0.0.1): publish once, page, filter, catch up
on late items, supersede reprocessed products, dead-letter bad items once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from greenwatch.schemas import decode, encode
from greenwatch.services import metrics
from greenwatch.services.ledger import Ledger
from greenwatch.services.stac import Fault, fault_proxy
from greenwatch.services.watcher import StacClient, datatake_key
from greenwatch.services.watcher._watch import CURSOR, PUBLISHED
from greenwatch.services.worker import Planner

from .conftest import COLLECTION, T0, Rig, catalogue, make_item, series

pytestmark = pytest.mark.stac


def test_each_item_is_published_once_across_pages_and_polls(rig: Rig, template: dict, tmp_path: Path) -> None:
    items = series(template, 23)
    counted = ("seen", "published", "deduplicated")
    before = {k: metrics.STAC_ITEMS.labels(k)._value.get() for k in counted}
    lag_count = metrics.DISCOVERY_LAG._sum.get()
    with catalogue(tmp_path, items) as url, fault_proxy(url) as proxy:
        w = rig.watcher(proxy.url, page_size=5)
        first = w.poll()
        assert {k: metrics.STAC_ITEMS.labels(k)._value.get() - before[k] for k in counted} == {
            "seen": 23, "published": 23, "deduplicated": 0}
        assert metrics.DISCOVERY_LAG._sum.get() - lag_count > 23 * 365 * 86400  # items from 2024
        assert (first.seen, first.published, first.deduplicated, first.dead_lettered) == (23, 23, 0, 0)
        assert first.ok and first.requests == 5  # 5 pages of 5, 5, 5, 5, 3
        # pages 2..5 are POST requests carrying the server's body token (rustac: `skip`)
        assert [e.body.get("skip") if e.body else None for e in proxy.log] == [None, 5, 10, 15, 20]
        assert all(e.method == "POST" and e.path == "/search" for e in proxy.log)
        second = w.poll()  # from the cursor minus 3 days: the last two items (every 3 days), deduplicated
        assert (second.seen, second.published, second.deduplicated) == (2, 0, 2)
        third = w.poll(start="2024-01-01", end="2024-12-31")  # a whole window again: nothing new
        assert (third.seen, third.published, third.deduplicated) == (23, 0, 23)
    ids = rig.discovered_ids()
    assert sorted(ids) == sorted(i["id"] for i in items) and len(ids) == len(set(ids))
    cursor = rig.store.get(CURSOR, w.sources[0].key)
    assert cursor is not None and cursor["max_datetime"].startswith(items[-1]["properties"]["datetime"][:19])


def test_cloud_cover_is_filtered_on_what_the_server_returns(rig: Rig, template: dict, tmp_path: Path) -> None:
    """rustac answers `query`/`filter` with HTTP 200 and no items. A watcher that sent the cloud limit
    to the server would publish nothing here and report success; this one filters what it gets."""
    clouds = (5.0, 35.0, 65.0, 95.0, 60.0)
    items = series(template, 10, clouds=clouds)
    with catalogue(tmp_path, items) as url:
        report = rig.watcher(url, max_cloud=60.0).poll()
        client = StacClient()
        body = {"collections": [COLLECTION], "limit": 50,
                "filter-lang": "cql2-json", "filter": {"op": "<=", "args": [{"property": "eo:cloud_cover"}, 60]}}
        server_filtered = [f for page in client.search_pages(url, body) for f in page["features"]]
        client.close()
    wanted = sorted(i["id"] for i in items if i["properties"]["eo:cloud_cover"] <= 60.0)
    assert len(wanted) == 6
    assert sorted(rig.discovered_ids()) == wanted
    assert (report.published, report.filtered) == (6, 4)
    assert server_filtered == []  # the server-side filter silently returns nothing: why we do not send it


def test_late_items_are_found_by_the_overlap_and_the_cursor_survives_a_restart(
        rig: Rig, template: dict, tmp_path: Path) -> None:
    early = series(template, 5)  # T0 .. T0+12 d
    last = T0 + timedelta(days=12)
    late = make_item(template, last - timedelta(days=2, hours=3), ingested=last + timedelta(days=1))
    newer = make_item(template, last + timedelta(days=1))
    too_old = make_item(template, last - timedelta(days=8, hours=5), ingested=last + timedelta(days=2))
    with catalogue(tmp_path, early, "a") as url_a, fault_proxy(url_a) as proxy:
        assert rig.watcher(proxy.url).poll().published == 5
        with catalogue(tmp_path, [*early, late, newer, too_old], "b") as url_b:
            proxy.set_upstream(url_b)  # the catalogue grew: two items ingested late, one new
            restarted = rig.watcher(proxy.url, overlap=timedelta(days=3))
            report = restarted.poll()
            assert report.published == 2 and report.deduplicated == 2  # the two early items within 3 days
            assert proxy.log[-1].body is not None
            assert proxy.log[-1].body["datetime"].startswith(f"{(last - timedelta(days=3)):%Y-%m-%dT%H:%M:%S}")
            # beyond the overlap a live poll cannot see it; a backfill over its dates finds it
            fill = restarted.backfill(f"{too_old['properties']['datetime'][:10]}", f"{last:%Y-%m-%d}")
            assert fill.published == 1
    assert sorted(rig.discovered_ids()) == sorted(i["id"] for i in [*early, late, newer, too_old])


def test_a_failed_poll_moves_no_state_and_the_next_one_catches_up(rig: Rig, template: dict, tmp_path: Path) -> None:
    items = series(template, 12)
    down = True
    with catalogue(tmp_path, items) as url, \
            fault_proxy(url, lambda n, *_: Fault(status=503) if down or n == 3 else None) as proxy:
        w = rig.watcher(proxy.url, page_size=5)
        failed = w.poll()
        assert not failed.ok and "503" in failed.errors[0] and failed.published == 0
        assert rig.store.get(CURSOR, w.sources[0].key) is None
        assert len(proxy.log) == 4  # max_attempts
        down = False
        report = w.poll()
    assert report.ok and report.published == 12 and report.retries == 0
    assert len(rig.discovered_ids()) == 12


def test_a_reprocessed_product_supersedes_the_older_baseline(rig: Rig, template: dict, tmp_path: Path) -> None:
    when = T0 + timedelta(days=40)
    old = make_item(template, when, baseline="05.11")
    new = make_item(template, when, baseline="05.12", processed=when + timedelta(days=200))
    other_tile_same_datatake = make_item(template, when, baseline="05.11")
    other_tile_same_datatake["id"] = other_tile_same_datatake["id"].replace("T26TLL", "T26TML")
    other_tile_same_datatake["properties"].update({"grid:code": "MGRS-26TML", "mgrs:grid_square": "ML"})
    with catalogue(tmp_path, [old, other_tile_same_datatake], "a") as url_a, fault_proxy(url_a) as proxy:
        assert rig.watcher(proxy.url).poll().published == 2
        with catalogue(tmp_path, [old, other_tile_same_datatake, new], "b") as url_b:
            proxy.set_upstream(url_b)
            report = rig.watcher(proxy.url).poll()
    assert (report.published, report.superseded, report.deduplicated) == (1, 1, 2)
    sup = rig.events("scene.superseded.v1")
    assert [(e["data"]["scene_id"], e["data"]["superseded_by"]) for e in sup] == [(old["id"], new["id"])]
    assert "05.12" in sup[0]["data"]["reason"] and "05.11" in sup[0]["data"]["reason"]
    # the planner (the ledger's writer) records it
    ledger = Ledger(rig.store)
    planner = Planner(areas=None, ledger=ledger, opener=None, kernel_version="k")  # type: ignore[arg-type]
    assert planner.handle(decode(encode(sup[0]))) == []
    doc = ledger.get(old["id"])
    assert doc is not None and doc["state"] == "superseded" and doc["superseded_by"] == new["id"]


def test_an_older_baseline_found_late_is_announced_superseded_not_processed(
        rig: Rig, template: dict, tmp_path: Path) -> None:
    when = T0 + timedelta(days=40)
    new = make_item(template, when, baseline="05.12", processed=when + timedelta(days=200))
    old = make_item(template, when, baseline="05.11")
    with catalogue(tmp_path, [new], "a") as url_a, fault_proxy(url_a) as proxy:
        rig.watcher(proxy.url).poll()
        with catalogue(tmp_path, [new, old], "b") as url_b:
            proxy.set_upstream(url_b)
            report = rig.watcher(proxy.url).poll()
            again = rig.watcher(proxy.url).poll()
    assert (report.published, report.superseded) == (0, 1) and again.superseded == 0
    assert rig.discovered_ids() == [new["id"]]
    sup = rig.events("scene.superseded.v1")
    assert [(e["data"]["scene_id"], e["data"]["superseded_by"]) for e in sup] == [(old["id"], new["id"])]
    assert (rig.store.get(PUBLISHED, old["id"]) or {})["superseded_by"] == new["id"]


def test_datatake_key_ignores_the_baseline_but_not_the_tile() -> None:
    a = {"datatake_id": "GS2A_20251113T102311_054288_N05.11", "mgrs_tile": "32TNQ", "item_id": "x"}
    b = {**a, "datatake_id": "GS2A_20251113T102311_054288_N05.12"}
    assert datatake_key(a) == datatake_key(b) == "GS2A_20251113T102311_054288/32TNQ"
    assert datatake_key({**a, "mgrs_tile": "32TNR"}) != datatake_key(a)
    by_id = {"datatake_id": None, "mgrs_tile": None,
             "item_id": "S2C_MSIL2A_20250330T100051_N0511_R122_T33UWP_20250330T145914"}
    assert datatake_key(by_id) == "S2C_20250330T100051_R122/33UWP"
    assert datatake_key({"datatake_id": None, "mgrs_tile": None, "item_id": "LC08_L2SP_033032"}) is None


def _broken(template: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    base = T0 + timedelta(days=100)
    no_asset = make_item(template, base)
    no_asset["assets"] = {"thumbnail": {"href": "https://example.invalid/t.png", "roles": ["thumbnail"]}}
    no_crs = make_item(template, base + timedelta(days=1))
    del no_crs["properties"]["proj:code"]
    bad_cloud = make_item(template, base + timedelta(days=2))
    bad_cloud["properties"]["eo:cloud_cover"] = 140.0
    bad_updated = make_item(template, base + timedelta(days=3))
    bad_updated["properties"]["updated"] = "yesterday"
    return [(no_asset, "no usable asset"), (no_crs, "no CRS"), (bad_cloud, "not a percentage"),
            (bad_updated, "updated")]


def test_unusable_items_are_dead_lettered_once_with_the_reason(rig: Rig, template: dict, tmp_path: Path) -> None:
    broken = _broken(template)
    good = series(template, 3)
    with catalogue(tmp_path, [*good, *(b for b, _ in broken)]) as url:
        report = rig.watcher(url).poll()
        again = rig.watcher(url).poll(start="2024-01-01", end="2024-12-31")
    assert (report.published, report.dead_lettered) == (3, 4)
    dlq = dict(rig.dead_letters())
    for item, reason in broken:
        assert reason in dlq[item["id"]]
    assert (again.dead_lettered, again.deduplicated) == (0, 7)  # not re-sent at every poll
    assert len(rig.dead_letters()) == 4


def test_items_without_geometry_or_with_a_bad_datetime_do_not_stop_the_watcher(rig: Rig, template: dict) -> None:
    """Items a server passes through as they are stored (rustac refuses to load these, so they come
    from a search stand-in here; the mapping is the same code)."""
    good = series(template, 2)
    no_geometry = make_item(template, T0 + timedelta(days=50))
    no_geometry["geometry"] = None
    bad_dt = make_item(template, T0 + timedelta(days=51))
    bad_dt["properties"]["datetime"] = "2024-13-45"
    w = rig.watcher("http://127.0.0.1:9", search=lambda *_: [good[0], no_geometry, "junk", bad_dt, good[1]])
    report = w.poll()
    assert (report.published, report.dead_lettered) == (2, 3)
    reasons = " | ".join(report.reasons)
    assert "no geometry" in reasons and "bad datetime" in reasons and "not a JSON object" in reasons
