"""Monthly partitions of the readings table (PostgreSQL only).

metering/migrations/0002 makes `metering_reading` a table partitioned by range of `ts`, with a
DEFAULT partition that catches every reading no monthly partition covers, so a back-dated or
mis-clocked reading is stored, never refused. `ensure_partitions` creates the monthly
partitions `metering_reading_yYYYYmMM` (calendar months in Asia/Shanghai, the calendar the
rollups use) for the months around today, and for every month that has rows sitting in the
default partition. A month's rows are moved out of the default partition in the same
transaction that creates its partition:

    LOCK default partition (writers wait; readers do not)
    CREATE TABLE p (LIKE metering_reading)
    DELETE FROM default WHERE ts in month RETURNING *  →  INSERT INTO p
    ALTER TABLE metering_reading ATTACH PARTITION p FOR VALUES FROM (month) TO (next month)

On SQLite (the embedded default) there are no partitions and this is a no-op.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction

logger = logging.getLogger(__name__)

PARENT_TABLE = "metering_reading"
DEFAULT_PARTITION = "metering_reading_default"
# Table names below are built only from these constants and integer year/month: never from input.
MONTHS_AHEAD = 3
MONTHS_BACK = 1


def partition_name(month: dt.date) -> str:
    return f"{PARENT_TABLE}_y{month.year:04d}m{month.month:02d}"


def _add_months(month: dt.date, count: int) -> dt.date:
    index = month.year * 12 + (month.month - 1) + count
    return dt.date(index // 12, index % 12 + 1, 1)


def _month_bounds(month: dt.date, tz: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime(month.year, month.month, 1, tzinfo=tz)
    nxt = _add_months(month, 1)
    return start, dt.datetime(nxt.year, nxt.month, 1, tzinfo=tz)


def is_partitioned(using: str = DEFAULT_DB_ALIAS) -> bool:
    connection = connections[using]
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [PARENT_TABLE])
        row = cursor.fetchone()
    return bool(row and row[0] == "p")


def existing_partitions(using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Names of the monthly partitions attached to the readings table."""
    if not is_partitioned(using):
        return []
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s) AND c.relname <> %s ORDER BY c.relname",
            [PARENT_TABLE, DEFAULT_PARTITION],
        )
        return [name for (name,) in cursor.fetchall()]


def ensure_partitions(
    months_ahead: int = MONTHS_AHEAD,
    months_back: int = MONTHS_BACK,
    *,
    today: dt.date | None = None,
    using: str = DEFAULT_DB_ALIAS,
) -> list[str]:
    """Create missing monthly partitions; return the names created (in month order)."""
    if months_ahead < 0 or months_back < 0:
        raise ValueError("months_ahead and months_back must not be negative")
    if not is_partitioned(using):
        return []
    tz = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    today = today or dt.datetime.now(tz).date()
    this_month = today.replace(day=1)
    wanted = {_add_months(this_month, offset) for offset in range(-months_back, months_ahead + 1)}
    wanted |= _months_in_default_partition(tz, using)
    existing = set(existing_partitions(using))
    created = []
    for month in sorted(wanted):
        name = partition_name(month)
        if name not in existing:
            moved = _create_partition(month, tz, using)
            created.append(name)
            logger.info("created partition %s (moved %d rows out of the default partition)", name, moved)
    return created


def _months_in_default_partition(tz: dt.tzinfo, using: str) -> set[dt.date]:
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT date_trunc('month', ts AT TIME ZONE %s)::date FROM {DEFAULT_PARTITION}",  # noqa: S608
            [str(tz)],
        )
        return {month for (month,) in cursor.fetchall()}


def _create_partition(month: dt.date, tz: dt.tzinfo, using: str) -> int:
    start, end = _month_bounds(month, tz)
    name = partition_name(month)
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        # Writers that would route rows of this month into the default partition wait until the
        # partition is attached; otherwise ATTACH would find them there and fail.
        cursor.execute(f"LOCK TABLE {DEFAULT_PARTITION} IN EXCLUSIVE MODE")
        cursor.execute(f"CREATE TABLE {name} (LIKE {PARENT_TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        # The CHECK lets ATTACH skip scanning the new table; it is dropped once attached.
        cursor.execute(
            f"ALTER TABLE {name} ADD CONSTRAINT {name}_bounds "
            "CHECK (ts IS NOT NULL AND ts >= %s AND ts < %s)",
            [start, end],
        )
        cursor.execute(
            f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE ts >= %s AND ts < %s RETURNING *) "  # noqa: S608
            f"INSERT INTO {name} SELECT * FROM moved",
            [start, end],
        )
        moved = cursor.rowcount
        cursor.execute(
            f"ALTER TABLE {PARENT_TABLE} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)", [start, end]
        )
        cursor.execute(f"ALTER TABLE {name} DROP CONSTRAINT {name}_bounds")
    return moved


def ensure_partitions_after_migrate(sender: Any, using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> None:
    """post_migrate: a freshly migrated database gets its partitions without waiting for beat."""
    ensure_partitions(using=using)
