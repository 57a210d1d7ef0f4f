"""Builders for the Modbus collector tests (meters, devices, points) and the database-outage helper."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2
from django.conf import settings
from django.db import connection

from metering.models import EnergyType, Meter, ModbusDevice, ModbusPoint
from portal.models import Enterprise


def make_meter(enterprise: Enterprise, code: str, **fields: Any) -> Meter:
    values: dict[str, Any] = {"name": code, "level": 3, "energy_type": EnergyType.ELECTRICITY, "unit": "kWh"}
    values.update(fields)
    return Meter.objects.create(enterprise=enterprise, code=code, **values)


def make_device(enterprise: Enterprise, name: str, *, port: int, **fields: Any) -> ModbusDevice:
    values: dict[str, Any] = {"host": "127.0.0.1", "timeout_s": 1.0, "retries": 0, "backoff_s": 0.0}
    values.update(fields)
    device = ModbusDevice(enterprise=enterprise, name=name, port=port, **values)
    device.full_clean()
    device.save()
    return device


def add_point(device: ModbusDevice, meter: Meter, **fields: Any) -> ModbusPoint:
    point = ModbusPoint(device=device, meter=meter, **fields)
    point.full_clean()
    point.save()
    return point


def _admin_connection() -> Any:
    db = settings.DATABASES["default"]
    conn = psycopg2.connect(
        dbname="postgres",
        user=db.get("USER") or "postgres",
        password=db.get("PASSWORD") or None,
        host=db.get("HOST") or "127.0.0.1",
        port=db.get("PORT") or 5432,
    )
    conn.autocommit = True
    return conn


def take_test_database_down() -> None:
    """A real outage of this test run's own database (never the shared server): refuse new
    connections and cut the open ones. Callable from any thread."""
    name = connection.settings_dict["NAME"]
    assert name.startswith("test_"), "only ever take a pytest database down"
    with _admin_connection() as admin, admin.cursor() as cursor:
        cursor.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
    admin.close()


def make_test_database_read_only() -> None:
    """This test run's own database as a standby after failover: it answers, but every write is
    refused with InternalError (SQLSTATE 25006), on new connections and on this thread's open one."""
    name = connection.settings_dict["NAME"]
    assert name.startswith("test_"), "only ever make a pytest database read-only"
    with _admin_connection() as admin, admin.cursor() as cursor:
        cursor.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    admin.close()
    with connection.cursor() as cursor:
        cursor.execute("SET SESSION default_transaction_read_only = on")


def bring_test_database_up() -> None:
    name = connection.settings_dict["NAME"]
    with _admin_connection() as admin, admin.cursor() as cursor:
        cursor.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        cursor.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
    admin.close()


@contextmanager
def database_restored() -> Iterator[None]:
    """Whatever happens in the block, the database comes back and Django reconnects."""
    try:
        yield
    finally:
        bring_test_database_up()
        connection.close()
