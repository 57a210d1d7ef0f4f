"""Consumption from meter readings: pure functions, no database.

A cumulative register (电能表表底 kWh, gas totalizer m³) only ever grows, so consumption over an
interval is the difference of two readings. Two things make it drop:

- rollover: the register reached its full scale (`register_max`) and wrapped to zero. The
  consumption is `register_max - previous + current`, an ordinary, trustworthy figure (quality ok),
  provided it is plausible: a register cannot advance by more than half its range between two
  readings (`ROLLOVER_MAX_FRACTION`), so a larger "wrap" is really a reset;
- reset: the meter was replaced or cleared. What was consumed between the last reading and the
  reset is unknown; the best figure is the current value (consumed since the reset), flagged
  `suspect` so a reviewer sees it.

A gap between readings longer than `GAP_FACTOR` times the typical interval becomes one interval
flagged `missing`: its amount is still the register difference (the total over the gap is known;
how it spread over the gap is not).

Interval meters (cumulative=False) report the consumption of each interval directly; their
values need no differencing (see `consumption_from_intervals`).

Quality codes follow `metering.models.Quality`: ok 0 < estimated 1 < suspect 2 < missing 3; an
interval carries the worst quality of its two end points and its own finding.
"""

from __future__ import annotations

import datetime as dt
import enum
import itertools
import statistics
from collections.abc import Iterable, Sequence
from typing import Any, Literal, NamedTuple

QUALITY_OK = 0
QUALITY_ESTIMATED = 1
QUALITY_SUSPECT = 2
QUALITY_MISSING = 3

# An interval this many times longer than the typical spacing of readings is a gap.
GAP_FACTOR = 3.0
# A register cannot plausibly advance by more than this fraction of its range between two readings.
ROLLOVER_MAX_FRACTION = 0.5


class Spacing(enum.Enum):
    """`MEASURED`: the typical spacing is the median of the points given (the default)."""

    MEASURED = "measured"


# The typical spacing a caller passes in: measured over a longer stretch than the points it hands
# over (the rollups rebuild a few quarters of a day with the spacing of the whole day), None for
# "fewer than two readings", or MEASURED from the points themselves.
TypicalSpacing = dt.timedelta | None | Literal[Spacing.MEASURED]


class ConsumptionInterval(NamedTuple):
    start: dt.datetime
    end: dt.datetime
    amount: float
    quality: int


class RegisterPoint(NamedTuple):
    ts: dt.datetime
    value: float
    quality: int = QUALITY_OK


def _points(raw: Iterable[Sequence[Any]]) -> list[RegisterPoint]:
    by_ts: dict[dt.datetime, RegisterPoint] = {}
    for point in raw:
        ts, value = point[0], point[1]
        quality = point[2] if len(point) > 2 else QUALITY_OK
        by_ts.setdefault(ts, RegisterPoint(ts, float(value), int(quality)))
    return [by_ts[ts] for ts in sorted(by_ts)]


def typical_interval(timestamps: Sequence[dt.datetime]) -> dt.timedelta | None:
    """The median spacing of the readings, or None with fewer than two."""
    steps = [(b - a).total_seconds() for a, b in itertools.pairwise(timestamps) if b > a]
    if not steps:
        return None
    return dt.timedelta(seconds=statistics.median(steps))


def consumption_from_register(
    points: Iterable[Sequence[Any]],
    register_max: float | None = None,
    *,
    gap_factor: float = GAP_FACTOR,
    max_plausible_amount: float | None = None,
    typical: TypicalSpacing = Spacing.MEASURED,
) -> list[ConsumptionInterval]:
    """Consumption intervals between consecutive readings of a cumulative register.

    `points` are (ts, value) or (ts, value, quality), in any order; a repeated ts keeps the first.
    `max_plausible_amount`, when given, flags a larger increase as suspect (a spike) and caps what
    counts as a rollover. `typical`, when given, is the spacing gaps are judged against instead of
    the median of these points.
    """
    ordered = _points(points)
    if typical is Spacing.MEASURED:
        typical = typical_interval([p.ts for p in ordered])
    intervals: list[ConsumptionInterval] = []
    for previous, current in itertools.pairwise(ordered):
        quality = max(previous.quality, current.quality)
        delta = current.value - previous.value
        if delta >= 0:
            amount = delta
            if max_plausible_amount is not None and amount > max_plausible_amount:
                quality = max(quality, QUALITY_SUSPECT)
        else:
            rollover = _rollover_amount(previous.value, current.value, register_max, max_plausible_amount)
            if rollover is not None:
                amount = rollover
            else:
                # Reset: what was used between the last reading and the reset is unknown.
                amount = max(current.value, 0.0)
                quality = max(quality, QUALITY_SUSPECT)
        if typical is not None and (current.ts - previous.ts) > typical * gap_factor:
            quality = QUALITY_MISSING
        intervals.append(ConsumptionInterval(previous.ts, current.ts, amount, quality))
    return intervals


def _rollover_amount(
    previous: float, current: float, register_max: float | None, max_plausible_amount: float | None
) -> float | None:
    if register_max is None or register_max <= 0 or current < 0 or previous > register_max:
        return None
    amount = register_max - previous + current
    limit = register_max * ROLLOVER_MAX_FRACTION
    if max_plausible_amount is not None:
        limit = min(limit, max_plausible_amount)
    return amount if amount <= limit else None


def consumption_from_intervals(
    points: Iterable[Sequence[Any]],
    *,
    gap_factor: float = GAP_FACTOR,
    typical: TypicalSpacing = Spacing.MEASURED,
) -> list[ConsumptionInterval]:
    """Intervals of an interval meter: each reading is the consumption of the interval ending at ts.

    Each reading covers one typical interval (or back to the previous reading, if that is nearer).
    Where readings are missing (a gap longer than `gap_factor` typical intervals) a `missing`
    interval with amount 0 fills the hole. A negative value is kept but flagged suspect (an interval
    meter does not un-consume).
    """
    ordered = _points(points)
    typical = typical_interval([p.ts for p in ordered])
    if typical is None:
        return []
    intervals: list[ConsumptionInterval] = []
    for index, point in enumerate(ordered):
        start = point.ts - typical
        if index > 0:
            previous_end = ordered[index - 1].ts
            if (point.ts - previous_end) > typical * gap_factor:
                intervals.append(ConsumptionInterval(previous_end, start, 0.0, QUALITY_MISSING))
            else:
                start = previous_end
        quality = point.quality
        if point.value < 0:
            quality = max(quality, QUALITY_SUSPECT)
        intervals.append(ConsumptionInterval(start, point.ts, point.value, quality))
    return intervals
