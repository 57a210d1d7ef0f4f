"""Query cost with stored rollups, against the same answers computed from the raw readings.

The data: one enterprise whose meters (a tree of levels 1–3, electricity, natural gas, purchased heat and
water, cumulative registers) report every 15 minutes for the twelve months before this month, with
a few missing slots. It is built in two steps, so the same queries run at two sizes:

- `small`: 50 meters × a year = 1.75 M readings;
- `full`: 450 more meters in the same enterprise = 500 meters, 17.5 M readings.

Readings are generated in PostgreSQL (INSERT … SELECT generate_series), the rollups by the real
recompute (`metering.monitoring.rollups.rollups_recompute_dirty`, as the Celery task runs it), timed
and reported as the backfill rate.

Queries, each timed as the median of several runs, server time in-process (Django's test client, no
network), against its raw counterpart in the same run, whose answer must agree:

- the daily series of one meter for a year (`GET /api/v1/meters/{id}/readings/?interval=day`), raw:
  that meter's readings turned into consumption and summed per day;
- the monthly indicators of the enterprise for a year (`indicators_by_month`), and the indicators
  request for the year (`GET /api/v1/enterprises/{id}/indicators/`), raw: the top-of-tree meters'
  readings summed per month and converted with the same factor set, and the received 15-minute
  slots of every meter counted from the readings;
- the board page (`GET /metering/board/`), raw: this month's figures and the month's daily trend of
  the top-of-tree meters from the readings.

Not a test: run it with `python -m bench.run --only query` (see bench/run.py).
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
import time
import zoneinfo
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
QUERY_DATABASE = "nengtan_bench_query"
CREDIT_PREFIX = "91410105QUERY"
METERS_PER_GROUP = 50
SMALL_GROUPS = 1
FULL_GROUPS = 10
SLOTS_PER_DAY = 96
# Runs per measurement; the median is reported. Raw answers take seconds, so they run fewer times.
ROLLUP_RUNS = 7
RAW_RUNS = 3
TARGET_MS = 200.0
TARGET_SPEEDUP = 20.0
# Processes recomputing the rollups at once (one per core here), like as many Celery workers.
BACKFILL_WORKERS = 2

# One group of 50 meters: (level, energy type, unit, consumption per 15 minutes, parent index),
# in units the shipped factor sets cover (purchased heat in GJ, water in t).
# The five level-1 meters are the top of the tree: an enterprise's consumption is theirs.
GROUP_LAYOUT: list[tuple[int, str, str, float, int | None]] = [
    (1, "electricity", "kWh", 400.0, None),
    (1, "electricity", "kWh", 250.0, None),
    (1, "natural_gas", "m³", 30.0, None),
    (1, "heat", "GJ", 4.0, None),
    (1, "water", "t", 12.0, None),
    *[(2, "electricity", "kWh", 40.0, index % 2) for index in range(15)],
    *[(3, "electricity", "kWh", 8.0, 5 + index % 15) for index in range(30)],
]


@dataclass
class QueryResult:
    size: str
    query: str
    rollup_ms: float
    raw_ms: float
    agrees: bool

    @property
    def speedup(self) -> float:
        return self.raw_ms / self.rollup_ms if self.rollup_ms else math.inf


def year_bounds(today: dt.date | None = None) -> tuple[dt.datetime, dt.datetime]:
    """The twelve whole months before this month, in Asia/Shanghai."""
    today = today or dt.datetime.now(TZ).date()
    end = dt.datetime(today.year, today.month, 1, tzinfo=TZ)
    return dt.datetime(end.year - 1, end.month, 1, tzinfo=TZ), end


def data_end(now: dt.datetime | None = None) -> dt.datetime:
    """Readings run up to the last whole quarter-hour before now, so this month's board has data."""
    now = (now or dt.datetime.now(TZ)).astimezone(TZ)
    return now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)


def months_of(start: dt.datetime, end: dt.datetime) -> list[tuple[dt.datetime, dt.datetime]]:
    months = []
    month = start
    while month < end:
        following = dt.datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=TZ)
        months.append((month, following))
        month = following
    return months


# --- data ------------------------------------------------------------------------------------------


def prepare_enterprise() -> int:
    from django.core.management import call_command
    from django_scopes import scopes_disabled

    from portal.credit_code import make_credit_code
    from portal.models import Enterprise, Region, Role, User

    call_command("migrate", verbosity=0, interactive=False)
    call_command("load_factor_sets", verbosity=0)
    with scopes_disabled():  # bench set-up acts for nobody: it builds its own tenant
        enterprise, _ = Enterprise.objects.get_or_create(
            credit_code=make_credit_code(f"{CREDIT_PREFIX}001X"[:17]),
            defaults={"name": "查询基准企业", "region": Region.objects.get(code="410105"),
                      "kind": Enterprise.Kind.INDUSTRIAL, "status": Enterprise.Status.APPROVED},
        )
        User.objects.get_or_create(
            username="query_bench_admin", defaults={"role": Role.ENTERPRISE_ADMIN, "enterprise": enterprise}
        )
    return enterprise.pk


def meter_count(enterprise_id: int) -> int:
    from django_scopes import scopes_disabled

    from metering.models import Meter

    with scopes_disabled():
        return Meter.objects.filter(enterprise_id=enterprise_id).count()


def add_group(enterprise_id: int, group: int, start: dt.datetime, end: dt.datetime) -> int:
    """Create one group of meters with a year of 15-minute readings; returns readings written."""
    from django.db import connection, transaction
    from django_scopes import scopes_disabled

    from metering.models import Meter

    slots = int((end - start) / dt.timedelta(minutes=15))
    with scopes_disabled(), transaction.atomic():
        created: list[Meter] = []
        for index, (level, energy_type, unit, _rate, parent) in enumerate(GROUP_LAYOUT):
            created.append(Meter.objects.create(
                enterprise_id=enterprise_id, code=f"Q{group:02d}-{index:02d}", name=f"查询表{group}-{index}",
                level=level, energy_type=energy_type, unit=unit, cumulative=True,
                parent=created[parent] if parent is not None else None,
            ))
        ids = [meter.pk for meter in created]
        rates = [rate for _level, _type, _unit, rate, _parent in GROUP_LAYOUT]
        with connection.cursor() as cursor:
            # A cumulative register: the integral of rate × (1 + ½ sin(daily cycle)), so it only
            # rises. Missing slots: about one in 997 at random, and a one-hour outage each 100 days
            # for every tenth meter: the completeness and gap figures have something to find.
            cursor.execute(
                """
                INSERT INTO metering_reading (meter_id, ts, value, quality, source, received_at)
                SELECT m.id, %s::timestamptz + k.n * interval '15 minutes',
                       m.rate * (k.n + 8 - 0.5 * 96 / (2 * pi()) * cos(2 * pi() * k.n / 96)),
                       0, 'import', now()
                FROM unnest(%s::bigint[], %s::float8[]) AS m(id, rate)
                CROSS JOIN generate_series(0, %s - 1) AS k(n)
                WHERE (m.id * 7919 + k.n::bigint * 104729) %% 997 <> 0
                  AND NOT (m.id %% 10 = 0 AND k.n %% 9600 BETWEEN 4000 AND 4003)
                """,
                [start, ids, rates, slots],
            )
            written = cursor.rowcount
            cursor.execute(
                "INSERT INTO monitoring_rollupdirtyrange (meter_id, earliest, latest, generation) "
                "SELECT id, %s, %s, 1 FROM unnest(%s::bigint[]) AS m(id)",
                [start, end, ids],
            )
            cursor.execute("UPDATE metering_meter SET last_reading_at = %s WHERE id = ANY(%s)",
                           [end - dt.timedelta(minutes=15), ids])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE metering_reading")
    return written


def _backfill_worker(_number: int) -> int:
    """One recompute worker (a forked process, as a Celery worker would be): drains dirty ranges."""
    from django_scopes import scopes_disabled

    from metering.monitoring.rollups import rollups_recompute_dirty

    meters = 0
    with scopes_disabled():
        while (run := rollups_recompute_dirty(limit=10)).claimed:
            meters += run.recomputed
    return meters


def backfill_rollups(workers: int = BACKFILL_WORKERS) -> tuple[int, float]:
    """Recompute every dirty range with `workers` processes, as that many Celery workers would
    (their claims are SKIP LOCKED, so they share the work); returns (meters, seconds)."""
    import multiprocessing

    from django.db import connection, connections

    connections.close_all()  # forked children must not share the parent's database connection
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        meters = sum(pool.map(_backfill_worker, range(workers)))
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        # As autovacuum would by now: the planner needs the new meters and rollups counted.
        cursor.execute("ANALYZE")
    return meters, seconds


# --- raw answers -------------------------------------------------------------------------------------


def raw_daily_series(meter: Any, start: dt.datetime, end: dt.datetime) -> dict[dt.datetime, float]:
    """Consumption per local day from the raw readings: intervals ending in [start, end), as the
    rollups attribute each interval to the bucket of its later reading."""
    from metering.storage.selectors import consumption_series

    epsilon = dt.timedelta(microseconds=1)
    days: dict[dt.datetime, list[float]] = defaultdict(list)
    for interval in consumption_series(meter, start - epsilon, end - epsilon):
        local = interval.end.astimezone(TZ)
        days[dt.datetime(local.year, local.month, local.day, tzinfo=TZ)].append(interval.amount)
    return {day: math.fsum(amounts) for day, amounts in days.items()}


def raw_received_slots(enterprise_id: int, start: dt.datetime, end: dt.datetime) -> dict[dt.datetime, int]:
    """Received 15-minute slots per local month, over every meter of the enterprise, from readings."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT date_trunc('month', r.ts AT TIME ZONE 'Asia/Shanghai') AS month,
                   count(DISTINCT (r.meter_id, floor(extract(epoch FROM r.ts) / 900)))
            FROM metering_reading r JOIN metering_meter m ON m.id = r.meter_id
            WHERE m.enterprise_id = %s AND r.ts >= %s AND r.ts < %s
            GROUP BY 1
            """,
            [enterprise_id, start, end],
        )
        return {month.replace(tzinfo=TZ): count for month, count in cursor.fetchall()}


def raw_monthly_tce(enterprise: Any, start: dt.datetime, end: dt.datetime) -> dict[dt.datetime, Decimal]:
    """tce per month from the top-of-tree meters' raw readings, with the default factor sets."""
    from metering.models import Meter
    from metering.monitoring.factor_sets import figures_for

    top = list(Meter.objects.filter(enterprise=enterprise, parent__isnull=True, is_active=True))
    result = {}
    for month_start, whole_month_end in months_of(start, end):
        month_end = min(whole_month_end, end)
        quantities: dict[str, tuple[Decimal, str]] = {}
        for meter in top:
            amount = math.fsum(raw_daily_series(meter, month_start, month_end).values())
            previous, _unit = quantities.get(meter.energy_type, (Decimal(0), meter.unit))
            quantities[meter.energy_type] = (previous + Decimal(repr(amount)), meter.unit)
        # figures_for takes days [first, last + 1): the day holding the end is the last one.
        days_end = (month_end - dt.timedelta(microseconds=1)).date() + dt.timedelta(days=1)
        figures = figures_for(quantities, period=(month_start.date(), days_end), region=enterprise.region)
        result[month_start] = figures.total_tce
    return result


# --- timing --------------------------------------------------------------------------------------


def timed(function: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """Median wall time in ms over `runs` calls after one warm-up call, and the last answer."""
    answer = function()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        answer = function()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), answer


def close(a: float, b: float, *, tolerance: float = 1e-6) -> bool:
    return math.isclose(a, b, rel_tol=tolerance, abs_tol=1e-6)


def measure(size: str, enterprise_id: int, start: dt.datetime, end: dt.datetime) -> list[QueryResult]:
    from django.test import Client
    from django_scopes import scope

    from metering.models import Meter
    from metering.monitoring import indicators as ind
    from portal.models import Enterprise, User

    results = []
    client = Client()
    with scope(enterprise=[enterprise_id]):
        enterprise = Enterprise.objects.get(pk=enterprise_id)
        user = User.objects.get(username="query_bench_admin")
        client.force_login(user)
        meter = Meter.objects.filter(enterprise=enterprise, parent__isnull=True).order_by("pk").first()
        assert meter is not None

        # 1. the daily series of one meter for a year, through the readings API
        url = (f"/api/v1/meters/{meter.pk}/readings/?interval=day&start={start.isoformat()}"
               f"&end={end.isoformat()}&page_size=400")

        def api_daily() -> dict[str, float]:
            response = client.get(url, HTTP_ACCEPT="application/json")
            assert response.status_code == 200, response.content[:300]
            return {item["ts"]: item["value"] for item in response.json()["results"]}

        rollup_ms, from_rollups = timed(api_daily, ROLLUP_RUNS)
        raw_ms, from_raw = timed(lambda: raw_daily_series(meter, start, end), RAW_RUNS)
        agrees = len(from_rollups) == len(from_raw) and all(
            close(value, from_raw[dt.datetime.fromisoformat(ts)]) for ts, value in from_rollups.items()
        )
        results.append(QueryResult(size, "daily series, 1 meter × 1 year (API)", rollup_ms, raw_ms, agrees))

        # 2. monthly indicators of the enterprise for a year
        rollup_ms, monthly = timed(lambda: ind.indicators_by_month(enterprise, start=start, end=end),
                                   ROLLUP_RUNS)

        def raw_monthly() -> tuple[dict[dt.datetime, Decimal], dict[dt.datetime, int]]:
            return raw_monthly_tce(enterprise, start, end), raw_received_slots(enterprise_id, start, end)

        raw_ms, (raw_tce, raw_slots) = timed(raw_monthly, 1)
        agrees = all(
            close(float(figures.total_tce), float(raw_tce[figures.start]), tolerance=1e-6)
            and figures.received_slots == raw_slots.get(figures.start, 0)
            for figures in monthly
        )
        results.append(QueryResult(size, "monthly indicators, enterprise × 12 months", rollup_ms, raw_ms,
                                   agrees))

        # 3. the indicators request for the year
        indicators_url = (f"/api/v1/enterprises/{enterprise_id}/indicators/?start={start.date().isoformat()}"
                          f"&end={end.date().isoformat()}")  # end exclusive

        def api_indicators() -> dict[str, Any]:
            response = client.get(indicators_url, HTTP_ACCEPT="application/json")
            assert response.status_code == 200, response.content[:300]
            return response.json()

        rollup_ms, answer = timed(api_indicators, ROLLUP_RUNS)
        year_tce = sum(raw_tce.values(), Decimal(0))
        agrees = close(float(answer["total_tce"]), float(year_tce), tolerance=1e-6)
        results.append(QueryResult(size, "indicators request, enterprise × 1 year (API)", rollup_ms,
                                   raw_ms, agrees))

        # 4. the board page (this month, readings up to the last quarter-hour)
        def board_page() -> bytes:
            response = client.get("/metering/board/")
            assert response.status_code == 200, response.content[:300]
            return response.content

        rollup_ms, _page = timed(board_page, ROLLUP_RUNS)
        this_month_start, now = end, data_end()

        def raw_board() -> Decimal:
            top = Meter.objects.filter(enterprise=enterprise, parent__isnull=True)
            for each in top:
                raw_daily_series(each, this_month_start, now)
            return raw_monthly_tce(enterprise, this_month_start, now)[this_month_start]

        raw_ms, _ = timed(raw_board, RAW_RUNS)
        results.append(QueryResult(size, "board page (看板), today", rollup_ms, raw_ms, True))

        # 5. the board's data late in a month (today is early in one, whatever day the bench runs):
        # the month so far, its comparison with last year, the day's trend, as of the last
        # month's 28th at 18:00; raw: the same figures from the readings.
        from metering.board.selectors import board_data

        late = dt.datetime(end.year - (end.month == 1), (end.month - 2) % 12 + 1, 28, 18, 0, tzinfo=TZ)
        late_month = dt.datetime(late.year, late.month, 1, tzinfo=TZ)
        rollup_ms, data = timed(lambda: board_data(enterprise, now=late), ROLLUP_RUNS)

        def raw_late_board() -> tuple[Decimal, Decimal]:
            # The board's month runs to the end of today (a day is the smallest period it names).
            day_start = late.replace(hour=0)
            day_end = day_start + dt.timedelta(days=1)
            for each in Meter.objects.filter(enterprise=enterprise, parent__isnull=True):
                raw_daily_series(each, day_start, late)
            a_year_before = (late_month.replace(year=late_month.year - 1),
                             day_end.replace(year=day_end.year - 1))
            raw_received_slots(enterprise_id, late_month, day_end)
            return (raw_monthly_tce(enterprise, late_month, day_end)[late_month],
                    raw_monthly_tce(enterprise, *a_year_before)[a_year_before[0]])

        raw_ms, (month_tce, _last_year) = timed(raw_late_board, 1)
        agrees = close(float(data["month"]["total_tce"]), float(month_tce), tolerance=1e-6) \
            if isinstance(data.get("month"), dict) and "total_tce" in data["month"] else False
        results.append(QueryResult(size, "board data, the 28th at 18:00 (board_data)", rollup_ms, raw_ms,
                                   agrees))
    return results


def report(results: list[QueryResult]) -> list[dict[str, Any]]:
    print(f"{'size':6} {'query':48} {'rollups ms':>10} {'raw ms':>10} {'× faster':>9} agrees")
    for result in results:
        print(f"{result.size:6} {result.query:48} {result.rollup_ms:>10.1f} {result.raw_ms:>10.1f} "
              f"{result.speedup:>9.0f} {'yes' if result.agrees else 'NO'}")
    return [{**asdict(result), "speedup": round(result.speedup, 1)} for result in results]


def run(database_url: str) -> list[dict[str, Any]]:
    """Build the data in two sizes and measure at each (see the module docstring)."""
    from django.db import connection

    from metering.storage.partitions import ensure_partitions

    start, end = year_bounds()
    readings_end = data_end()
    enterprise_id = prepare_enterprise()
    ensure_partitions(months_back=13)
    if meter_count(enterprise_id):  # a previous run's data: start again, so both sizes are built here
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE metering_reading, monitoring_rollup, monitoring_rollupdirtyrange")
            cursor.execute("DELETE FROM metering_meter WHERE enterprise_id = %s", [enterprise_id])
    results: list[QueryResult] = []
    groups = 0
    for size, wanted in (("small", SMALL_GROUPS), ("full", FULL_GROUPS)):
        written = 0
        started = time.perf_counter()
        while groups < wanted:
            written += add_group(enterprise_id, groups, start, readings_end)
            groups += 1
        generated_s = time.perf_counter() - started
        meters, rollup_s = backfill_rollups()
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM metering_reading")
            total = cursor.fetchone()[0]
        print(f"{size}: {groups * METERS_PER_GROUP} meters, {total:,} readings "
              f"(+{written:,} generated in {generated_s:.0f} s); rollups of {meters} meters recomputed in "
              f"{rollup_s:.0f} s by {BACKFILL_WORKERS} workers ({written / rollup_s:,.0f} readings/s)")
        results.extend(measure(size, enterprise_id, start, end))
    return report(results)
