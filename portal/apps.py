from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "组织与权限"

    def ready(self) -> None:
        from portal import audit, signals  # noqa: F401  (connect receivers)
