"""Stored rollups: the consumption of each meter per 15 minutes, hour, day and month.

Buckets are calendar-aligned in Asia/Shanghai (a day is 00:00–24:00 +08:00, a month starts on
the 1st 00:00, the national monitoring convention). Each keeps:

- `value`: the consumption in the bucket. A cumulative register's consumption between two
  readings (its reset and rollover handled by metering/storage/consumption.py) is attributed
  whole to the bucket of the later reading, and an interval meter's reading to the bucket that
  holds it; so every interval lands in exactly one bucket and the buckets of a day sum exactly to
  the raw consumption of that day (last reading of the day less last reading before it);
- `expected` / `received`: 15-minute slots, expected by the calendar (an hour 4, a day 96, a
  month 96 × its days) and received when the slot holds at least one reading, however often the
  meter reports;
- `quality`: the worst quality of the consumption in the bucket (`metering.models.Quality`), and
  `missing` for a bucket without readings (an interval meter's gap).

How they stay current: ingest sends `readings_written` in each batch's transaction; monitoring's
receiver widens the meter's `RollupDirtyRange` (one upsert per batch) and queues
`monitoring.tasks.recompute_rollups` on commit. The task claims a bounded batch of dirty ranges
(SKIP LOCKED, with a lease) and recomputes, per meter, every day the range touches (and the day of
the next reading after it, whose interval changed too), then that day's hours and quarters and the
months those days fall in. A recompute replaces buckets from the raw readings, it never adds to
them, and runs under a per-meter lock: recomputing twice gives the same rows, never double counts.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import logging
import math
import uuid
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from metering.models import Meter
from metering.monitoring.models import Rollup, RollupDirtyRange, RollupInterval
from metering.storage.consumption import QUALITY_MISSING, QUALITY_OK, ConsumptionInterval
from metering.storage.selectors import consumption_by_reading, next_reading_ts

logger = logging.getLogger(__name__)

ROLLUP_TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
SLOT = dt.timedelta(minutes=15)
# Dirty meters recomputed per task run: each costs the readings of the days its range touches
# (a day of 15-minute data is ~100 rows, a live meter's range is usually today), so a run stays
# within tens of seconds and the next run (queued at once when the batch was full) takes the rest.
ROLLUP_RECOMPUTE_BATCH = 200
# A claim older than this belongs to a worker that died: the range may be claimed again.
ROLLUP_CLAIM_LEASE_S = 600
# Two-key advisory lock namespace of the per-meter recompute lock (PostgreSQL), an arbitrary
# constant that no other lock of the portal uses.
ROLLUP_LOCK_NAMESPACE = 8_0001

# The widths stored from readings directly; months are summed from the stored days.
FROM_READINGS = (RollupInterval.QUARTER, RollupInterval.HOUR, RollupInterval.DAY)


# --- calendar ------------------------------------------------------------------------------------


def bucket_start(ts: dt.datetime, interval: str) -> dt.datetime:
    """The start (in +08:00) of the `interval` bucket that holds `ts`."""
    local = ts.astimezone(ROLLUP_TZ)
    if interval == RollupInterval.QUARTER:
        return local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0)
    if interval == RollupInterval.HOUR:
        return local.replace(minute=0, second=0, microsecond=0)
    if interval == RollupInterval.DAY:
        return local.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == RollupInterval.MONTH:
        return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    raise ValueError(f"unknown rollup interval {interval!r}")


def bucket_end(start: dt.datetime, interval: str) -> dt.datetime:
    """The start of the bucket after the one starting at `start` (a local, aligned instant)."""
    if interval == RollupInterval.QUARTER:
        return start + SLOT
    if interval == RollupInterval.HOUR:
        return start + dt.timedelta(hours=1)
    if interval == RollupInterval.DAY:
        return midnight(start.date() + dt.timedelta(days=1))
    if interval == RollupInterval.MONTH:
        following = start.date().replace(day=28) + dt.timedelta(days=4)
        return midnight(following.replace(day=1))
    raise ValueError(f"unknown rollup interval {interval!r}")


def expected_slots(start: dt.datetime, interval: str) -> int:
    """15-minute slots in the bucket: 1, 4, 96, 96 × days (elapsed time, taken in UTC)."""
    elapsed = bucket_end(start, interval).astimezone(dt.UTC) - start.astimezone(dt.UTC)
    return int(elapsed / SLOT)


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=ROLLUP_TZ)


def local_date(ts: dt.datetime) -> dt.date:
    return ts.astimezone(ROLLUP_TZ).date()


# --- buckets from readings (pure) -----------------------------------------------------------------


@dataclass(frozen=True)
class BucketFigures:
    value: float
    expected: int
    received: int
    quality: int
    # Runs of empty 15-minute slots in the bucket: before its first received slot, after its last,
    # and the longest anywhere in it (all `expected` when nothing was received). Stored so that the
    # longest gap of any period is combined from a few coarse buckets (see `combine_gaps`) instead
    # of read from 35 040 quarters per meter-year.
    empty_leading: int = 0
    empty_trailing: int = 0
    empty_longest: int = 0


@dataclass(frozen=True)
class GapSegment:
    """One stretch of a meter's time line, in 15-minute slots, as `combine_gaps` reads it."""

    expected: int
    received: int
    empty_leading: int
    empty_trailing: int
    empty_longest: int

    @classmethod
    def empty(cls, expected: int) -> GapSegment:
        """A stretch with no bucket stored: nothing received."""
        return cls(expected, 0, expected, expected, expected)


def combine_gaps(segments: Iterable[GapSegment]) -> GapSegment:
    """The summary of consecutive segments (in time order, tiling a period without holes): a run of
    empty slots continues across a segment boundary and through wholly empty segments."""
    expected = received = leading = longest = 0
    run = 0  # the empty run reaching the end of what has been read so far
    seen = False
    for segment in segments:
        expected += segment.expected
        received += segment.received
        if segment.received == 0:
            run += segment.expected
            continue
        if not seen:
            leading = run + segment.empty_leading
            seen = True
        longest = max(longest, run + segment.empty_leading, segment.empty_longest)
        run = segment.empty_trailing
    if not seen:
        return GapSegment(expected, 0, expected, expected, expected)
    return GapSegment(expected, received, leading, run, max(longest, run))


def _slot_gaps(wall_start: dt.datetime, expected: int, slots: set[dt.datetime]) -> tuple[int, int, int]:
    """(leading, trailing, longest) empty runs of a bucket from its received slots (wall times, as
    in `buckets_from_readings`)."""
    if not slots:
        return expected, expected, expected
    if expected == 1:
        return 0, 0, 0
    indexes = sorted((slot - wall_start) // SLOT for slot in slots)
    leading, trailing = indexes[0], expected - 1 - indexes[-1]
    inner = max((b - a - 1 for a, b in itertools.pairwise(indexes)), default=0)
    return leading, trailing, max(leading, trailing, inner)


@dataclass
class _Accumulator:
    amounts: list[float] = field(default_factory=list)
    quality: int = QUALITY_OK
    slots: set[dt.datetime] = field(default_factory=set)


def buckets_from_readings(
    instants: Iterable[dt.datetime], intervals: Iterable[ConsumptionInterval]
) -> dict[tuple[str, dt.datetime], BucketFigures]:
    """Quarter, hour and day buckets of one meter: (interval, bucket start) -> figures.

    `intervals` are attributed by their end (the later reading); `instants` (the readings' times)
    fill the received slots. A bucket exists where a reading or an interval falls.
    """
    # Keys are naive local wall times: hashing an aware datetime asks its zone for the offset each
    # time, and a year of 15-minute data is 280 000 look-ups. Asia/Shanghai has kept one offset
    # since 1991, so a wall time names one instant and the zone is put back on at the end.
    found: dict[tuple[str, dt.datetime], _Accumulator] = {}
    # A reading's instant is usually also an interval's end: its three bucket starts are worked out
    # once per instant (the time zone conversion is the cost).
    starts_of: dict[dt.datetime, tuple[dt.datetime, ...]] = {}
    for interval in intervals:
        if (starts := starts_of.get(interval.end)) is None:
            starts = starts_of[interval.end] = _bucket_starts(interval.end)
        for width, start in zip(FROM_READINGS, starts, strict=True):
            bucket = found.get((width, start)) or found.setdefault((width, start), _Accumulator())
            bucket.amounts.append(interval.amount)
            if interval.quality > bucket.quality:
                bucket.quality = interval.quality
    for instant in instants:
        if (starts := starts_of.get(instant)) is None:
            starts = starts_of[instant] = _bucket_starts(instant)
        slot = starts[0]
        for width, start in zip(FROM_READINGS, starts, strict=True):
            (found.get((width, start)) or found.setdefault((width, start), _Accumulator())).slots.add(slot)
    day_slots: dict[dt.datetime, int] = {}
    figures: dict[tuple[str, dt.datetime], BucketFigures] = {}
    for (bucket_width, wall), bucket in found.items():
        start = wall.replace(tzinfo=ROLLUP_TZ)
        expected = _expected(bucket_width, start, day_slots)
        leading, trailing, longest = _slot_gaps(wall, expected, bucket.slots)
        figures[(bucket_width, start)] = BucketFigures(
            # fsum: a day of 96 additions must not drift from the register difference.
            value=math.fsum(bucket.amounts),
            expected=expected,
            received=len(bucket.slots),
            quality=bucket.quality if bucket.slots else QUALITY_MISSING,
            empty_leading=leading,
            empty_trailing=trailing,
            empty_longest=longest,
        )
    return figures


def _expected(width: str, start: dt.datetime, day_slots: dict[dt.datetime, int]) -> int:
    """expected_slots, with the common case short-cut: a quarter is one slot, and an hour of a day
    of 96 slots (no clock change that day) is four."""
    if width == RollupInterval.QUARTER:
        return 1
    day = start.replace(hour=0, minute=0)
    if day not in day_slots:
        day_slots[day] = expected_slots(day, RollupInterval.DAY)
    if width == RollupInterval.DAY:
        return day_slots[day]
    return 4 if day_slots[day] == 96 else expected_slots(start, width)


def _bucket_starts(ts: dt.datetime) -> tuple[dt.datetime, ...]:
    """The quarter, hour and day buckets (FROM_READINGS, in order) that hold `ts`, as local wall times."""
    local = ts.astimezone(ROLLUP_TZ)
    quarter = local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0, tzinfo=None)
    return (quarter, quarter.replace(minute=0), quarter.replace(hour=0, minute=0))


def month_from_days(month: dt.datetime, days: Mapping[dt.datetime, BucketFigures]
                    ) -> BucketFigures | None:
    """The month bucket from its stored day buckets, by day start (None when it has none). Days
    without a bucket count as wholly empty in the month's gap summary."""
    if not days:
        return None
    received = sum(day.received for day in days.values())
    segments = []
    day = month
    month_end = bucket_end(month, RollupInterval.MONTH)
    while day < month_end:
        stored = days.get(day)
        segments.append(
            GapSegment(stored.expected, stored.received, stored.empty_leading, stored.empty_trailing,
                       stored.empty_longest)
            if stored is not None else GapSegment.empty(expected_slots(day, RollupInterval.DAY))
        )
        day = bucket_end(day, RollupInterval.DAY)
    gaps = combine_gaps(segments)
    return BucketFigures(
        value=math.fsum(day.value for day in days.values()),
        expected=expected_slots(month, RollupInterval.MONTH),
        received=received,
        quality=max(day.quality for day in days.values()) if received else QUALITY_MISSING,
        empty_leading=gaps.empty_leading,
        empty_trailing=gaps.empty_trailing,
        empty_longest=gaps.empty_longest,
    )


# --- the services ---------------------------------------------------------------------------------


def rollups_recompute(*, meter: Meter, earliest: dt.datetime, latest: dt.datetime) -> int:
    """Recompute the meter's buckets touched by readings in [earliest, latest]; returns the number
    of quarter, hour and day buckets written.

    Every day from `earliest`'s to that of the first reading after `latest` (a back-dated reading
    changes the interval ending at its successor) is rebuilt from the raw readings, then the
    months of those days from their days. Runs under a per-meter lock, so concurrent recomputes of
    one meter queue instead of interleaving their delete and insert.
    """
    following = next_reading_ts(meter, latest)
    first_day = local_date(earliest)
    last_day = local_date(following if following is not None else latest)
    window_start = midnight(first_day)
    window_end = midnight(last_day + dt.timedelta(days=1))
    with transaction.atomic():
        _lock_meter(meter.pk)
        instants, intervals = consumption_by_reading(meter, window_start, window_end)
        buckets = buckets_from_readings(instants, intervals)
        Rollup.objects.filter(
            meter_id=meter.pk, interval__in=FROM_READINGS, ts__gte=window_start, ts__lt=window_end
        ).delete()
        _insert_buckets(meter.pk, buckets)
        for month in _months(first_day, last_day):
            _month_refresh(meter_id=meter.pk, month=month)
    _announce_recompute(meter=meter, earliest=earliest, latest=latest)
    return len(buckets)


def _announce_recompute(*, meter: Meter, earliest: dt.datetime, latest: dt.datetime) -> None:
    """Tell the parts above (alarms) once the new buckets are committed; their failure is logged,
    never the recompute's: the buckets are right whatever a receiver makes of them."""
    from metering.monitoring.signals import rollups_recomputed

    def send() -> None:
        for receiver, outcome in rollups_recomputed.send_robust(
            sender=Meter, meter=meter, earliest=earliest, latest=latest
        ):
            if isinstance(outcome, Exception):
                logger.error("rollups_recomputed receiver %r failed for meter %s", receiver, meter.pk,
                             exc_info=outcome)

    transaction.on_commit(send)


def rollup_ranges_mark(*, ranges: Mapping[int, tuple[dt.datetime, dt.datetime]]) -> None:
    """Widen each meter's dirty range to cover (earliest, latest): one statement per batch.

    Runs inside the ingest transaction (metering/ingest/signals.py). Meter ids in order, as the
    ingest writer updates `last_reading_at`: concurrent batches lock the rows in one order.
    """
    if not ranges:
        return
    ordered = sorted(ranges.items())
    table = RollupDirtyRange._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"INSERT INTO {table} AS d (meter_id, earliest, latest, generation) "  # noqa: S608 - constant
                "SELECT v.meter_id, v.earliest, v.latest, 1 "
                "FROM unnest(%s::bigint[], %s::timestamptz[], %s::timestamptz[]) "
                "AS v(meter_id, earliest, latest) "
                "ON CONFLICT (meter_id) DO UPDATE SET earliest = LEAST(d.earliest, EXCLUDED.earliest), "
                "latest = GREATEST(d.latest, EXCLUDED.latest), generation = d.generation + 1",
                [
                    [meter_id for meter_id, _ in ordered],
                    [earliest for _, (earliest, _latest) in ordered],
                    [latest for _, (_earliest, latest) in ordered],
                ],
            )
            return
        adapt = connection.ops.adapt_datetimefield_value
        cursor.executemany(
            f"INSERT INTO {table} (meter_id, earliest, latest, generation) VALUES (%s, %s, %s, 1) "  # noqa: S608
            "ON CONFLICT (meter_id) DO UPDATE SET earliest = min(earliest, excluded.earliest), "
            "latest = max(latest, excluded.latest), generation = generation + 1",
            [(meter_id, adapt(earliest), adapt(latest)) for meter_id, (earliest, latest) in ordered],
        )


@dataclass(frozen=True)
class ClaimedRange:
    id: int
    meter_id: int
    earliest: dt.datetime
    latest: dt.datetime
    generation: int


def rollup_ranges_claim(*, token: uuid.UUID, limit: int = ROLLUP_RECOMPUTE_BATCH) -> list[ClaimedRange]:
    """Claim up to `limit` dirty ranges no live worker holds (oldest first).

    SKIP LOCKED: two workers claiming at once take different rows; a claim lasts
    ROLLUP_CLAIM_LEASE_S, after which a dead worker's rows are free again.
    """
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            RollupDirtyRange.objects.select_for_update(skip_locked=True)
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .order_by("id")
            .values_list("id", "meter_id", "earliest", "latest", "generation")[:limit]
        )
        RollupDirtyRange.objects.filter(id__in=[row[0] for row in rows]).update(
            claim_token=token, claimed_until=now + dt.timedelta(seconds=ROLLUP_CLAIM_LEASE_S)
        )
    return [ClaimedRange(*row) for row in rows]


def rollup_range_release(*, claimed: ClaimedRange, token: uuid.UUID, done: bool) -> bool:
    """Drop the range once recomputed, unless a batch widened it meanwhile (its generation moved):
    then, as after a failure, only the claim is dropped and the range waits for the next run.
    Returns True when the range is gone."""
    if done:
        deleted, _ = RollupDirtyRange.objects.filter(
            id=claimed.id, claim_token=token, generation=claimed.generation
        ).delete()
        if deleted:
            return True
    RollupDirtyRange.objects.filter(id=claimed.id, claim_token=token).update(
        claim_token=None, claimed_until=None
    )
    return False


@dataclass
class RecomputeRun:
    claimed: int = 0
    recomputed: int = 0
    pending: int = 0  # claimed but still dirty (widened meanwhile, or failed): for the next run


def rollups_recompute_dirty(*, limit: int = ROLLUP_RECOMPUTE_BATCH) -> RecomputeRun:
    """One bounded pass: claim dirty ranges, recompute each meter's buckets, release the ranges.

    Runs across tenants (the task is a SystemTask): the claimed rows name their meters.
    """
    token = uuid.uuid4()
    run = RecomputeRun()
    claimed = rollup_ranges_claim(token=token, limit=limit)
    run.claimed = len(claimed)
    meters = Meter.objects.in_bulk([item.meter_id for item in claimed])
    for item in claimed:
        done = False
        meter = meters.get(item.meter_id)
        if meter is not None:
            try:
                rollups_recompute(meter=meter, earliest=item.earliest, latest=item.latest)
                done = True
            except Exception:  # one meter's failure must not hold the others' ranges
                logger.exception("rollup recompute of meter %s failed; it stays dirty", item.meter_id)
        if rollup_range_release(claimed=item, token=token, done=done or meter is None):
            run.recomputed += int(done)
        else:
            run.pending += 1
    return run


# --- helpers --------------------------------------------------------------------------------------


def _lock_meter(meter_id: int) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [ROLLUP_LOCK_NAMESPACE, meter_id])
    # SQLite serializes writers already (one write transaction at a time).


def _insert_buckets(meter_id: int, buckets: Mapping[tuple[str, dt.datetime], BucketFigures]) -> None:
    """Write the buckets: COPY on PostgreSQL (a year of one meter is 44 000 rows, which the ORM's
    bulk_create builds ~25× slower), bulk_create elsewhere."""
    ordered = sorted(buckets.items())
    if connection.vendor != "postgresql":
        Rollup.objects.bulk_create(
            [
                Rollup(meter_id=meter_id, interval=width, ts=start, value=figures.value,
                       expected=figures.expected, received=figures.received, quality=figures.quality,
                       empty_leading=figures.empty_leading, empty_trailing=figures.empty_trailing,
                       empty_longest=figures.empty_longest)
                for (width, start), figures in ordered
            ]
        )
        return
    now = timezone.now().isoformat()
    buffer = io.StringIO()
    for (width, start), figures in ordered:
        # repr(float) round-trips exactly; the interval names and ints need no escaping.
        buffer.write(f"{meter_id}\t{width}\t{start.isoformat()}\t{figures.value!r}\t{figures.expected}\t"
                     f"{figures.received}\t{figures.quality}\t{figures.empty_leading}\t"
                     f"{figures.empty_trailing}\t{figures.empty_longest}\t{now}\n")
    buffer.seek(0)
    columns = ("meter_id, interval, ts, value, expected, received, quality, empty_leading, empty_trailing, "
               "empty_longest, computed_at")
    with connection.cursor() as cursor:
        cursor.copy_expert(f"COPY {Rollup._meta.db_table} ({columns}) FROM STDIN", buffer)  # type: ignore[attr-defined]


def _months(first_day: dt.date, last_day: dt.date) -> Iterator[dt.datetime]:
    month = midnight(first_day.replace(day=1))
    while month.date() <= last_day:
        yield month
        month = bucket_end(month, RollupInterval.MONTH)


def _month_refresh(*, meter_id: int, month: dt.datetime) -> None:
    days = {
        ts.astimezone(ROLLUP_TZ): BucketFigures(
            value=value, expected=expected, received=received, quality=quality,
            empty_leading=leading, empty_trailing=trailing, empty_longest=longest,
        )
        for ts, value, expected, received, quality, leading, trailing, longest in Rollup.objects.filter(
            meter_id=meter_id,
            interval=RollupInterval.DAY,
            ts__gte=month,
            ts__lt=bucket_end(month, RollupInterval.MONTH),
        )
        .order_by("ts")
        .values_list("ts", "value", "expected", "received", "quality", "empty_leading", "empty_trailing",
                     "empty_longest")
    }
    figures = month_from_days(month, days)
    if figures is None:
        Rollup.objects.filter(meter_id=meter_id, interval=RollupInterval.MONTH, ts=month).delete()
        return
    Rollup.objects.update_or_create(
        meter_id=meter_id,
        interval=RollupInterval.MONTH,
        ts=month,
        defaults={"value": figures.value, "expected": figures.expected, "received": figures.received,
                  "quality": figures.quality, "empty_leading": figures.empty_leading,
                  "empty_trailing": figures.empty_trailing, "empty_longest": figures.empty_longest},
    )
