"""Alarms: thresholds per meter, offline meters, sudden jumps and register resets.

A Django app of its own (label `alarms`, inside `metering/`). It reads readings and rollups only
through the storage and monitoring selectors and never writes readings; monitoring announces each
recompute (`rollups_recomputed`) and knows nothing of alarms.
"""
from django.apps import AppConfig


class AlarmsConfig(AppConfig):
    name = "metering.alarms"
    label = "alarms"
    verbose_name = "告警"

    def ready(self) -> None:
        from metering.alarms import signals  # noqa: F401  (connect the audit receivers)
        from metering.alarms.receivers import evaluate_after_recompute
        from metering.monitoring.signals import rollups_recomputed

        rollups_recomputed.connect(evaluate_after_recompute, dispatch_uid="alarms-evaluate-after-recompute")
