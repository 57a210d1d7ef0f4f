"""Alarms: thresholds per meter, offline meters, sudden jumps and register resets.

A Django app of its own (label `alarms`, inside `metering/`). It reads readings and rollups only
through the storage and monitoring selectors and never writes readings.
"""
from django.apps import AppConfig


class AlarmsConfig(AppConfig):
    name = "metering.alarms"
    label = "alarms"
    verbose_name = "告警"

    def ready(self) -> None:
        from metering.alarms import signals  # noqa: F401  (connect the audit receivers)
