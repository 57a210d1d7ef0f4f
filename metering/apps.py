from django.apps import AppConfig


class MeteringConfig(AppConfig):
    name = "metering"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from metering import signals  # noqa: F401  (connect the audit receivers)
        from metering.collectors.mqtt.credentials import queue_broker_credentials_refresh
        from metering.registry.tokens import gateway_tokens_changed
        from metering.storage.partitions import ensure_partitions_after_migrate

        gateway_tokens_changed.connect(
            queue_broker_credentials_refresh, dispatch_uid="metering.queue_broker_credentials_refresh"
        )
        # A freshly migrated database gets its monthly reading partitions without waiting for beat.
        post_migrate.connect(
            ensure_partitions_after_migrate,
            sender=self,
            dispatch_uid="metering.ensure_partitions_after_migrate",
        )
