"""Out-of-reach entries for the alarm pages (acknowledging an alarm, a meter's alarm rule)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django_scopes import scopes_disabled

from metering.alarms.models import Alarm, AlarmKind
from tests.metering.registry_factories import meter_for
from tests.tenancy_objects import out_of_reach


def alarm_for(enterprise: Any, **fields: Any) -> Alarm:
    """An open offline alarm on a new meter of the enterprise."""
    now = timezone.now()
    values = {"kind": AlarmKind.OFFLINE, "first_seen_at": now, "last_seen_at": now,
              "detail": "巡检告警：已 90 分钟无新读数", **fields}
    with scopes_disabled():  # test setup
        return Alarm.objects.create(meter=meter_for(enterprise), **values)


out_of_reach("metering:alarm_acknowledge")(lambda world: {"pk": alarm_for(world.outsider).pk})
out_of_reach("metering:alarm_rule_edit")(lambda world: {"pk": meter_for(world.outsider).pk})
