"""Finding abnormal conditions in a meter's new data.

After each rollup recompute (monitoring's `rollups_recomputed`), the meter's quarter-hours and
readings in the recomputed range are checked against its rule (metering/alarms/rules.py):

- 超上限 / 低于下限: a quarter-hour's consumption above `max_quarter_consumption` (any quarter, a
  partial one already over counts) or below `min_quarter_consumption` (complete quarters only: one
  still filling is not "low" yet), or a reading's value outside `min_value`/`max_value`;
- 突变: a complete quarter-hour above `jump_factor` × the median of the 24 hours of quarters before it;
- 表底清零: a cumulative register that dropped and was classified a reset (not a rollover) by
  metering/storage/consumption.py;
- and, from the periodic sweep, 离线: no reading for `offline_after_minutes`.

Only data of the last `ALARM_LOOKBACK` raises alarms: loading last year's history must not mail a
year of alarms. Reads go through the storage and monitoring selectors only.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext as _

from metering.alarms.formatting import ALARM_TZ, figure, local_text
from metering.alarms.models import NOT_CLOSED, Alarm, AlarmKind, AlarmRule
from metering.alarms.rules import JUMP_HISTORY, JUMP_MIN_HISTORY, EffectiveRule, effective_rule
from metering.alarms.selectors import rule_for_meter
from metering.alarms.services import alarm_clear, alarm_raise
from metering.models import Meter
from metering.monitoring.selectors import rollups_for_meter
from metering.storage.consumption import QUALITY_SUSPECT
from metering.storage.selectors import consumption_series, readings_for_meter

SLOT = dt.timedelta(minutes=15)
QUARTER = "15min"  # monitoring's RollupInterval.QUARTER
# Data older than this (before now) is history: it corrects rollups but raises no alarm.
ALARM_LOOKBACK = dt.timedelta(hours=24)
# Offline candidates read per sweep: the check is one indexed query; a platform with more silent
# meters than this catches the rest on the next minute's sweep.
OFFLINE_SWEEP_BATCH = 5000
# The shortest offline limit a rule may set (AlarmRule.offline_after_minutes' validator): meters
# silent for less than this are not even looked at.
OFFLINE_AFTER_MIN_MINUTES = 5


@dataclass(frozen=True)
class Finding:
    at: dt.datetime  # the instant of the data (a quarter's start, a reading's ts)
    violated: bool
    detail: str = ""


def _quarter_start(ts: dt.datetime) -> dt.datetime:
    local = ts.astimezone(ALARM_TZ)
    return local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0)


def alarms_evaluate(
    *, meter: Meter, earliest: dt.datetime, latest: dt.datetime, now: dt.datetime | None = None
) -> list[Alarm]:
    """Check the meter's quarter-hours and readings in [earliest, latest] (the recomputed range)
    against its rule; raise, count and clear alarms. Returns the alarms raised or repeated."""
    now = now or timezone.now()
    if latest < now - ALARM_LOOKBACK:
        return []  # history (a backfill, a late file): nothing to alarm, and the meter's news is old
    meter = Meter.objects.get(pk=meter.pk)  # the caller's copy predates the batch's last_reading_at
    rule = effective_rule(rule_for_meter(meter))
    if not meter.is_active or not rule.enabled:
        return []
    touched: list[Alarm] = []
    _clear_offline_if_reporting(meter, rule, now)
    start = max(_quarter_start(earliest), _quarter_start(now - ALARM_LOOKBACK))
    end = _quarter_start(latest) + SLOT
    if start >= end:
        return touched
    complete_before = meter.last_reading_at
    # The quarter of a meter's first reading has no consumption to judge (a register needs a
    # reading before it): it reads 0, which is neither low nor the base of a jump.
    first_reading = readings_for_meter(meter).values_list("ts", flat=True).first()
    quarters = list(
        rollups_for_meter(meter, interval=QUARTER, start=start - JUMP_HISTORY, end=end)
        .values_list("ts", "value")
    )
    in_range = [(ts, value) for ts, value in quarters if ts >= start]

    def complete(ts: dt.datetime) -> bool:
        # A quarter is whole once a reading at or after its end exists (that reading's interval
        # belongs to the next quarter): before that, more consumption may still land in it.
        return (complete_before is not None and complete_before >= ts + SLOT
                and first_reading is not None and first_reading < ts)

    high: list[Finding] = []
    low: list[Finding] = []
    high_values: list[Finding] = []
    low_values: list[Finding] = []
    if rule.max_quarter_consumption is not None:
        limit = rule.max_quarter_consumption
        for ts, value in in_range:
            if value > limit:
                high.append(Finding(ts, True, _("%(t)s 起 15 分钟用量 %(v)s %(u)s，超过上限 %(l)s %(u)s") % {
                    "t": local_text(ts), "v": figure(value), "u": meter.unit, "l": figure(limit)}))
            elif complete(ts):
                high.append(Finding(ts, False))
    if rule.min_quarter_consumption is not None:
        limit = rule.min_quarter_consumption
        for ts, value in in_range:
            if complete(ts):
                low.append(Finding(ts, value < limit, _(
                    "%(t)s 起 15 分钟用量 %(v)s %(u)s，低于下限 %(l)s %(u)s") % {
                    "t": local_text(ts), "v": figure(value), "u": meter.unit, "l": figure(limit)}))
    if rule.max_value is not None or rule.min_value is not None:
        for ts, value in readings_for_meter(meter, start=start, end=end).values_list("ts", "value"):
            if rule.max_value is not None:
                over = value > rule.max_value
                high_values.append(Finding(ts, over, _("%(t)s 读数 %(v)s %(u)s，超过上限 %(l)s %(u)s") % {
                    "t": local_text(ts), "v": figure(value), "u": meter.unit, "l": figure(rule.max_value)}))
            if rule.min_value is not None:
                under = value < rule.min_value
                low_values.append(Finding(ts, under, _("%(t)s 读数 %(v)s %(u)s，低于下限 %(l)s %(u)s") % {
                    "t": local_text(ts), "v": figure(value), "u": meter.unit, "l": figure(rule.min_value)}))
    touched += _apply_condition(meter, AlarmKind.THRESHOLD_HIGH, [high, high_values])
    touched += _apply_condition(meter, AlarmKind.THRESHOLD_LOW, [low, low_values])
    if rule.jump_factor is not None:
        jumps = _jumps(meter, rule.jump_factor, quarters, start, complete)
        touched += _apply_events(meter, AlarmKind.JUMP, jumps)
    if rule.detect_resets and meter.cumulative:
        touched += _apply_events(meter, AlarmKind.RESET, _resets(meter, start, end))
    return touched


def _apply_condition(meter: Meter, kind: str, sources: list[list[Finding]]) -> list[Alarm]:
    """Raise for every violation (repeats counted once per instant), then clear when the latest
    finding of every source (quarter-hours, readings) says the condition is over and is newer
    than the alarm's last occurrence: a reading within its limits does not clear a quarter over."""
    touched = []
    violations = sorted((f for source in sources for f in source if f.violated), key=lambda f: f.at)
    if violations:
        alarm = alarm_raise(meter=meter, kind=kind, seen_at=violations[0].at, detail=violations[0].detail)
        for later in violations[1:]:
            alarm = alarm_raise(meter=meter, kind=kind, seen_at=later.at, detail=later.detail)
        touched.append(alarm)
    latest = [max(source, key=lambda f: f.at) for source in sources if source]
    if latest and not any(f.violated for f in latest):
        since = min(f.at for f in latest)
        alarm_clear(meter=meter, kind=kind, cleared_after=since,
                    reason=_("%(t)s 起恢复正常") % {"t": local_text(max(f.at for f in latest))})
    return touched


def _apply_events(meter: Meter, kind: str, findings: Iterable[Finding]) -> list[Alarm]:
    touched: list[Alarm] = []
    for finding in sorted(findings, key=lambda f: f.at):
        touched = [alarm_raise(meter=meter, kind=kind, seen_at=finding.at, detail=finding.detail)]
    return touched


def _jumps(meter: Meter, factor: float, quarters: list[tuple[dt.datetime, float]], start: dt.datetime,
           complete: Callable[[dt.datetime], bool]) -> list[Finding]:
    found = []
    for index, (ts, value) in enumerate(quarters):
        if ts < start or not complete(ts):
            continue
        history = [v for t, v in quarters[:index] if t >= ts - JUMP_HISTORY]
        if len(history) < JUMP_MIN_HISTORY:
            continue
        median = statistics.median(history)
        if median > 0 and value > factor * median:
            found.append(Finding(ts, True, _(
                "%(t)s 起 15 分钟用量 %(v)s %(u)s，为近 24 小时中位数 %(m)s %(u)s 的 %(x).1f 倍"
                "（阈值 %(f)s 倍）") % {
                "t": local_text(ts), "v": figure(value), "u": meter.unit, "m": figure(median),
                "x": value / median, "f": figure(factor)}))
    return found


def _resets(meter: Meter, start: dt.datetime, end: dt.datetime) -> list[Finding]:
    """Register drops that consumption.py classified as resets: a suspect interval whose register
    fell and whose amount is the new reading itself (a rollover's amount is the wrapped
    difference, larger than the new reading, and not suspect)."""
    intervals = consumption_series(meter, start, end)
    suspects = [i for i in intervals if i.quality >= QUALITY_SUSPECT]
    if not suspects:
        return []
    values = dict(
        readings_for_meter(meter, start=min(i.start for i in suspects), end=end).values_list("ts", "value")
    )
    found = []
    for interval in suspects:
        before, after = values.get(interval.start), values.get(interval.end)
        if before is None or after is None or after >= before or interval.amount != max(after, 0.0):
            continue
        found.append(Finding(interval.end, True, _(
            "%(t)s 表底由 %(b)s %(u)s 回落到 %(a)s %(u)s，判定为换表或清零"
            "（本段用量按 %(a)s %(u)s 计，标记为可疑）") % {
            "t": local_text(interval.end), "b": figure(before), "a": figure(after), "u": meter.unit}))
    return found


# --- offline --------------------------------------------------------------------------------------


def _clear_offline_if_reporting(meter: Meter, rule: EffectiveRule, now: dt.datetime) -> None:
    if meter.last_reading_at is None:
        return
    offline_after = rule.offline_after
    if offline_after is None or now - meter.last_reading_at <= offline_after:
        alarm_clear(meter=meter, kind=AlarmKind.OFFLINE,
                    reason=_("%(t)s 恢复上报") % {"t": local_text(meter.last_reading_at)})


def alarms_check_offline(*, now: dt.datetime | None = None) -> tuple[int, int]:
    """Raise 离线 for active meters silent past their rule's limit, count a repeat for those still
    silent, close it for those reporting again. Returns (raised or repeated, closed).

    Runs in the sweep task across tenants (or within a scope, for one enterprise's meters).
    """
    now = now or timezone.now()
    shortest = dt.timedelta(minutes=OFFLINE_AFTER_MIN_MINUTES)
    silent = list(
        Meter.objects.filter(is_active=True, last_reading_at__lt=now - shortest)
        .order_by("last_reading_at")[:OFFLINE_SWEEP_BATCH]
    )
    rules = {rule.meter_id: rule for rule in AlarmRule.objects.filter(meter_id__in=[m.pk for m in silent])}
    raised = 0
    for meter in silent:
        rule = effective_rule(rules.get(meter.pk))
        offline_after = rule.offline_after
        if not rule.enabled or offline_after is None or meter.last_reading_at is None:
            continue
        silent_for = now - meter.last_reading_at
        if silent_for > offline_after:
            alarm_raise(meter=meter, kind=AlarmKind.OFFLINE, seen_at=now, detail=_(
                "最近读数时间 %(t)s，已 %(n)d 分钟无新读数（离线判定 %(l)d 分钟）") % {
                "t": local_text(meter.last_reading_at), "n": silent_for.total_seconds() // 60,
                "l": rule.offline_after_minutes})
            raised += 1
    closed = 0
    for alarm in Alarm.objects.filter(kind=AlarmKind.OFFLINE, status__in=NOT_CLOSED).select_related("meter"):
        meter = alarm.meter
        rule = effective_rule(AlarmRule.objects.filter(meter_id=meter.pk).first())
        offline_after = rule.offline_after
        if not meter.is_active:
            reason = _("表计已停用")
        elif not rule.enabled or offline_after is None:
            reason = _("离线检查已关闭")
        elif meter.last_reading_at is not None and now - meter.last_reading_at <= offline_after:
            reason = _("%(t)s 恢复上报") % {"t": local_text(meter.last_reading_at)}
        else:
            continue
        if alarm_clear(meter=meter, kind=AlarmKind.OFFLINE, reason=reason) is not None:
            closed += 1
    # A meter taken out of service reports nothing more, so nothing would ever clear its alarms.
    for alarm in Alarm.objects.filter(status__in=NOT_CLOSED, meter__is_active=False).exclude(
            kind=AlarmKind.OFFLINE).select_related("meter"):
        alarm_clear(meter=alarm.meter, kind=alarm.kind, reason=_("表计已停用"))
    return raised, closed
