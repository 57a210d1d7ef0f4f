"""The outbox: a Django app of its own (label `outbox`, inside `metering/`). It reads figures only
through the monitoring indicators service and the stored rollups; it never touches readings."""

from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "metering.outbox"
    label = "outbox"
    verbose_name = "数据上传"

    def ready(self) -> None:
        from metering.outbox import signals  # noqa: F401  (connect the audit receivers)
