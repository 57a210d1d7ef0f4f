"""Stored rollups: the consumption of each meter per 15 minutes, hour, day and month.

Buckets are calendar-aligned in Asia/Shanghai (a day is 00:00–24:00 +08:00, a month starts on
the 1st 00:00, the national monitoring convention). Each keeps:

- `value`: the consumption in the bucket. A cumulative register's consumption between two
  readings (its reset and rollover handled by metering/storage/consumption.py) is attributed
  whole to the quarter of the later reading, and an interval meter's reading to the quarter that
  holds it; so every interval lands in exactly one quarter. An hour, day or month is the sum of
  its quarters, hours or days in time order (a register's differences add up exactly, so a day
  still sums to the last reading of the day less the last reading before it);
- `expected` / `received`: 15-minute slots, expected by the calendar (an hour 4, a day 96, a
  month 96 × its days) and received when the slot holds at least one reading, however often the
  meter reports;
- `quality`: the worst quality of the consumption in the bucket (`metering.models.Quality`), and
  `missing` for a bucket without readings (an interval meter's gap);
- the runs of empty slots (`empty_leading` / `empty_trailing` / `empty_longest`, see
  `combine_gaps`), and on day buckets the `spacing` their quarters were computed with.

Each local day is computed on its own, as `consumption_by_reading` gives it for that day: gaps
are judged against the typical spacing of the day's readings (for a register, with the reading
before the day), and an interval meter's first reading of the day covers one typical interval.

How they stay current: ingest sends `readings_written` in each batch's transaction; monitoring's
receiver widens the meter's `RollupDirtyRange` (one upsert per batch) and queues
`monitoring.tasks.recompute_rollups` on commit, due ROLLUP_RECOMPUTE_COALESCE_S later, so that
the batches of a burst share one run. The task claims a bounded batch of dirty ranges (SKIP
LOCKED, with a lease) and recomputes all of them together, in a few statements whatever their
number:

1. per meter, the quarters the range touches are rebuilt from the raw readings: from the quarter
   of its earliest reading (an interval meter's: a typical spacing earlier, where a gap filler
   ends) to that of the first reading after it (whose interval changed too). A day whose typical
   spacing moved (a back-dated reading can shift the median), or whose stored day bucket does
   not say the spacing it was computed with, is rebuilt whole. The day's spacing is measured
   over the whole day only when the changed stretch does not step by the stored spacing alone
   (`_stored_spacings_still_typical`); a register's quarters come from one loop over its
   readings (`register_quarters`);
2. the hours of those quarters, then their days and months, are derived in SQL from the stored
   buckets one level below (one statement per level for every meter of the run).

A recompute replaces buckets, it never adds to them, and runs under per-meter locks: recomputing
twice gives the same rows, never double counts; and rebuilding a touched stretch gives the rows a
rebuild of the whole history would (tests/metering/test_rollups_incremental.py).
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import logging
import math
import uuid
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from metering.models import Meter, Reading
from metering.monitoring.models import Rollup, RollupDirtyRange, RollupInterval
from metering.storage.consumption import (
    GAP_FACTOR,
    QUALITY_MISSING,
    QUALITY_OK,
    QUALITY_SUSPECT,
    ConsumptionInterval,
    _rollover_amount,
    consumption_from_intervals,
    typical_interval,
)

logger = logging.getLogger(__name__)

ROLLUP_TZ = zoneinfo.ZoneInfo("Asia/Shanghai")
SLOT = dt.timedelta(minutes=15)
QUARTER_S = 900
# Dirty meters recomputed per task run: each costs the readings of the quarters its range touches
# (and the typical spacing of their days, read in SQL), all meters together in a few statements,
# so a run stays within seconds and the next run (queued at once when the batch was full) takes
# the rest.
ROLLUP_RECOMPUTE_BATCH = 200
# A claim older than this belongs to a worker that died: the range may be claimed again.
ROLLUP_CLAIM_LEASE_S = 600
# Two-key advisory lock namespace of the per-meter recompute lock (PostgreSQL), an arbitrary
# constant that no other lock of the portal uses.
ROLLUP_LOCK_NAMESPACE = 8_0001

# Each width and the one below it it is derived from; quarters come from the readings.
DERIVED_FROM: dict[str, str] = {
    RollupInterval.HOUR: RollupInterval.QUARTER,
    RollupInterval.DAY: RollupInterval.HOUR,
    RollupInterval.MONTH: RollupInterval.DAY,
}
# PostgreSQL's date_trunc unit and calendar step of each derived width.
_SQL_UNIT: dict[str, str] = {
    RollupInterval.HOUR: "hour", RollupInterval.DAY: "day", RollupInterval.MONTH: "month",
}


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


# --- buckets (pure) -------------------------------------------------------------------------------


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


@dataclass
class _Accumulator:
    amounts: list[float] = field(default_factory=list)
    quality: int = QUALITY_OK
    received: bool = False


def quarters_from_readings(
    instants: Iterable[dt.datetime], intervals: Iterable[ConsumptionInterval]
) -> dict[dt.datetime, BucketFigures]:
    """The quarter buckets of one meter: start -> figures.

    `intervals` are attributed by their end (the later reading); `instants` (the readings' times)
    fill the received slots. A quarter exists where a reading or an interval falls.
    """
    # Keys are quarter numbers since the epoch: Asia/Shanghai has kept +08:00 since 1991, a whole
    # number of quarters, so its quarters are the epoch's, and no reading needs a time zone
    # conversion (the cost of a quarter's worth of readings otherwise). Starts are made at the end.
    found: dict[int, _Accumulator] = {}
    for interval in intervals:
        quarter = int(interval.end.timestamp() // QUARTER_S)
        bucket = found.get(quarter) or found.setdefault(quarter, _Accumulator())
        bucket.amounts.append(interval.amount)
        if interval.quality > bucket.quality:
            bucket.quality = interval.quality
    for instant in instants:
        quarter = int(instant.timestamp() // QUARTER_S)
        (found.get(quarter) or found.setdefault(quarter, _Accumulator())).received = True
    return _quarter_figures(found)


def _quarter_figures(found: Mapping[int, _Accumulator]) -> dict[dt.datetime, BucketFigures]:
    """Quarter buckets (start -> figures) from accumulators keyed by quarter number since the epoch."""
    return {
        dt.datetime.fromtimestamp(quarter * QUARTER_S, ROLLUP_TZ): BucketFigures(
            # fsum: many readings in one quarter must not drift from the register difference.
            value=math.fsum(bucket.amounts),
            expected=1,
            received=int(bucket.received),
            quality=bucket.quality if bucket.received else QUALITY_MISSING,
            empty_leading=0 if bucket.received else 1,
            empty_trailing=0 if bucket.received else 1,
            empty_longest=0 if bucket.received else 1,
        )
        for quarter, bucket in found.items()
    }


UNIX_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)
QUARTER_US = QUARTER_S * 1_000_000


def _micros(ts: dt.datetime) -> int:
    """Microseconds since the Unix epoch (exact: timedelta arithmetic is in whole microseconds)."""
    return (ts - UNIX_EPOCH) // _MICROSECOND


def register_quarters(
    points: Sequence[tuple[int, float, int]],
    register_max: float | None,
    spacing: dt.timedelta | None,
    start_us: int,
    end_us: int,
) -> dict[dt.datetime, BucketFigures]:
    """The quarters in [start_us, end_us) of a cumulative register: what
    `quarters_from_readings(instants, kept)` gives for `consumption_from_register(points,
    register_max, typical=spacing)` and the readings and intervals ending in that span, computed
    in one loop over (µs since the epoch, value, quality) points, sorted with distinct instants (as
    the readings table gives them).

    The same arithmetic step by step: the difference or rollover or reset of each pair
    (`_rollover_amount` itself), the gap test against the typical spacing × GAP_FACTOR as a whole
    number of microseconds (what comparing timedeltas compares), and an fsum per quarter.
    """
    if not points:
        return {}
    threshold = None if spacing is None else (spacing * GAP_FACTOR) // _MICROSECOND
    found: dict[int, _Accumulator] = {}
    previous_us, previous_value, previous_quality = points[0]
    if start_us <= previous_us < end_us:
        found.setdefault(previous_us // QUARTER_US, _Accumulator()).received = True
    for index in range(1, len(points)):
        current_us, value, quality = points[index]
        if previous_quality > quality:
            quality_of_interval = previous_quality
        else:
            quality_of_interval = quality
        delta = value - previous_value
        if delta >= 0:
            amount = delta
        else:
            rollover = _rollover_amount(previous_value, value, register_max, None)
            if rollover is not None:
                amount = rollover
            else:  # a reset, as consumption_from_register flags it
                amount = max(value, 0.0)
                quality_of_interval = max(quality_of_interval, QUALITY_SUSPECT)
        if threshold is not None and current_us - previous_us > threshold:
            quality_of_interval = QUALITY_MISSING
        if start_us <= current_us < end_us:
            quarter = current_us // QUARTER_US
            bucket = found.get(quarter)
            if bucket is None:
                bucket = found[quarter] = _Accumulator()
            bucket.amounts.append(amount)
            if quality_of_interval > bucket.quality:
                bucket.quality = quality_of_interval
            bucket.received = True
        previous_us, previous_value, previous_quality = current_us, value, quality
    return _quarter_figures(found)


def bucket_from_children(
    start: dt.datetime, interval: str, children: Sequence[tuple[dt.datetime, BucketFigures]]
) -> BucketFigures | None:
    """The `interval` bucket starting at `start` from its stored buckets one level below (start,
    figures; in time order), None when it has none. Slots without a child bucket count as empty.

    What the SQL of `_derive_sql` computes (SQLite runs this; the tests hold the two together):
    values summed in time order, the calendar's expected slots, the worst quality (missing when
    nothing was received) and the empty runs joined by `combine_gaps`.
    """
    if not children:
        return None
    segments = []
    cursor = start
    value = 0.0
    received = quality = 0
    for child_start, child in children:
        if child_start > cursor:
            segments.append(GapSegment.empty(_slots_between(cursor, child_start)))
        segments.append(GapSegment(child.expected, child.received, child.empty_leading,
                                   child.empty_trailing, child.empty_longest))
        cursor = child_start + SLOT * child.expected
        value += child.value  # in time order, one addition at a time, as SQL's sum(... ORDER BY ts)
        received += child.received
        quality = max(quality, child.quality)
    end = bucket_end(start, interval)
    if end > cursor:
        segments.append(GapSegment.empty(_slots_between(cursor, end)))
    gaps = combine_gaps(segments)
    return BucketFigures(
        value=value,
        expected=expected_slots(start, interval),
        received=received,
        quality=quality if received else QUALITY_MISSING,
        empty_leading=gaps.empty_leading,
        empty_trailing=gaps.empty_trailing,
        empty_longest=gaps.empty_longest,
    )


def _slots_between(start: dt.datetime, end: dt.datetime) -> int:
    return int((end.astimezone(dt.UTC) - start.astimezone(dt.UTC)) / SLOT)


# --- the services ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Window:
    """The quarters [start, end) of one meter within one local day, rebuilt from the readings with
    the day's typical `spacing`; `whole` when that is the whole day."""

    meter: Meter
    day: dt.date
    start: dt.datetime
    end: dt.datetime
    spacing: dt.timedelta | None
    whole: bool


def rollups_recompute(*, meter: Meter, earliest: dt.datetime, latest: dt.datetime) -> int:
    """Recompute the meter's buckets touched by readings in [earliest, latest]; returns the number
    of quarter, hour and day buckets written. See `rollups_recompute_ranges`."""
    return rollups_recompute_ranges([(meter, earliest, latest)])


def rollups_recompute_ranges(ranges: Sequence[tuple[Meter, dt.datetime, dt.datetime]]) -> int:
    """Recompute the buckets each (meter, earliest, latest) touches, all meters together; returns
    the number of quarter, hour and day buckets written.

    One transaction under the meters' locks (taken in id order, so concurrent recomputes of a
    meter queue instead of interleaving their deletes and inserts): the touched quarters from the
    raw readings, then the hours, days and months above them from the stored buckets.
    """
    spans: dict[int, tuple[Meter, dt.datetime, dt.datetime]] = {}
    for meter, earliest, latest in ranges:
        if (known := spans.get(meter.pk)) is not None:  # one span per meter: the stretch covering both
            earliest, latest = min(earliest, known[1]), max(latest, known[2])
        spans[meter.pk] = (meter, earliest, latest)
    if not spans:
        return 0
    with transaction.atomic():
        _lock_meters(sorted(spans))
        windows = _plan_windows(list(spans.values()))
        written = _rebuild_quarters(windows)
        hours = _merged([
            (w.meter.pk, bucket_start(w.start, RollupInterval.HOUR),
             bucket_end(bucket_start(w.end - SLOT, RollupInterval.HOUR), RollupInterval.HOUR), None)
            for w in windows
        ])
        written += _derive(RollupInterval.HOUR, hours)
        days = [(w.meter.pk, midnight(w.day), midnight(w.day + dt.timedelta(days=1)),
                 None if w.spacing is None else w.spacing.total_seconds()) for w in windows]
        written += _derive(RollupInterval.DAY, days)
        months = _merged([
            (w.meter.pk, bucket_start(midnight(w.day), RollupInterval.MONTH),
             bucket_end(bucket_start(midnight(w.day), RollupInterval.MONTH), RollupInterval.MONTH), None)
            for w in windows
        ])
        _derive(RollupInterval.MONTH, months)
    for meter, earliest, latest in spans.values():
        _announce_recompute(meter=meter, earliest=earliest, latest=latest)
    return written


def _plan_windows(spans: Sequence[tuple[Meter, dt.datetime, dt.datetime]]) -> list[_Window]:
    """The quarters to rebuild, per meter and day, for readings changed in each span.

    A changed reading changes the interval ending at it and at the next reading after it, and an
    interval meter's gap filler ending up to a typical spacing before either; gap flags depend on
    the day's typical spacing, so a day whose spacing moved (or is not known) is rebuilt whole.
    """
    following = _following_readings(spans)
    days: list[tuple[Meter, dt.date, dt.datetime, dt.datetime, dt.datetime]] = []
    for meter, earliest, latest in spans:
        last = following.get(meter.pk) or latest
        day = local_date(earliest)
        while day <= local_date(last):
            days.append((meter, day, earliest, latest, last))
            day += dt.timedelta(days=1)
    stored = _stored_spacings([(meter.pk, day) for meter, day, *_rest in days])
    # A day whose changed stretch steps by its stored spacing alone keeps that spacing (see
    # `_stored_spacings_still_typical`): its whole day of readings need not be read for the median.
    kept = _stored_spacings_still_typical([
        (meter, day, earliest, latest, known) for meter, day, earliest, latest, _last in days
        if (known := stored.get((meter.pk, day))) is not None
    ])
    spacings = {key: dt.timedelta(seconds=stored[key]) for key in kept}  # type: ignore[arg-type]
    spacings.update(
        _day_spacings([(meter, day) for meter, day, *_rest in days if (meter.pk, day) not in kept])
    )
    windows = []
    for meter, day, earliest, _latest, last in days:
        spacing = spacings.get((meter.pk, day))
        day_start, day_end = midnight(day), midnight(day + dt.timedelta(days=1))
        known = stored.get((meter.pk, day))
        if spacing is None or known is None or known != spacing.total_seconds():
            windows.append(_Window(meter, day, day_start, day_end, spacing, whole=True))
            continue
        first = earliest if local_date(earliest) == day else day_start
        if not meter.cumulative:
            first -= spacing  # the filler before a reading ends a typical spacing earlier
        start = max(day_start, bucket_start(first, RollupInterval.QUARTER))
        end = day_end if local_date(last) > day else bucket_start(last, RollupInterval.QUARTER) + SLOT
        windows.append(_Window(meter, day, start, end, spacing, whole=start == day_start and end == day_end))
    return windows


def _rebuild_quarters(windows: Sequence[_Window]) -> int:
    """Replace the quarters of each window with those computed from the raw readings."""
    registers = [number for number, window in enumerate(windows) if window.meter.cumulative]
    others = [number for number, window in enumerate(windows) if not window.meter.cumulative]
    quarters: dict[tuple[int, dt.datetime], BucketFigures] = {}
    # A cumulative register's quarters come straight from its readings as microsecond counts (one
    # loop, no datetime per reading: the per-reading cost of the worker, bench/ measured ~5 µs a
    # reading before); what they give is what the general path below gives (a test holds them).
    register_points = _window_points([windows[n] for n in registers], as_micros=True)
    for position, number in enumerate(registers):
        window = windows[number]
        for start, figures in register_quarters(
            register_points.get(position, []), window.meter.register_max, window.spacing,
            _micros(window.start), _micros(window.end),
        ).items():
            quarters[(window.meter.pk, start)] = figures
    other_points = _window_points([windows[n] for n in others])
    for position, number in enumerate(others):
        window = windows[number]
        rows = other_points.get(position, [])
        instants = [row[0] for row in rows if window.start <= row[0] < window.end]
        intervals = consumption_from_intervals(rows, typical=window.spacing)
        kept = [interval for interval in intervals if window.start <= interval.end < window.end]
        for start, figures in quarters_from_readings(instants, kept).items():
            quarters[(window.meter.pk, start)] = figures
    _delete_buckets(RollupInterval.QUARTER, [(w.meter.pk, w.start, w.end) for w in windows])
    _insert_buckets(RollupInterval.QUARTER, quarters)
    return len(quarters)


def _merged(
    spans: Iterable[tuple[int, dt.datetime, dt.datetime, float | None]],
) -> list[tuple[int, dt.datetime, dt.datetime, float | None]]:
    """Bucket spans of one width, overlapping or touching ones of a meter joined (each bucket is
    derived once)."""
    merged: list[tuple[int, dt.datetime, dt.datetime, float | None]] = []
    for meter_id, start, end, spacing in sorted(spans, key=lambda span: (span[0], span[1])):
        if merged and merged[-1][0] == meter_id and start <= merged[-1][2]:
            merged[-1] = (meter_id, merged[-1][1], max(end, merged[-1][2]), spacing)
        else:
            merged.append((meter_id, start, end, spacing))
    return merged


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
                # ISO strings, cast by PostgreSQL: psycopg2 adapts a datetime ~3× slower than a str.
                [
                    [meter_id for meter_id, _ in ordered],
                    [earliest.isoformat() for _, (earliest, _latest) in ordered],
                    [latest.isoformat() for _, (_earliest, latest) in ordered],
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
    """One bounded pass: claim dirty ranges, recompute them together, release the ranges.

    Should the joint recompute fail, each meter is recomputed on its own: one meter's failure must
    not hold the others' ranges. Runs across tenants (the task is a SystemTask): the claimed rows
    name their meters.
    """
    token = uuid.uuid4()
    run = RecomputeRun()
    claimed = rollup_ranges_claim(token=token, limit=limit)
    run.claimed = len(claimed)
    meters = Meter.objects.in_bulk([item.meter_id for item in claimed])
    work = [item for item in claimed if item.meter_id in meters]
    done: set[int] = set()
    try:
        rollups_recompute_ranges([(meters[item.meter_id], item.earliest, item.latest) for item in work])
        done = {item.id for item in work}
    except Exception:
        logger.exception("joint rollup recompute of %s meters failed; recomputing them one by one", len(work))
        for item in work:
            try:
                rollups_recompute(meter=meters[item.meter_id], earliest=item.earliest, latest=item.latest)
                done.add(item.id)
            except Exception:
                logger.exception("rollup recompute of meter %s failed; it stays dirty", item.meter_id)
    # A range whose meter is gone is done too: nothing is left to recompute.
    gone_meters = {item.id for item in claimed if item.meter_id not in meters}
    released = rollup_ranges_release(claimed=claimed, token=token, done=done | gone_meters)
    run.recomputed = len(done & released)
    run.pending = run.claimed - len(released)
    return run


def rollup_ranges_release(*, claimed: Sequence[ClaimedRange], token: uuid.UUID, done: set[int]) -> set[int]:
    """`rollup_range_release` for a whole claim in a few statements: the ranges in `done` are
    dropped unless a batch widened them meanwhile; every other claim of `token` is released.
    Returns the ids of the ranges gone.

    The rows are locked first in meter order, the order ingest's upsert (`rollup_ranges_mark`)
    locks them in: a statement touching many rows in the table's order would deadlock with a
    batch marking the same meters.
    """
    if connection.vendor != "postgresql":
        return {item.id for item in claimed
                if rollup_range_release(claimed=item, token=token, done=item.id in done)}
    if not claimed:
        return set()
    table = RollupDirtyRange._meta.db_table
    finished = [item for item in claimed if item.id in done]
    gone: set[int] = set()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {table} WHERE id = ANY(%s) AND claim_token = %s::uuid "  # noqa: S608 - constant
            "ORDER BY meter_id FOR UPDATE",
            [[item.id for item in claimed], str(token)],
        )
        cursor.fetchall()
        if finished:
            cursor.execute(
                f"DELETE FROM {table} d USING unnest(%s::bigint[], %s::bigint[]) "  # noqa: S608 - constant
                "AS f(id, generation) WHERE d.id = f.id AND d.generation = f.generation "
                "AND d.claim_token = %s::uuid RETURNING d.id",
                [[item.id for item in finished], [item.generation for item in finished], str(token)],
            )
            gone = {row[0] for row in cursor.fetchall()}
        RollupDirtyRange.objects.filter(id__in=[item.id for item in claimed if item.id not in gone],
                                        claim_token=token).update(claim_token=None, claimed_until=None)
    return gone


# --- helpers --------------------------------------------------------------------------------------


# COPY's text format for NULL.
NULL = "\\N"


def _lock_meters(meter_ids: Sequence[int]) -> None:
    """The meters' recompute locks, in the order given (ascending: concurrent runs never deadlock),
    in one statement."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, m.id) FROM (SELECT id FROM unnest(%s::int[]) AS id "
                "ORDER BY id) AS m",
                [ROLLUP_LOCK_NAMESPACE, list(meter_ids)],
            )
            cursor.fetchall()
    # SQLite serializes writers already (one write transaction at a time).


def _following_readings(spans: Sequence[tuple[Meter, dt.datetime, dt.datetime]]) -> dict[int, dt.datetime]:
    """Per meter, the instant of its first reading after the span's latest (meters with none left out)."""
    if connection.vendor != "postgresql":
        found = {}
        for meter, _earliest, latest in spans:
            later = Reading.objects.filter(meter_id=meter.pk, ts__gt=latest).order_by("ts")
            if (ts := later.values_list("ts", flat=True).first()) is not None:
                found[meter.pk] = ts
        return found
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.meter_id, n.ts FROM unnest(%s::bigint[], %s::timestamptz[]) AS s(meter_id, latest) "  # noqa: S608 - constant
            f"CROSS JOIN LATERAL (SELECT r.ts FROM {Reading._meta.db_table} r WHERE r.meter_id = s.meter_id "
            "AND r.ts > s.latest ORDER BY r.ts LIMIT 1) AS n",
            [[meter.pk for meter, _e, _l in spans], [latest for _m, _e, latest in spans]],
        )
        return dict(cursor.fetchall())


def _day_spacings(days: Sequence[tuple[Meter, dt.date]]) -> dict[tuple[int, dt.date], dt.timedelta]:
    """The typical spacing of each meter-day's readings, as `consumption_by_reading` measures it for
    that day (a register's with the reading before the day); days of fewer than two steps left out.

    PostgreSQL returns the two middle steps of each day, and the median is taken of them here as
    `statistics.median` takes it (the mean of the two for an even count): the same float, the
    same `typical_interval`, without reading a day of readings into Python.
    """
    if not days:
        return {}
    if connection.vendor != "postgresql":
        found = {}
        for meter, day in days:
            start, end = midnight(day), midnight(day + dt.timedelta(days=1))
            stamps = list(Reading.objects.filter(meter_id=meter.pk, ts__gte=start, ts__lt=end)
                          .order_by("ts").values_list("ts", flat=True))
            if meter.cumulative:
                before = (Reading.objects.filter(meter_id=meter.pk, ts__lt=start).order_by("-ts")
                          .values_list("ts", flat=True).first())
                stamps = [before, *stamps] if before is not None else stamps
            if (typical := typical_interval(stamps)) is not None:
                found[(meter.pk, day)] = typical
        return found
    table = Reading._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            # The middle steps of each day's sorted steps: [(n + 1) / 2] and [n / 2 + 1] (1-based), the
            # same element for an odd count. float8 of the exact numeric is Python's float of it.
            "WITH d AS (SELECT * FROM unnest(%s::bigint[], %s::boolean[], %s::timestamptz[], "  # noqa: S608 - constant
            "%s::timestamptz[]) AS d(meter_id, cumulative, lo, hi)), "
            "steps AS (SELECT d.meter_id, d.lo, "
            "extract(epoch FROM p.ts - lag(p.ts) OVER (PARTITION BY d.meter_id, d.lo ORDER BY p.ts))::float8 "
            "AS step "
            "FROM d CROSS JOIN LATERAL ("
            f"(SELECT r.ts FROM {table} r WHERE d.cumulative AND r.meter_id = d.meter_id AND r.ts < d.lo "
            "ORDER BY r.ts DESC LIMIT 1) UNION ALL "
            f"(SELECT r.ts FROM {table} r WHERE r.meter_id = d.meter_id AND r.ts >= d.lo AND r.ts < d.hi)"
            ") AS p) "
            "SELECT meter_id, lo, sorted[(n + 1) / 2], sorted[n / 2 + 1] FROM ("
            "SELECT meter_id, lo, array_agg(step ORDER BY step) AS sorted, count(*) AS n FROM steps "
            "WHERE step IS NOT NULL GROUP BY meter_id, lo) AS middle",
            [[meter.pk for meter, _ in days], [meter.cumulative for meter, _ in days],
             [midnight(day) for _, day in days], [midnight(day + dt.timedelta(days=1)) for _, day in days]],
        )
        return {
            (meter_id, local_date(lo)): dt.timedelta(seconds=(float(lower) + float(upper)) / 2)
            for meter_id, lo, lower, upper in cursor.fetchall()
        }


def _stored_spacings_still_typical(
    candidates: Sequence[tuple[Meter, dt.date, dt.datetime, dt.datetime, float]],
) -> set[tuple[int, dt.date]]:
    """The meter-days among (meter, day, earliest, latest, stored spacing) whose typical spacing is
    still the stored one, known without reading the whole day: every step of the changed stretch
    (from the reading before `earliest` to the first after `latest`, steps ending in the day, as
    `_day_spacings` counts them) equals the stored spacing m.

    Why that suffices: every reading stored since m was computed lies in [earliest, latest] (a
    dirty range only widens until a recompute completes), so the day's other steps are as they
    were, and each former step of the stretch is now a sum of new steps, k × m (k ≥ 1). The
    change then takes out steps ≥ m and puts in at least as many copies of m as it took out, and
    more than one for every step > m taken out: with m the median (the middle element, or the
    mean of the two middle ones), both middle elements of the new steps are m, and the median is
    m again, the same float. A stretch with no step at all proves nothing: its day is measured.
    """
    if not candidates or connection.vendor != "postgresql":
        return set()
    table = Reading._meta.db_table
    rows = []
    for meter, day, earliest, latest, known in candidates:
        day_start, day_end = midnight(day), midnight(day + dt.timedelta(days=1))
        rows.append((meter.pk, meter.cumulative, day_start, day_end, max(earliest, day_start), latest, known))
    with connection.cursor() as cursor:
        cursor.execute(
            # The stretch: the reading before it (a register's from any day, as its day's spacing
            # counts the step into the day; an interval meter's from the same day), the readings
            # of the day in [earliest, latest], and the first after latest within the day.
            "WITH c AS (SELECT * FROM unnest(%s::int[], %s::bigint[], %s::boolean[], %s::timestamptz[], "  # noqa: S608 - constant
            "%s::timestamptz[], %s::timestamptz[], %s::timestamptz[], %s::float8[]) "
            "AS c(n, meter_id, cumulative, lo, hi, e, l, m)) "
            "SELECT c.n, bool_and(s.step = c.m) FROM c CROSS JOIN LATERAL ("
            "SELECT extract(epoch FROM p.ts - lag(p.ts) OVER (ORDER BY p.ts))::float8 AS step FROM ("
            f"(SELECT r.ts FROM {table} r WHERE r.meter_id = c.meter_id AND r.ts < c.e "
            "AND (c.cumulative OR r.ts >= c.lo) ORDER BY r.ts DESC LIMIT 1) UNION ALL "
            f"(SELECT r.ts FROM {table} r WHERE r.meter_id = c.meter_id AND r.ts >= c.e AND r.ts <= c.l "
            "AND r.ts < c.hi) UNION ALL "
            f"(SELECT r.ts FROM {table} r WHERE r.meter_id = c.meter_id AND r.ts > c.l AND r.ts < c.hi "
            "ORDER BY r.ts LIMIT 1)) AS p) AS s WHERE s.step IS NOT NULL GROUP BY c.n",
            [list(range(len(rows))), *([row[i] for row in rows] for i in range(7))],
        )
        verified = {n for n, all_equal in cursor.fetchall() if all_equal}
    return {(candidates[n][0].pk, candidates[n][1]) for n in verified}


def _stored_spacings(days: Sequence[tuple[int, dt.date]]) -> dict[tuple[int, dt.date], float | None]:
    """The spacing stored on each of these meter-days' day buckets (days without one left out)."""
    if not days:
        return {}
    wanted = set(days)
    rows = Rollup.objects.filter(
        meter_id__in={meter_id for meter_id, _ in days},
        interval=RollupInterval.DAY,
        ts__gte=midnight(min(day for _, day in days)),
        ts__lte=midnight(max(day for _, day in days)),
    ).values_list("meter_id", "ts", "spacing")
    found = {(meter_id, local_date(ts)): spacing for meter_id, ts, spacing in rows}
    return {key: spacing for key, spacing in found.items() if key in wanted}


def _window_points(
    windows: Sequence[_Window], *, as_micros: bool = False
) -> dict[int, list[tuple[Any, float, int]]]:
    """Per window (by position), the readings its quarters are computed from, oldest first: those
    in the window, the one before it (a register's from any day, an interval meter's from the same
    day: the first reading of a day opens it) and, for an interval meter, those up to a typical
    spacing after it (whose gap fillers may end inside it). With `as_micros`, each instant comes as
    its microseconds since the Unix epoch (an int: cheaper to fetch and to compute with)."""
    if not windows:
        return {}
    bounds = []
    for window in windows:
        day_start, day_end = midnight(window.day), midnight(window.day + dt.timedelta(days=1))
        floor = None if window.meter.cumulative else day_start
        until = window.end
        if not window.meter.cumulative and window.spacing is not None:
            until = min(day_end, window.end + window.spacing)
        bounds.append((window.meter.pk, floor, window.start, until))
    if connection.vendor != "postgresql":
        found: dict[int, list[tuple[Any, float, int]]] = {}
        for number, (meter_id, floor, start, until) in enumerate(bounds):
            before = Reading.objects.filter(meter_id=meter_id, ts__lt=start)
            if floor is not None:
                before = before.filter(ts__gte=floor)
            first = before.order_by("-ts").values_list("ts", "value", "quality").first()
            rows = list(Reading.objects.filter(meter_id=meter_id, ts__gte=start, ts__lt=until)
                        .order_by("ts").values_list("ts", "value", "quality"))
            found[number] = [first, *rows] if first is not None else rows
            if as_micros:
                found[number] = [(_micros(ts), value, quality) for ts, value, quality in found[number]]
        return found
    table = Reading._meta.db_table
    found = {}
    # extract(epoch …) is an exact numeric (PostgreSQL 14 on): × 10⁶ is the instant's microseconds.
    instant = "(extract(epoch FROM p.ts) * 1000000)::bigint" if as_micros else "p.ts"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT w.n, {instant}, p.value, p.quality "  # noqa: S608 - constant
            "FROM unnest(%s::int[], %s::bigint[], %s::timestamptz[], %s::timestamptz[], %s::timestamptz[]) "
            "AS w(n, meter_id, floor, lo, hi) CROSS JOIN LATERAL ("
            f"(SELECT r.ts, r.value, r.quality FROM {table} r WHERE r.meter_id = w.meter_id AND r.ts < w.lo "
            "AND (w.floor IS NULL OR r.ts >= w.floor) ORDER BY r.ts DESC LIMIT 1) UNION ALL "
            f"(SELECT r.ts, r.value, r.quality FROM {table} r WHERE r.meter_id = w.meter_id AND r.ts >= w.lo "
            "AND r.ts < w.hi)) AS p ORDER BY w.n, p.ts",
            [list(range(len(bounds))), [b[0] for b in bounds], [b[1] for b in bounds], [b[2] for b in bounds],
             [b[3] for b in bounds]],
        )
        for number, group in itertools.groupby(cursor.fetchall(), key=lambda row: row[0]):
            found[number] = [(ts, value, quality) for _n, ts, value, quality in group]
    return found


def _delete_buckets(interval: str, spans: Sequence[tuple[int, dt.datetime, dt.datetime]]) -> None:
    """Delete the meters' `interval` buckets starting in each [start, end): one statement."""
    if not spans:
        return
    if connection.vendor != "postgresql":
        for meter_id, start, end in spans:
            Rollup.objects.filter(meter_id=meter_id, interval=interval, ts__gte=start, ts__lt=end).delete()
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {Rollup._meta.db_table} b USING unnest(%s::bigint[], %s::timestamptz[], "  # noqa: S608 - constant
            "%s::timestamptz[]) AS s(meter_id, lo, hi) "
            "WHERE b.meter_id = s.meter_id AND b.interval = %s AND b.ts >= s.lo AND b.ts < s.hi",
            [[s[0] for s in spans], [s[1] for s in spans], [s[2] for s in spans], interval],
        )


def _insert_buckets(interval: str, buckets: Mapping[tuple[int, dt.datetime], BucketFigures],
                    spacings: Mapping[tuple[int, dt.datetime], float | None] | None = None) -> None:
    """Write (meter, start) -> figures as `interval` buckets: COPY on PostgreSQL (the ORM's
    bulk_create builds the rows ~25× slower), bulk_create elsewhere."""
    ordered = sorted(buckets.items())
    spacings = spacings or {}
    if connection.vendor != "postgresql":
        Rollup.objects.bulk_create(
            [
                Rollup(meter_id=meter_id, interval=interval, ts=start, value=figures.value,
                       expected=figures.expected, received=figures.received, quality=figures.quality,
                       empty_leading=figures.empty_leading, empty_trailing=figures.empty_trailing,
                       empty_longest=figures.empty_longest, spacing=spacings.get((meter_id, start)))
                for (meter_id, start), figures in ordered
            ]
        )
        return
    now = timezone.now().isoformat()
    buffer = io.StringIO()
    for (meter_id, start), figures in ordered:
        spacing = spacings.get((meter_id, start))
        stored_spacing = NULL if spacing is None else repr(spacing)
        # repr(float) round-trips exactly; the interval names and ints need no escaping.
        buffer.write(f"{meter_id}\t{interval}\t{start.isoformat()}\t{figures.value!r}\t{figures.expected}\t"
                     f"{figures.received}\t{figures.quality}\t{figures.empty_leading}\t"
                     f"{figures.empty_trailing}\t{figures.empty_longest}\t{stored_spacing}\t{now}\n")
    buffer.seek(0)
    columns = ("meter_id, interval, ts, value, expected, received, quality, empty_leading, empty_trailing, "
               "empty_longest, spacing, computed_at")
    with connection.cursor() as cursor:
        cursor.copy_expert(f"COPY {Rollup._meta.db_table} ({columns}) FROM STDIN", buffer)  # type: ignore[attr-defined]


def _derive(interval: str, spans: Sequence[tuple[int, dt.datetime, dt.datetime, float | None]]) -> int:
    """Replace the meters' `interval` buckets in each [start, end) (aligned to `interval`) with
    those derived from the stored buckets one level below; a span's spacing goes on its buckets
    (days). Returns the number of buckets written."""
    if not spans:
        return 0
    _delete_buckets(interval, [(meter_id, start, end) for meter_id, start, end, _ in spans])
    if connection.vendor == "postgresql":
        return _derive_sql(interval, spans)
    child = DERIVED_FROM[interval]
    derived: dict[tuple[int, dt.datetime], BucketFigures] = {}
    spacings: dict[tuple[int, dt.datetime], float | None] = {}
    for meter_id, start, end, spacing in spans:
        rows = Rollup.objects.filter(meter_id=meter_id, interval=child, ts__gte=start, ts__lt=end)
        rows = rows.order_by("ts")
        children: dict[dt.datetime, list[tuple[dt.datetime, BucketFigures]]] = {}
        for row in rows:
            ts = row.ts.astimezone(ROLLUP_TZ)
            children.setdefault(bucket_start(ts, interval), []).append((ts, _figures(row)))
        for parent, members in children.items():
            if (figures := bucket_from_children(parent, interval, members)) is not None:
                derived[(meter_id, parent)] = figures
                spacings[(meter_id, parent)] = spacing
    _insert_buckets(interval, derived, spacings)
    return len(derived)


def _figures(row: Rollup) -> BucketFigures:
    return BucketFigures(value=row.value, expected=row.expected, received=row.received, quality=row.quality,
                         empty_leading=row.empty_leading, empty_trailing=row.empty_trailing,
                         empty_longest=row.empty_longest)


# The SQL of `bucket_from_children`, for every span at once. `slot` is a child's offset in its
# parent (15-minute slots); the empty runs join as `combine_gaps` joins them: the leading run ends
# at the first received slot, the trailing run starts after the last, and between two children
# holding readings the run is the first's trailing, the slots between them and the second's leading.
_DERIVE_SQL = """
INSERT INTO {table} (meter_id, interval, ts, value, expected, received, quality, empty_leading,
                     empty_trailing, empty_longest, spacing, computed_at)
WITH span AS (
    SELECT * FROM unnest(%(meters)s::bigint[], %(starts)s::timestamptz[], %(ends)s::timestamptz[],
                         %(spacings)s::float8[]) AS s(meter_id, lo, hi, spacing)
), child AS (
    SELECT c.meter_id, s.spacing, c.ts, c.value, c.expected, c.received, c.quality, c.empty_leading,
           c.empty_trailing, c.empty_longest,
           date_trunc(%(unit)s, c.ts AT TIME ZONE %(tz)s) AS parent_local
    FROM span s JOIN {table} c ON c.meter_id = s.meter_id AND c.interval = %(child)s
                              AND c.ts >= s.lo AND c.ts < s.hi
), parented AS (
    SELECT child.*, parent_local AT TIME ZONE %(tz)s AS parent,
           (parent_local + %(step)s::interval) AT TIME ZONE %(tz)s AS parent_end
    FROM child
), placed AS (
    SELECT parented.*, (extract(epoch FROM ts - parent) / 900)::int AS slot FROM parented
), holding AS (
    SELECT meter_id, parent, slot, expected, empty_leading, empty_trailing, empty_longest,
           lag(slot + expected) OVER w AS previous_end, lag(empty_trailing) OVER w AS previous_trailing
    FROM placed WHERE received > 0
    WINDOW w AS (PARTITION BY meter_id, parent ORDER BY slot)
), gaps AS (
    SELECT meter_id, parent, min(slot + empty_leading) AS first_received,
           max(slot + expected - empty_trailing) AS after_last,
           max(GREATEST(empty_longest, COALESCE(previous_trailing + slot - previous_end + empty_leading, 0)))
               AS inner_longest
    FROM holding GROUP BY meter_id, parent
), totals AS (
    SELECT meter_id, parent, min(spacing) AS spacing, sum(value ORDER BY ts) AS value,
           sum(received) AS received, max(quality) AS quality,
           (extract(epoch FROM parent_end - parent) / 900)::int AS expected
    FROM placed GROUP BY meter_id, parent, parent_end
)
SELECT t.meter_id, %(interval)s, t.parent, t.value, t.expected, t.received,
       CASE WHEN t.received > 0 THEN t.quality ELSE %(missing)s END,
       COALESCE(g.first_received, t.expected),
       COALESCE(t.expected - g.after_last, t.expected),
       COALESCE(GREATEST(g.first_received, t.expected - g.after_last, g.inner_longest), t.expected),
       t.spacing, now()
FROM totals t LEFT JOIN gaps g ON g.meter_id = t.meter_id AND g.parent = t.parent
"""


def _derive_sql(interval: str, spans: Sequence[tuple[int, dt.datetime, dt.datetime, float | None]]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            _DERIVE_SQL.format(table=Rollup._meta.db_table),
            {
                "meters": [s[0] for s in spans], "starts": [s[1] for s in spans],
                "ends": [s[2] for s in spans], "spacings": [s[3] for s in spans],
                "unit": _SQL_UNIT[interval], "step": f"1 {_SQL_UNIT[interval]}", "tz": str(ROLLUP_TZ),
                "child": DERIVED_FROM[interval], "interval": interval, "missing": QUALITY_MISSING,
            },
        )
        return cursor.rowcount

