from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "metering.monitoring"
    label = "monitoring"
    verbose_name = "能耗监测"

    def ready(self) -> None:
        from metering.monitoring import signals  # noqa: F401  (connect the audit receivers)
