from django.apps import AppConfig


class MeteringConfig(AppConfig):
    name = "metering"
    verbose_name = "计量档案"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_migrate, post_save

        from metering import signals  # noqa: F401  (connect the audit receivers)
        from metering.registry.broker import (
            queue_broker_credentials_refresh,
            queue_refresh_after_enterprise_change,
        )
        from metering.registry.tokens import gateway_tokens_changed
        from metering.storage.partitions import ensure_partitions_after_migrate
        from portal.models import Enterprise

        gateway_tokens_changed.connect(
            queue_broker_credentials_refresh, dispatch_uid="metering.queue_broker_credentials_refresh"
        )
        # Only approved enterprises have broker accounts: a status change (or a deleted
        # enterprise) rewrites the broker's files after commit.
        post_save.connect(queue_refresh_after_enterprise_change, sender=Enterprise,
                          dispatch_uid="metering.queue_refresh_after_enterprise_save")
        post_delete.connect(queue_refresh_after_enterprise_change, sender=Enterprise,
                            dispatch_uid="metering.queue_refresh_after_enterprise_delete")
        # A freshly migrated database gets its monthly reading partitions without waiting for beat.
        post_migrate.connect(
            ensure_partitions_after_migrate,
            sender=self,
            dispatch_uid="metering.ensure_partitions_after_migrate",
        )
