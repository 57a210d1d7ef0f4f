"""Writes of alarms: raising (with suppression), clearing, acknowledging, and the rules.

Suppression: while an alarm of (meter, kind) is not closed (open, or acknowledged while its
condition lasts), a repeat only adds to `occurrences` and moves `last_seen_at`; it opens nothing
and mails nothing. The constraint `alarm_one_open_per_meter_kind` keeps it that way under
concurrent evaluations: a second opener hits it and counts a repeat instead.

A repeat counts only when it is newer than the alarm's `last_seen_at` (the data instant of its
latest occurrence): recomputing the same quarter-hour twice is one occurrence, not two.

Closing: a condition kind (超上限, 低于下限, 离线) closes when the data shows it cleared (a later
complete quarter-hour or reading within bounds; a new reading for an offline meter); an event
kind (突变, 表底清零) has no lasting condition and closes after `EVENT_QUIET` without a repeat.
Acknowledging does not close: an acknowledged alarm still suppresses repeats until it clears.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from metering.alarms.models import (
    CONDITION_KINDS,
    EVENT_KINDS,
    NOT_CLOSED,
    Alarm,
    AlarmKind,
    AlarmRule,
    AlarmStatus,
)
from metering.models import Meter

logger = logging.getLogger(__name__)

# An event alarm (jump, reset) with no repeat for this long is closed: the event is over.
EVENT_QUIET = dt.timedelta(hours=4)

ALARM_RULE_FIELDS: tuple[str, ...] = (
    "enabled",
    "max_quarter_consumption",
    "min_quarter_consumption",
    "max_value",
    "min_value",
    "offline_after_minutes",
    "jump_factor",
    "detect_resets",
)
ACKNOWLEDGEMENT_NOTE_MAX_CHARS = 2000


def _current(meter_id: int, kind: str) -> Alarm | None:
    return (
        Alarm.objects.select_for_update(of=("self",))
        .filter(meter_id=meter_id, kind=kind, status__in=NOT_CLOSED)
        .first()
    )


def _queue_mail_after_commit() -> None:
    from metering.alarms.receivers import queue_alarm_mails

    transaction.on_commit(queue_alarm_mails)


@transaction.atomic
def alarm_raise(*, meter: Meter, kind: str, seen_at: dt.datetime, detail: str, count: int = 1) -> Alarm:
    """Open an alarm of (meter, kind), or count a repeat of the one not closed (no new mail).

    `seen_at` is the occurrence's instant (the data's: a quarter-hour's start, a reading's time;
    the check's for offline); `count` the occurrences it stands for. A new alarm is mailed after
    commit (and retried until delivered, see metering/alarms/mail.py).
    """
    if kind not in AlarmKind.values:
        raise ValueError(f"unknown alarm kind {kind!r}")
    alarm = _current(meter.pk, kind)
    if alarm is None:
        try:
            with transaction.atomic():
                alarm = Alarm(meter=meter, kind=kind, first_seen_at=seen_at, last_seen_at=seen_at,
                              occurrences=count, detail=detail[:500])
                alarm.full_clean(validate_constraints=False)
                alarm.save()
        except IntegrityError:
            # Another evaluation opened it meanwhile (the constraint): this one is a repeat of it.
            alarm = _current(meter.pk, kind)
            if alarm is None:
                raise
        else:
            _queue_mail_after_commit()
            return alarm
    if seen_at > alarm.last_seen_at:
        Alarm.objects.filter(pk=alarm.pk).update(occurrences=alarm.occurrences + count, last_seen_at=seen_at)
        alarm.occurrences += count
        alarm.last_seen_at = seen_at
    return alarm


@transaction.atomic
def alarm_clear(
    *, meter: Meter, kind: str, reason: str, cleared_after: dt.datetime | None = None
) -> Alarm | None:
    """Close the not-closed alarm of (meter, kind), if any; returns it.

    With `cleared_after`, only an alarm last seen before that instant closes: data older than the
    latest occurrence says nothing about whether it cleared.
    """
    alarm = _current(meter.pk, kind)
    if alarm is None or (cleared_after is not None and alarm.last_seen_at >= cleared_after):
        return None
    alarm.status = AlarmStatus.CLOSED
    alarm.closed_at = timezone.now()
    alarm.close_reason = reason[:200]
    alarm.save(update_fields=["status", "closed_at", "close_reason"])
    return alarm


def alarms_close_quiet_events(*, now: dt.datetime | None = None) -> int:
    """Close event alarms (jump, reset) not repeated for EVENT_QUIET; returns how many closed.
    Runs across tenants (the sweep task) or within a scope."""
    now = now or timezone.now()
    closed = 0
    quiet = Alarm.objects.filter(kind__in=EVENT_KINDS, status__in=NOT_CLOSED,
                                 last_seen_at__lt=now - EVENT_QUIET).select_related("meter")
    hours = int(EVENT_QUIET.total_seconds() // 3600)
    for alarm in quiet.order_by("id"):
        if alarm_clear(meter=alarm.meter, kind=alarm.kind, cleared_after=now - EVENT_QUIET,
                       reason=_("%(hours)d 小时内未再发生") % {"hours": hours}) is not None:
            closed += 1
    return closed


@transaction.atomic
def alarm_acknowledge(*, alarm: Alarm, user: Any, note: str) -> Alarm:
    """Record who acknowledged the alarm and their note (处理说明). The caller checked the right
    (portal.access.can_handle_alarms). The alarm stays not closed until its condition clears."""
    note = note.strip()
    if not note:
        raise ValidationError({"note": _("请填写处理说明。")})
    if len(note) > ACKNOWLEDGEMENT_NOTE_MAX_CHARS:
        limit = {"n": ACKNOWLEDGEMENT_NOTE_MAX_CHARS}
        raise ValidationError({"note": _("处理说明不能超过 %(n)d 个字。") % limit})
    locked = Alarm.objects.select_for_update(of=("self",)).filter(pk=alarm.pk).first()
    if locked is None:
        raise ValidationError(_("告警不存在。"))
    if locked.status == AlarmStatus.CLOSED:
        raise ValidationError(_("告警已恢复，无需确认。"))
    if locked.status == AlarmStatus.ACKNOWLEDGED:
        raise ValidationError(_("告警已由 %(who)s 确认。") % {"who": locked.acknowledged_by or _("他人")})
    locked.status = AlarmStatus.ACKNOWLEDGED
    locked.acknowledged_by = user
    locked.acknowledged_at = timezone.now()
    locked.acknowledgement_note = note
    locked.save(update_fields=["status", "acknowledged_by", "acknowledged_at", "acknowledgement_note"])
    return locked


@transaction.atomic
def alarm_rule_save(*, meter: Meter, fields: Mapping[str, Any]) -> AlarmRule:
    """Create or change the meter's rule with `fields` (a subset of ALARM_RULE_FIELDS)."""
    unknown = set(fields).difference(ALARM_RULE_FIELDS)
    if unknown:
        raise TypeError(f"unexpected alarm rule fields: {sorted(unknown)}")
    rule = AlarmRule.objects.select_for_update(of=("self",)).filter(meter_id=meter.pk).first()
    if rule is None:
        rule = AlarmRule(meter=meter)
    for name, value in fields.items():
        setattr(rule, name, value)
    rule.full_clean()
    rule.save()
    if not rule.enabled:
        # A meter no longer watched keeps no alarm open: nothing would ever clear it.
        for kind in AlarmKind.values:
            alarm_clear(meter=meter, kind=kind, reason=_("告警规则已停用"))
    elif rule.offline_after_minutes is None:
        alarm_clear(meter=meter, kind=AlarmKind.OFFLINE, reason=_("离线检查已关闭"))
    return rule


__all__ = [
    "ALARM_RULE_FIELDS",
    "CONDITION_KINDS",
    "EVENT_QUIET",
    "alarm_acknowledge",
    "alarm_clear",
    "alarm_raise",
    "alarm_rule_save",
    "alarms_close_quiet_events",
]
