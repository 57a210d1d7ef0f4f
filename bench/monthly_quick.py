"""A quick timing of the twelve monthly indicators of one enterprise, old way against new.

`python -m bench.monthly_quick [--meters 100] [--rebuild]` on DATABASE_URL's server, database
`nengtan_bench_monthly` (created if missing). Not the query bench (bench/query_bench.py builds a
500-meter database from readings in ~15 minutes): day buckets are inserted directly (one in 40
days of each tenth meter missing, so gaps and completeness have something to show) and month
buckets derived from them by the real month refresh, in seconds. Times, as the median of several
runs, twelve `enterprise_indicators` calls against one `indicators_by_month`, and checks that they
agree.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import importlib.util
import os
import statistics
import sys
import time
import zoneinfo
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
DATABASE = "nengtan_bench_monthly"
RUNS = 5


def build(meters: int) -> int:
    from decimal import Decimal

    from django.db import connection, transaction
    from django_scopes import scopes_disabled

    from bench.query_bench import GROUP_LAYOUT, METERS_PER_GROUP, year_bounds
    from metering.models import Meter
    from metering.monitoring.models import BasePeriod, ProductionRecord, RollupInterval
    from metering.monitoring.rollups import _month_refresh, _months
    from portal.credit_code import make_credit_code
    from portal.models import Enterprise, Region

    start, end = year_bounds()
    today = dt.datetime.now(TZ).date()
    with scopes_disabled(), transaction.atomic():
        for old in Enterprise.objects.filter(name="月度指标计时企业"):
            for level in (3, 2, 1):  # a parent meter is protected while it has children
                Meter.objects.filter(enterprise=old, level=level).delete()
            old.delete()
        enterprise = Enterprise.objects.create(
            credit_code=make_credit_code("91410105QMNTH001X"), name="月度指标计时企业",
            region=Region.objects.get(code="410105"), kind=Enterprise.Kind.INDUSTRIAL,
            status=Enterprise.Status.APPROVED)
        created: list[Meter] = []
        for number in range(meters):
            group, index = divmod(number, METERS_PER_GROUP)
            level, energy_type, unit, _rate, parent = GROUP_LAYOUT[index]
            created.append(Meter.objects.create(
                enterprise=enterprise, code=f"M{group:02d}-{index:02d}", name=f"计时表{number}", level=level,
                energy_type=energy_type, unit=unit, cumulative=True,
                parent=created[group * METERS_PER_GROUP + parent] if parent is not None else None))
        ids = [meter.pk for meter in created]
        rates = [GROUP_LAYOUT[number % METERS_PER_GROUP][3] for number in range(meters)]
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO monitoring_rollup (meter_id, interval, ts, value, expected, received, quality,
                                               empty_leading, empty_trailing, empty_longest, computed_at)
                SELECT m.id, 'day', d, m.rate * 96, 96, 96, 0, 0, 0, 0, now()
                FROM unnest(%s::bigint[], %s::float8[]) AS m(id, rate)
                CROSS JOIN generate_series(%s::timestamptz, %s::timestamptz, interval '1 day') AS d
                WHERE NOT (m.id %% 10 = 0 AND (extract(epoch FROM d)::bigint / 86400) %% 40 = 0)
                """,
                [ids, rates, start, dt.datetime.combine(today, dt.time(), TZ) - dt.timedelta(days=1)],
            )
        for meter_id in ids:
            for month in _months(start.date(), today):
                _month_refresh(meter_id=meter_id, month=month)
        for month_start, _following in _month_list(start, end):
            ProductionRecord.objects.create(enterprise=enterprise, month=month_start.date(), product="钢材",
                                            quantity=Decimal(1000), unit="t",
                                            output_value_wan_yuan=Decimal(100))
        BasePeriod.objects.create(enterprise=enterprise, start_month=start.date(),
                                  end_month=(start + dt.timedelta(days=32)).date().replace(day=1))
        assert RollupInterval.MONTH
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE monitoring_rollup")
    return enterprise.pk


def _month_list(start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    from bench.query_bench import months_of

    return months_of(start, end)


def timed(function: Any) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(RUNS):
        began = time.perf_counter()
        result = function()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), result


def count_queries(function: Any) -> int:
    from django.db import connection

    seen = []

    def wrapper(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        function()
    return len(seen)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--meters", type=int, default=100)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--old", help="an earlier indicators.py to time against")
    args = parser.parse_args(argv)
    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/nengtan")
    os.environ["DATABASE_URL"] = base_url.rsplit("/", 1)[0] + "/" + DATABASE
    os.environ["NENGTAN_ENV"] = "development"
    os.environ["REDIS_URL"] = ""
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    sys.path.insert(0, str(ROOT))
    from bench import ingest_bench

    ingest_bench.create_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command
    from django_scopes import scope, scopes_disabled

    from bench.query_bench import year_bounds
    from metering.models import Meter
    from metering.monitoring import indicators as ind
    from portal.models import Enterprise

    call_command("migrate", verbosity=0, interactive=False)
    call_command("load_factor_sets", verbosity=0)
    with scopes_disabled():
        existing = Enterprise.objects.filter(name="月度指标计时企业").first()
        count = Meter.objects.filter(enterprise=existing).count() if existing else 0
    if args.rebuild or existing is None or count != args.meters:
        began = time.perf_counter()
        enterprise_id = build(args.meters)
        print(f"built {args.meters} meters in {time.perf_counter() - began:.1f} s")
    else:
        enterprise_id = existing.pk
    start, end = year_bounds()
    months = _month_list(start, end)
    # The code before the batched pass, to time against: `--old path/to/indicators.py` (a copy of
    # metering/monitoring/indicators.py from an earlier commit); else twelve calls of today's.
    old_module: Any = ind
    if args.old:
        spec = importlib.util.spec_from_file_location("indicators_old", args.old)
        assert spec is not None and spec.loader is not None
        old_module = sys.modules["indicators_old"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(old_module)
    with scope(enterprise=[enterprise_id]):
        enterprise = Enterprise.objects.get(pk=enterprise_id)

        def twelve() -> list[Any]:
            return [old_module.enterprise_indicators(enterprise, start=a, end=b) for a, b in months]

        def batched() -> list[Any]:
            return ind.indicators_by_month(enterprise, start=start, end=end)

        print(f"{args.meters} meters, {start:%Y-%m}–{end:%Y-%m} (exclusive)")
        old_ms, old = timed(twelve)
        print(f"  twelve enterprise_indicators{' (old code)' if args.old else ''}: {old_ms:7.1f} ms, "
              f"{count_queries(twelve)} queries")
        new_ms, new = timed(batched)
        print(f"  one indicators_by_month: {new_ms:7.1f} ms, {count_queries(batched)} queries "
              f"({old_ms / new_ms:.1f}× faster)")
        same = [dataclasses.asdict(a) == dataclasses.asdict(b) for a, b in zip(old, new, strict=True)]
        print(f"  identical month by month: {all(same)} {same if not all(same) else ''}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
