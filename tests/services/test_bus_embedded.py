from __future__ import annotations

from pathlib import Path

from greenwatch.services.bus import EmbeddedBus


def test_records_survive_reopen_and_positions_commit(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.db", prefix="p.")
    for i in range(5):
        bus.send("t", f"v{i}".encode(), key=b"k", headers=[("h", b"x")])
    bus.flush()
    c = bus.consumer(["t"], "g")
    got = c.poll(0, 3)
    assert [r.value for r in got] == [b"v0", b"v1", b"v2"]
    assert got[0].topic == "t" and got[0].header("h") == b"x"
    c.commit()
    c.poll(0, 1)  # read but never committed: redelivered after a crash
    bus.close()

    bus2 = EmbeddedBus(tmp_path / "bus.db", prefix="p.")
    c2 = bus2.consumer(["t"], "g")
    assert c2.lag() == 2
    assert [r.value for r in c2.poll(0, 10)] == [b"v3", b"v4"]
    other = bus2.consumer(["t"], "other-group")
    assert len(other.poll(0, 10)) == 5
    isolated = EmbeddedBus(tmp_path / "bus.db", prefix="q.").consumer(["t"], "g")
    assert isolated.poll(0, 10) == []


def test_unflushed_sends_are_not_visible(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.db")
    bus.send("t", b"x", key=None)
    assert bus.consumer(["t"], "g").poll(0, 10) == []
    bus.flush()
    assert len(bus.consumer(["t"], "g").poll(0, 10)) == 1
