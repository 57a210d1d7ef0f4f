"""Reads of alarms, for the alarm pages, the 看板 and the home pages.

They run under the scope the edge switched on (the manager raises without one); `enterprise_ids`
narrows further within it, it never widens reach.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, QuerySet

from metering.alarms.models import NOT_CLOSED, Alarm, AlarmRule
from metering.models import Meter


def open_alarms(*, enterprise_ids: Iterable[int] | None = None) -> QuerySet[Alarm]:
    """Alarms not closed yet (open, or acknowledged while the condition lasts), newest first."""
    queryset = Alarm.objects.filter(status__in=NOT_CLOSED).select_related("meter", "meter__enterprise")
    if enterprise_ids is not None:
        queryset = queryset.filter(meter__enterprise_id__in=list(enterprise_ids))
    return queryset.order_by("-opened_at", "-id")


def open_alarm_counts(*, enterprise_ids: Iterable[int]) -> dict[int, int]:
    """Enterprise id → number of alarms not closed; every id asked for is a key (0 when none)."""
    ids = list(enterprise_ids)
    counts = dict.fromkeys(ids, 0)
    rows = (
        Alarm.objects.filter(status__in=NOT_CLOSED, meter__enterprise_id__in=ids)
        .values_list("meter__enterprise_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    for enterprise_id, n in rows:
        counts[enterprise_id] = n
    return counts


def alarms_for_enterprise(
    enterprise_id: int, *, status: str = "", kind: str = "", meter_id: int | None = None
) -> QuerySet[Alarm]:
    """The enterprise's alarms, newest first, filtered by status, kind and meter when given."""
    queryset = Alarm.objects.filter(meter__enterprise_id=enterprise_id).select_related(
        "meter", "acknowledged_by"
    )
    if status:
        queryset = queryset.filter(status=status)
    if kind:
        queryset = queryset.filter(kind=kind)
    if meter_id is not None:
        queryset = queryset.filter(meter_id=meter_id)
    return queryset.order_by("-opened_at", "-id")


def rule_for_meter(meter: Meter) -> AlarmRule | None:
    """The meter's own rule, or None when it is watched with the platform defaults."""
    return AlarmRule.objects.filter(meter_id=meter.pk).first()
