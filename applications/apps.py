from django.apps import AppConfig


class ApplicationsConfig(AppConfig):
    name = "applications"
    verbose_name = "申报项目"

    def ready(self) -> None:
        from applications import signals  # noqa: F401  (registers the audited models)
