"""How a batch reaches the readings table (real PostgreSQL, several real connections).

The ingest COPYs a batch straight into the table and, when that COPY meets a stored reading or a
deadlock with another batch, redoes it through staging + ON CONFLICT DO NOTHING (see
metering/ingest.py). These tests drive each of those ends on purpose and check the stored rows.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections, transaction
from django.db.models import Sum

from metering.ingest.services import IngestResult, readings_ingest
from metering.models import EnergyType, Meter, Reading

START = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
WAIT_S = 30.0


def stamp(minutes: int) -> str:
    return (START + dt.timedelta(minutes=minutes)).isoformat()


def make_meter(enterprise: Any, code: str) -> Meter:
    return Meter.objects.create(enterprise=enterprise, code=code, name=code, level=1,
                                energy_type=EnergyType.ELECTRICITY, unit="kWh")


@pytest.mark.django_db
def test_batch_overlapping_stored_readings_keeps_the_stored_and_adds_only_the_new(world) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, "W-001")
    first = [{"meter": "W-001", "ts": stamp(n), "value": float(n)} for n in range(0, 10, 2)]
    assert readings_ingest(enterprise_id=world.tenant_a.pk, items=first, source="http").accepted == 5
    # Every minute 0..9, with other values: the five even minutes are stored already.
    overlapping = [{"meter": "W-001", "ts": stamp(n), "value": 1000.0 + n} for n in range(10)]
    with transaction.atomic():
        result = readings_ingest(enterprise_id=world.tenant_a.pk, items=overlapping, source="mqtt")
        # The failed direct COPY was undone by its savepoint: the caller's transaction goes on.
        assert Reading.objects.filter(meter=meter).count() == 10
    assert result.as_dict() == {"accepted": 5, "duplicates": 5, "rejected": []}
    stored = dict(Reading.objects.filter(meter=meter).values_list("ts", "value"))
    assert [stored[START + dt.timedelta(minutes=n)] for n in range(10)] == [
        float(n) if n % 2 == 0 else 1000.0 + n for n in range(10)
    ]
    sources = dict(Reading.objects.filter(meter=meter).values_list("ts", "source"))
    assert sources[START] == "http" and sources[START + dt.timedelta(minutes=1)] == "mqtt"


def run_in_thread(target: Callable[[], IngestResult], results: dict[str, Any], name: str) -> threading.Thread:
    def body() -> None:
        try:
            results[name] = target()
        except BaseException as exc:  # reported by the test, not lost with the thread
            results[name] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=body, name=name)
    thread.start()
    return thread


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_same_batch_from_two_connections_at_once_is_stored_once(world) -> None:  # type: ignore[no-untyped-def]
    meters = [make_meter(world.tenant_a, f"C-{n:02d}") for n in range(10)]
    batch = [
        {"meter": m.code, "ts": stamp(minute), "value": float(minute)}
        for minute in range(300)
        for m in meters
    ]
    start = threading.Barrier(2)
    results: dict[str, Any] = {}

    def ingest_after_barrier() -> IngestResult:
        start.wait(WAIT_S)
        return readings_ingest(enterprise_id=world.tenant_a.pk, items=batch, source="mqtt")

    threads = [run_in_thread(ingest_after_barrier, results, name) for name in ("one", "two")]
    for thread in threads:
        thread.join(WAIT_S)
    outcomes = [results["one"], results["two"]]
    assert all(isinstance(outcome, IngestResult) for outcome in outcomes), outcomes
    assert sorted(outcome.accepted for outcome in outcomes) == [0, len(batch)]
    assert sorted(outcome.duplicates for outcome in outcomes) == [0, len(batch)]
    stored = Reading.objects.filter(meter__in=meters)
    assert stored.count() == len(batch)
    assert stored.aggregate(total=Sum("value"))["total"] == sum(float(i["value"]) for i in batch)


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def wait_until_waiting_on_a_lock(pid: int) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
            row = cursor.fetchone()
        if row and row[0] == "Lock":
            return
        time.sleep(0.02)
    raise AssertionError(f"backend {pid} never waited on a lock")


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_deadlock_between_two_batches_is_resolved_by_redoing_one_through_staging(world) -> None:  # type: ignore[no-untyped-def]
    """Batch `holder` stores A and keeps its transaction open; batch `victim` COPYs [B, A] and waits
    on A; then `holder` wants B. PostgreSQL breaks the cycle by failing victim's COPY (victim checks
    for deadlocks first: its deadlock_timeout is the shorter). Victim must redo through staging and
    come back with both readings as duplicates instead of an error."""
    make_meter(world.tenant_a, "D-001")
    reading_a = {"meter": "D-001", "ts": stamp(0), "value": 1.0}
    reading_b = {"meter": "D-001", "ts": stamp(1), "value": 2.0}
    results: dict[str, Any] = {}
    holder_has_a = threading.Event()
    victim_pid: list[int] = []

    def holder() -> IngestResult:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL deadlock_timeout = '20s'")
            first = readings_ingest(enterprise_id=world.tenant_a.pk, items=[reading_a], source="http")
            holder_has_a.set()
            while not victim_pid:
                time.sleep(0.01)
            wait_until_waiting_on_a_lock(victim_pid[0])
            second = readings_ingest(enterprise_id=world.tenant_a.pk, items=[reading_b], source="http")
        return IngestResult(accepted=first.accepted + second.accepted,
                            duplicates=first.duplicates + second.duplicates)

    def victim() -> IngestResult:
        assert holder_has_a.wait(WAIT_S)
        with connection.cursor() as cursor:
            cursor.execute("SET deadlock_timeout = '200ms'")
        victim_pid.append(backend_pid())
        try:
            return readings_ingest(enterprise_id=world.tenant_a.pk, items=[reading_b, reading_a],
                                   source="mqtt")
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET deadlock_timeout")

    threads = [run_in_thread(holder, results, "holder"), run_in_thread(victim, results, "victim")]
    for thread in threads:
        thread.join(WAIT_S * 2)
    assert isinstance(results["holder"], IngestResult), results["holder"]
    assert isinstance(results["victim"], IngestResult), results["victim"]
    assert results["holder"].as_dict() == {"accepted": 2, "duplicates": 0, "rejected": []}
    assert results["victim"].as_dict() == {"accepted": 0, "duplicates": 2, "rejected": []}
    assert sorted(Reading.objects.values_list("value", "source")) == [(1.0, "http"), (2.0, "http")]
