"""serve_stac: a real rustac STAC API on 127.0.0.1 over generated and real items."""

from __future__ import annotations

import json
import os
import socket
import urllib.request
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pystac_client import Client

from greenwatch.services.sampledata import Scenario, generate
from greenwatch.services.stac import serve_stac, stac_files

pytestmark = [pytest.mark.stac, pytest.mark.filterwarnings("ignore::UserWarning:pystac_client")]

DATES = (
    date(2024, 6, 1),
    date(2024, 7, 1),
    date(2024, 8, 1),
    date(2025, 6, 3),
    date(2025, 7, 3),
    date(2025, 8, 3),
    date(2026, 6, 5),
    date(2026, 7, 5),
)
SCENARIO = Scenario(size=64, chunk=32, dates=DATES, change_area=None)


@pytest.fixture(scope="module")
def stac_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("stac")
    generate(root, SCENARIO)
    return root / "stac"


def _rustac_children() -> set[int]:
    """PIDs of our child processes running rustac (Linux /proc)."""
    pids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and b"rustac" in cmdline:
            pids.add(int(stat.parent.name))
    return pids


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:  # noqa: S310 - 127.0.0.1
        return json.load(resp)


def test_search_by_collection_datetime_and_bbox_with_paging(stac_dir: Path) -> None:
    with serve_stac([stac_dir]) as url:
        assert url.startswith("http://127.0.0.1:")
        client = Client.open(url)
        assert [c.id for c in client.get_collections()] == ["sentinel-2-l2a-zarr3"]
        west, south, east, north = SCENARIO.grid().bbox_lonlat()
        search = client.search(
            collections=["sentinel-2-l2a-zarr3"],
            datetime="2025-01-01/2026-12-31",
            bbox=[west - 0.01, south - 0.01, east + 0.01, north + 0.01],
            limit=2,
        )
        items = list(search.items())
        assert len(items) == 5 and {i.datetime.year for i in items if i.datetime} == {2025, 2026}
        pages = list(search.pages())
        assert len(pages) == 3 and sum(len(p.items) for p in pages) == 5
        elsewhere = client.search(collections=["sentinel-2-l2a-zarr3"], bbox=[4.0, 50.0, 4.1, 50.1])
        assert not list(elsewhere.items())
        one = next(iter(client.search(ids=[items[0].id]).items()))
        assert one.assets["product"].href.startswith("file://")


def test_the_server_process_is_gone_after_the_context(stac_dir: Path) -> None:
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc")
    before = _rustac_children()  # other tests' session-wide servers may be running
    with serve_stac([stac_dir / "collection.json", *sorted((stac_dir / "items").glob("*.json"))]) as url:
        running = _rustac_children() - before
        assert running
        assert _get(f"{url}/collections")["collections"]
    assert not running & _rustac_children()
    with pytest.raises(KeyError), serve_stac([stac_dir]):
        running = _rustac_children() - before
        raise KeyError("boom")
    assert running and not running & _rustac_children()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", int(url.rsplit(":", 1)[1]))) != 0


def test_the_real_eopf_items_load(shared_data: Path) -> None:
    files = sorted((shared_data / "eopf").glob("*item*.json"))
    assert len(files) == 3
    with serve_stac(files) as url:
        collections = {c["id"] for c in _get(f"{url}/collections")["collections"]}
        assert collections == {"sentinel-2-l2a", "sentinel-2-l2a-zarr3", "sentinel-2-l2a-staging"}
        client = Client.open(url)
        for f in files:
            item_id = json.loads(f.read_text())["id"]
            assert [i.id for i in client.search(ids=[item_id]).items()] == [item_id]


def test_known_limits_of_the_memory_backend(stac_dir: Path) -> None:
    """Documented in server.py; if rustac learns these, update the docstring (and the watcher)."""
    with serve_stac([stac_dir]) as url:
        client = Client.open(url)
        query = client.search(collections=["sentinel-2-l2a-zarr3"], query={"eo:cloud_cover": {"lt": 101}})
        assert list(query.items()) == []
        found = client.search(collections=["sentinel-2-l2a-zarr3"], sortby="-datetime").items()
        dates = [i.datetime.isoformat() if i.datetime else "" for i in found]
        assert dates != sorted(dates, reverse=True)


def test_startup_failures_raise_with_the_server_output(stac_dir: Path, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with (
            pytest.raises(RuntimeError, match=r"(?i)address already in use"),
            serve_stac([stac_dir], port=busy.getsockname()[1]),
        ):
            pass
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"type": "Feature", "id": "x"}))
    with pytest.raises(RuntimeError, match="without a collection"), serve_stac([bad]):
        pass
    with pytest.raises(FileNotFoundError):
        stac_files([tmp_path / "missing.json"])


def test_folders_load_only_stac_documents(stac_dir: Path) -> None:
    files = stac_files([stac_dir.parent])  # scenario.json and the truth files are skipped
    assert files[0].name == "collection.json" and len(files) == 1 + len(DATES)
