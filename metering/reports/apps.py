from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "metering.reports"
    label = "reports"
    verbose_name = "报表与导出"

    def ready(self) -> None:
        from metering.reports import signals  # noqa: F401  (connect the audit receivers)
