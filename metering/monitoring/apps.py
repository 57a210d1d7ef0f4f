"""Monitoring: what turns stored readings into the figures the programs judge.

A Django app of its own (label `monitoring`, inside `metering/`), so its tables and migrations
stand apart from the registry's. It reads readings only through the storage selectors and reacts
to ingest's commit through a signal; ingest knows nothing of it.
"""
from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "metering.monitoring"
    label = "monitoring"
    verbose_name = "能耗监测"

    def ready(self) -> None:
        from metering.ingest.signals import collector_starting, readings_written
        from metering.monitoring import signals  # noqa: F401  (connect the audit receivers)
        from metering.monitoring.receivers import mark_rollups_dirty, prepare_rollup_queue

        readings_written.connect(mark_rollups_dirty, dispatch_uid="monitoring-mark-rollups-dirty")
        collector_starting.connect(prepare_rollup_queue, dispatch_uid="monitoring-prepare-rollup-queue")
