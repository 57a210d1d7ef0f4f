"""The durable spool: nothing a collector has read is lost while PostgreSQL is down."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from metering.ingest.services import ResolvedReading
from metering.ingest.spool import Spool
from metering.models import QuarantinedMessage, Reading
from tests.metering.private_postgres import PrivatePostgres, private_postgres
from tests.metering.test_ingest import BASE, item, make_meter
from tests.scoping import unscoped

ROOT = Path(__file__).resolve().parents[2]
COLLECTOR_REPLY_TIMEOUT_S = 300


# --- against the test database --------------------------------------------------------------


@pytest.mark.django_db
def test_put_is_durable_and_drain_replays_in_order_exactly_once(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, "E-001")
    spool = Spool("unit", directory=tmp_path)
    spool.put(
        "items",
        {
            "enterprise_id": world.tenant_a.pk,
            "items": [item("E-001", 0, 1.0), item("E-001", 1, 2.0)],
            "source": "mqtt",
        },
    )
    spool.put("resolved", [ResolvedReading(meter.pk, BASE + dt.timedelta(minutes=2), 4.0)])
    spool.put("items", {"enterprise_id": world.tenant_a.pk, "items": [item("E-001", 0, 1.0)]})  # a resend
    spool.close()

    reopened = Spool("unit", directory=tmp_path)  # survives the process: it is a file
    assert len(reopened) == 3
    assert reopened._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert reopened._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL: fsync at every commit
    assert reopened.drain() == 3
    assert len(reopened) == 0
    with unscoped():  # what the drain stored
        assert sorted(Reading.objects.filter(meter=meter).values_list("value", "source")) == [
            (1.0, "mqtt"),
            (2.0, "mqtt"),
            (4.0, "modbus"),
        ]


@pytest.mark.django_db
def test_bad_readings_in_a_spooled_batch_are_quarantined_on_replay(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    make_meter(world.tenant_a, "E-001")
    spool = Spool("nan", directory=tmp_path)
    spool.put(
        "items",
        {"enterprise_id": world.tenant_a.pk, "items": [item("E-001", 0, math.nan), item("E-001", 1, 3.0)]},
    )
    assert spool.drain() == 1
    with unscoped():
        assert list(Reading.objects.values_list("value", flat=True)) == [3.0]
        assert QuarantinedMessage.objects.get(enterprise=world.tenant_a).item_index == 0


@pytest.mark.django_db
def test_replay_reports_the_indexes_the_collector_gave(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """An MQTT message's items after a malformed reading keep their index in the message."""
    make_meter(world.tenant_a, "E-001")
    spool = Spool("indexes", directory=tmp_path)
    spool.put("items", {"enterprise_id": world.tenant_a.pk, "item_indexes": [0, 2],
                        "items": [item("E-001", 0, 1.0), item("E-001", 1, math.inf)]})
    assert spool.drain() == 1
    with unscoped():
        assert QuarantinedMessage.objects.get(enterprise=world.tenant_a).item_index == 2


@pytest.mark.django_db
def test_unreplayable_batch_goes_to_quarantine_not_away(world, tmp_path) -> None:  # type: ignore[no-untyped-def]
    spool = Spool("poison", directory=tmp_path)
    spool.put("items", {"enterprise_id": world.tenant_a.pk})  # no items at all
    spool.put("items", {"enterprise_id": world.tenant_a.pk, "items": []})
    assert spool.drain() == 2
    assert len(spool) == 0
    with unscoped():
        row = QuarantinedMessage.objects.get(enterprise=world.tenant_a)
    assert row.channel == "spool:poison"
    assert "could not be replayed" in row.reason and b'"enterprise_id"' in bytes(row.payload)


def test_a_spool_opened_while_another_process_writes_it_waits_instead_of_failing(tmp_path) -> None:
    """Two consumers of one host starting together once crashed with "database is locked": while
    one holds a write lock on the new file (creating its table), SQLite refuses the other's switch
    to WAL at once, without waiting for the busy timeout. The spool must wait and open."""
    path = tmp_path / "mqtt.sqlite3"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE other_process (x)")
    other.execute("BEGIN IMMEDIATE")  # the write lock another process holds for a moment
    releaser = threading.Timer(0.5, lambda: other.execute("COMMIT"))
    releaser.start()
    try:
        spool = Spool("mqtt", tmp_path)
    finally:
        releaser.join()
        other.close()
    assert spool._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    spool.put("items", {"enterprise_id": 1, "items": [], "source": "mqtt"})
    assert len(spool) == 1


def test_spool_rejects_unknown_kinds_and_unsafe_names(tmp_path) -> None:
    with pytest.raises(ValueError, match="spool name"):
        Spool("../escape", directory=tmp_path)
    spool = Spool("ok", directory=tmp_path)
    with pytest.raises(ValueError, match="kind"):
        spool.put("other", {})
    assert len(spool) == 0


# --- PostgreSQL stopped while collectors read -------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivatePostgres]:
    # Not pytest's tmp_path: its parent is private to root and the postgres user must reach the data.
    directory = Path(tempfile.mkdtemp(prefix="nengtan-pg-"))
    os.chmod(directory, 0o755)  # noqa: S103 - the postgres user must enter it
    try:
        with private_postgres(directory / "cluster") as pg:
            yield pg
    finally:
        shutil.rmtree(directory, ignore_errors=True)


class Collector:
    def __init__(self, database_url: str, spool_dir: Path) -> None:
        env = {**os.environ, "DATABASE_URL": database_url, "SPOOL_DIR": str(spool_dir), "NENGTAN_ENV": "test"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.metering.spool_collector"],
            cwd=ROOT,
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )

    def send(self, **command: object) -> dict:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps(command, default=str) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, f"collector exited with {self.process.wait(COLLECTOR_REPLY_TIMEOUT_S)}"
        return json.loads(line)

    def close(self) -> None:
        if self.process.poll() is None:
            self.send(op="quit")
            self.process.wait(COLLECTOR_REPLY_TIMEOUT_S)


def test_postgresql_stopped_while_collectors_read_loses_nothing(cluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(cluster.port),
            "-U",
            "postgres",
            "-c",
            "CREATE DATABASE outage",
        ],
        check=True,
        capture_output=True,
    )
    collector = Collector(cluster.url("outage"), tmp_path / "spool")
    try:
        ids = collector.send(op="setup")
        enterprise_id, meter_ids = ids["enterprise_id"], ids["meter_ids"]
        t0 = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
        expected: dict[tuple[int, str], float] = {}

        def batch(start: int, count: int) -> list[dict]:
            items = []
            for n in range(start, start + count):
                for index, meter_id in enumerate(meter_ids[:2]):
                    ts = (t0 + dt.timedelta(minutes=n)).isoformat()
                    value = float(n * 10 + index)
                    items.append({"meter": f"M-{index}", "ts": ts, "value": value})
                    expected[(meter_id, ts)] = value
            return items

        def rows(start: int, count: int) -> list[list]:
            out = []
            for n in range(start, start + count):
                ts = (t0 + dt.timedelta(minutes=n)).isoformat()
                out.append([meter_ids[2], ts, float(n)])
                expected[(meter_ids[2], ts)] = float(n)
            return out

        # Up: stored at once.
        assert (
            collector.send(op="collect", enterprise_id=enterprise_id, items=batch(0, 10))["result"][
                "accepted"
            ]
            == 20
        )

        cluster.stop()
        replies = [
            collector.send(op="collect", enterprise_id=enterprise_id, items=batch(10 + 10 * k, 10))
            for k in range(5)
        ]
        replies.append(collector.send(op="collect_resolved", rows=rows(0, 30)))
        # A resend of an already stored batch while down is spooled too, and becomes duplicates later.
        replies.append(collector.send(op="collect", enterprise_id=enterprise_id, items=batch(0, 10)))
        assert all(reply.get("spooled") for reply in replies), replies
        # Draining while the database is still down keeps everything.
        assert collector.send(op="drain") == {"op": "drain", "drained": 0, "waiting": 7}

        cluster.start()
        assert collector.send(op="drain") == {"op": "drain", "drained": 7, "waiting": 0}
        # And the collector's own connection works again without a restart.
        live = collector.send(op="collect", enterprise_id=enterprise_id, items=batch(60, 1))
        assert live["result"]["accepted"] == 2
    finally:
        collector.close()

    with psycopg2.connect(host="127.0.0.1", port=cluster.port, user="postgres", dbname="outage") as conn:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), sum(value), count(DISTINCT (meter_id, ts)) FROM metering_reading"
            )
            count, total, distinct = cursor.fetchone()
    assert count == distinct == len(expected)
    assert total == pytest.approx(sum(expected.values()))


def psql(cluster: PrivatePostgres, *statements: str) -> None:
    for statement in statements:
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres", "-c", statement],
            check=True, capture_output=True,
        )


def test_a_database_that_refuses_writes_keeps_every_batch_until_it_takes_them(cluster, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A failover left the collector on a read-only standby: every write fails with InternalError
    (SQLSTATE 25006), not OperationalError. Nothing is dropped or quarantined; all of it arrives."""
    psql(cluster, "CREATE DATABASE readonly")
    collector = Collector(cluster.url("readonly"), tmp_path / "spool")
    t0 = dt.datetime(2025, 8, 1, tzinfo=dt.UTC)
    try:
        ids = collector.send(op="setup")
        enterprise_id, meter_ids = ids["enterprise_id"], ids["meter_ids"]
        minutes = range(40)
        psql(cluster, "ALTER DATABASE readonly SET default_transaction_read_only = on",
             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'readonly'")
        replies = [
            collector.send(op="collect", enterprise_id=enterprise_id,
                           items=[{"meter": "M-0", "ts": (t0 + dt.timedelta(minutes=m)).isoformat(),
                                   "value": m} for m in minutes[k * 10:(k + 1) * 10]])
            for k in range(4)
        ]
        replies.append(collector.send(op="collect_resolved",
                                      rows=[[meter_ids[1], (t0 + dt.timedelta(minutes=m)).isoformat(), m]
                                            for m in minutes]))
        assert all(reply.get("spooled") for reply in replies), replies
        # The first write met the cut connection; every later one the standby's refusal.
        assert {reply["spooled"] for reply in replies[1:]} == {"InternalError"}, replies
        for _ in range(3):  # passes while the database still refuses: everything stays
            assert collector.send(op="drain") == {"op": "drain", "drained": 0, "waiting": 5}

        psql(cluster, "ALTER DATABASE readonly RESET default_transaction_read_only")
        assert collector.send(op="drain") == {"op": "drain", "drained": 5, "waiting": 0}
    finally:
        collector.close()

    with psycopg2.connect(host="127.0.0.1", port=cluster.port, user="postgres", dbname="readonly") as conn:
        with conn.cursor() as cursor:
            cursor.execute("SELECT meter_id, count(*), sum(value) FROM metering_reading GROUP BY meter_id")
            stored = {meter_id: (count, total) for meter_id, count, total in cursor.fetchall()}
            cursor.execute("SELECT count(*) FROM metering_quarantinedmessage")
            (quarantined,) = cursor.fetchone()
    assert stored == {meter_ids[0]: (40, sum(minutes)), meter_ids[1]: (40, sum(minutes))}
    assert quarantined == 0
