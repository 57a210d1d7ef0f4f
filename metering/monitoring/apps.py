from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "metering.monitoring"
    label = "monitoring"
    verbose_name = "能耗监测"
