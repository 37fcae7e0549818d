"""KafkaBus against a real broker: delivery, commits, crashes, partition sharing, lag, prefixes."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
import time
from typing import TYPE_CHECKING

import pytest
from kafka import KafkaAdminClient

from greenwatch.services.bus._base import Bus, Consumer, Record
from greenwatch.services.bus.kafka import BusUnavailable, KafkaBus, client_config
from greenwatch.services.errors import TransientError

if TYPE_CHECKING:
    from tests.integration.conftest import KafkaKit

pytestmark = pytest.mark.kafka


def _send(bus: KafkaBus, topic: str, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        bus.send(topic, f"v{i}".encode(), key=f"k{i}".encode())
    bus.flush()


def test_satisfies_the_protocols(kafka_kit: KafkaKit) -> None:
    bus: Bus = kafka_kit.bus()
    bus.ensure_topics(["tasks"])
    consumer: Consumer = kafka_kit.consumer(kafka_kit.bus(), ["tasks"])
    assert bus.prefix == kafka_kit.prefix
    assert consumer.poll(0.1) == []


def test_round_trip_keeps_key_headers_order_and_logical_topic(kafka_kit: KafkaKit) -> None:
    bus = kafka_kit.bus()
    bus.ensure_topics(["tasks"], partitions=1)
    bus.send("tasks", b"one", key=b"k1", headers=[("ce-type", b"tile-task"), ("trace", b"\x00\xff")])
    bus.send("tasks", b"two", key=None)
    bus.send("tasks", b"three", key=b"k1", headers=[("empty", b"")])
    bus.flush()

    got = kafka_kit.poll_until(kafka_kit.consumer(bus, ["tasks"]), 3)

    assert [(r.topic, r.partition, r.offset) for r in got] == [("tasks", 0, 0), ("tasks", 0, 1), ("tasks", 0, 2)]
    assert [(r.key, r.value) for r in got] == [(b"k1", b"one"), (None, b"two"), (b"k1", b"three")]
    assert got[0].headers == (("ce-type", b"tile-task"), ("trace", b"\x00\xff"))
    assert got[0].header("trace") == b"\x00\xff"
    assert got[1].headers == ()
    assert got[2].header("empty") == b""


def test_ensure_topics_is_idempotent_and_creates_dlq_companions(kafka_kit: KafkaKit) -> None:
    bus = kafka_kit.bus()
    bus.ensure_topics(["tasks", "tasks.dlq"], partitions=4)
    bus.ensure_topics(["tasks", "tasks.dlq"], partitions=4)
    admin = KafkaAdminClient(bootstrap_servers=kafka_kit.bootstrap)
    try:
        described = {
            t["name"]: len(t["partitions"])
            for t in admin.describe_topics([f"{kafka_kit.prefix}tasks", f"{kafka_kit.prefix}tasks.dlq"])
        }
    finally:
        admin.close()
    assert described == {f"{kafka_kit.prefix}tasks": 4, f"{kafka_kit.prefix}tasks.dlq": 4}


def test_commit_covers_only_returned_records_and_a_new_member_resumes_there(kafka_kit: KafkaKit) -> None:
    bus = kafka_kit.bus()
    bus.ensure_topics(["tasks"], partitions=1)
    _send(bus, "tasks", 6)

    first = kafka_kit.consumer(bus, ["tasks"])
    got = kafka_kit.poll_until(first, 2, max_records=2)  # the fetcher holds more, returned are two
    first.commit()
    first.close()

    second = kafka_kit.consumer(bus, ["tasks"])
    rest = kafka_kit.poll_until(second, 4)
    assert [r.offset for r in got] == [0, 1]
    assert [r.offset for r in rest] == [2, 3, 4, 5]
    assert second.poll(0.3) == []


def test_uncommitted_records_are_delivered_again_after_close_without_commit(kafka_kit: KafkaKit) -> None:
    bus = kafka_kit.bus()
    bus.ensure_topics(["tasks"], partitions=1)
    _send(bus, "tasks", 5)

    first = kafka_kit.consumer(bus, ["tasks"])
    kafka_kit.poll_until(first, 2, max_records=2)
    first.commit()
    kafka_kit.poll_until(first, 3)  # processed, but the effects never became durable
    first.close()

    again = kafka_kit.poll_until(kafka_kit.consumer(bus, ["tasks"]), 3)
    assert [r.value for r in again] == [b"v2", b"v3", b"v4"]


def test_a_crashed_member_s_uncommitted_records_go_to_the_next_member(kafka_kit: KafkaKit) -> None:
    """A process that dies without leaving the group: the broker evicts it after its session
    timeout, and the survivor gets everything after the last commit."""
    bus = kafka_kit.bus()
    bus.ensure_topics(["tasks"], partitions=1)
    _send(bus, "tasks", 5)
    kit = kafka_kit
    script = textwrap.dedent(
        f"""
        import os, time
        from greenwatch.services.bus.kafka import KafkaBus
        bus = KafkaBus({kit.bootstrap!r}, prefix={kit.prefix!r}, consumer_options={kit.consumer_options!r})
        consumer = bus.consumer(["tasks"], {kafka_kit.group!r})
        got, deadline = [], time.monotonic() + 30
        while len(got) < 2 and time.monotonic() < deadline:
            got += consumer.poll(0.5, max_records=2 - len(got))
        consumer.commit()
        while len(got) < 5 and time.monotonic() < deadline:
            got += consumer.poll(0.5)
        print(len(got), flush=True)
        os._exit(0)  # crash: no commit, no LeaveGroup
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "5"

    again = kafka_kit.poll_until(kafka_kit.consumer(bus, ["tasks"]), 3, timeout_s=30)
    assert [r.offset for r in again] == [2, 3, 4]


def test_seek_uncommitted_rewinds_to_the_committed_position(kafka_kit: KafkaKit) -> None:
    bus = kafka_kit.bus()
    bus.ensure_topics(["tasks"], partitions=1)
    _send(bus, "tasks", 4)
    consumer = kafka_kit.consumer(bus, ["tasks"])

    kafka_kit.poll_until(consumer, 1, max_records=1)
    consumer.commit()
    failed_batch = kafka_kit.poll_until(consumer, 3)
    consumer.seek_uncommitted()
    retried = kafka_kit.poll_until(consumer, 3)

    assert [r.offset for r in failed_batch] == [r.offset for r in retried] == [1, 2, 3]


def test_two_members_of_a_group_split_the_partitions(kafka_kit: KafkaKit) -> None:
    bus = kafka_kit.bus()
    bus.ensure_topics(["tasks"], partitions=4)
    a = kafka_kit.consumer(bus, ["tasks"])
    b = kafka_kit.consumer(bus, ["tasks"])
    deadline = time.monotonic() + 30
    while not (len(a.assignment()) == 2 and len(b.assignment()) == 2):
        assert time.monotonic() < deadline, (a.assignment(), b.assignment())
        a.poll(0.2)
        b.poll(0.2)
    assert a.assignment() | b.assignment() == {("tasks", p) for p in range(4)}

    _send(bus, "tasks", 40)
    got_a: list[Record] = []
    got_b: list[Record] = []
    deadline = time.monotonic() + 30
    while len(got_a) + len(got_b) < 40:
        assert time.monotonic() < deadline, (len(got_a), len(got_b))
        got_a += a.poll(0.2)
        got_b += b.poll(0.2)

    assert {(r.topic, r.partition) for r in got_a} <= a.assignment()
    assert {(r.topic, r.partition) for r in got_b} <= b.assignment()
    assert got_a
    assert got_b
    assert sorted(r.value for r in got_a + got_b) == sorted(f"v{i}".encode() for i in range(40))


def test_lag_counts_records_after_the_committed_position(kafka_kit: KafkaKit) -> None:
    bus = kafka_kit.bus()
    bus.ensure_topics(["tasks"], partitions=2)
    _send(bus, "tasks", 10)
    consumer = kafka_kit.consumer(bus, ["tasks"])

    kafka_kit.poll_until(consumer, 10)
    assert consumer.lag() == 10  # polled, not committed
    consumer.commit()
    assert consumer.lag() == 0
    _send(bus, "tasks", 5, start=10)
    assert consumer.lag() == 5


def test_prefixes_isolate_topics_and_groups(kafka_kit: KafkaKit) -> None:
    blue = kafka_kit.bus(prefix=kafka_kit.prefix + "blue.")
    green = kafka_kit.bus(prefix=kafka_kit.prefix + "green.")
    for bus, colour in ((blue, b"blue"), (green, b"green")):
        bus.ensure_topics(["tasks"], partitions=1)
        bus.send("tasks", colour, key=None)
        bus.flush()

    on_green = kafka_kit.consumer(green, ["tasks"], group="same")
    assert [(r.topic, r.value) for r in kafka_kit.poll_until(on_green, 1)] == [("tasks", b"green")]
    on_green.commit()
    on_blue = kafka_kit.consumer(blue, ["tasks"], group="same")
    assert [(r.topic, r.value) for r in kafka_kit.poll_until(on_blue, 1)] == [("tasks", b"blue")]
    assert on_green.poll(0.5) == []
    assert on_blue.poll(0.2) == []

    admin = KafkaAdminClient(bootstrap_servers=kafka_kit.bootstrap)
    try:
        groups = {g["group_id"] for g in admin.list_groups()}
    finally:
        admin.close()
    assert {f"{kafka_kit.prefix}blue.same", f"{kafka_kit.prefix}green.same"} <= groups


def test_no_broker_fails_fast_with_a_clear_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    threads_before = {t.ident for t in threading.enumerate()}
    started = time.monotonic()

    with pytest.raises(BusUnavailable, match=f"127.0.0.1:{port}") as info:
        KafkaBus(f"127.0.0.1:{port}", bootstrap_timeout_s=1.5)

    assert time.monotonic() - started < 5
    assert isinstance(info.value, TransientError)  # the error table says: retry later
    time.sleep(0.2)
    assert {t.ident for t in threading.enumerate()} <= threads_before  # no network thread left behind


class _Secret:
    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "**********"


def test_security_settings_pass_through_and_unknown_ones_are_refused() -> None:
    security = {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "gw",
        "sasl_plain_password": _Secret("s3cret"),
        "ssl_cafile": "/etc/ca.pem",
        "ssl_certfile": None,
    }
    config = client_config("b1:9093,b2:9093", "gw", security, bootstrap_timeout_s=2, request_timeout_s=10)
    assert config["sasl_plain_password"] == "s3cret"  # noqa: S105 - a test value
    assert config["security_protocol"] == "SASL_SSL"
    assert config["ssl_cafile"] == "/etc/ca.pem"
    assert "ssl_certfile" not in config
    assert config["bootstrap_timeout_ms"] == 2000

    with pytest.raises(ValueError, match="sasl_password") as info:
        client_config("b1:9093", "gw", {"sasl_password": "s3cret"}, bootstrap_timeout_s=2, request_timeout_s=10)
    assert "s3cret" not in str(info.value)


def test_group_lag_is_read_without_joining_the_group(kafka_kit: KafkaKit) -> None:
    bus = kafka_kit.bus()
    bus.ensure_topics(["tasks", "results"], partitions=2)
    _send(bus, "tasks", 6)
    _send(bus, "results", 3)
    assert bus.group_lag(["tasks", "results"], kafka_kit.group) == 9  # nothing committed yet
    assert bus.group_lag(["missing"], kafka_kit.group) == 0

    member = kafka_kit.consumer(bus, ["tasks"])
    kafka_kit.poll_until(member, 6)
    member.commit()
    owned = member.assignment()
    _send(bus, "tasks", 2, start=6)

    assert bus.group_lag(["tasks"], kafka_kit.group) == member.lag() == 2
    assert len(kafka_kit.poll_until(member, 2)) == 2  # still a member, still owns the same partitions
    assert member.assignment() == owned


def test_read_all_lists_a_topic_without_a_group(kafka_kit: KafkaKit) -> None:
    bus = kafka_kit.bus()
    bus.ensure_topics(["tasks.dlq"], partitions=2)
    assert bus.read_all("tasks.dlq") == []
    for i in range(5):
        bus.send("tasks.dlq", f"bad{i}".encode(), key=f"k{i}".encode(), headers=[("gw-error", b"schema")])
    bus.flush()

    got = bus.read_all("tasks.dlq")

    assert sorted(r.value for r in got) == [f"bad{i}".encode() for i in range(5)]
    assert {r.topic for r in got} == {"tasks.dlq"}
    assert all(r.header("gw-error") == b"schema" for r in got)
    assert got == sorted(got, key=lambda r: (r.partition, r.offset))
