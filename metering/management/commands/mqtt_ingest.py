"""`manage.py mqtt_ingest`: the long-running MQTT consumer (see metering/collectors/mqtt/consumer.py)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Tags
from django.core.management.base import BaseCommand, CommandError, CommandParser

from metering.collectors.mqtt.consumer import (
    BATCH_MAX_MESSAGES,
    BATCH_WINDOW_MS,
    DEFAULT_GROUP,
    INGEST_WORKERS,
    SESSION_EXPIRY_S,
    SPOOL_DRAIN_INTERVAL_S,
    ConsumerConfig,
    MqttConsumer,
    default_client_id,
)


class Command(BaseCommand):
    help = "Consume readings from MQTT (shared subscription, QoS 1, ack after commit) until SIGTERM/SIGINT."
    # The models' checks only: the full set imports every URL conf and view (about half a second
    # of each start, while the broker holds this consumer's share of the queue); the web
    # processes and `manage.py check` in CI run the rest.
    requires_system_checks = [Tags.models]

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--group", default=DEFAULT_GROUP,
                            help=f"shared subscription group; consumers in one group split the load "
                                 f"(default {DEFAULT_GROUP})")
        parser.add_argument("--client-id", default=None,
                            help="stable MQTT client id: the persistent session is bound to it "
                                 "(default nengtan-ingest-<hostname>)")
        parser.add_argument("--batch-window-ms", type=int, default=BATCH_WINDOW_MS)
        parser.add_argument("--batch-max-messages", type=int, default=BATCH_MAX_MESSAGES)
        parser.add_argument("--ingest-workers", type=int, default=INGEST_WORKERS,
                            help="threads that ingest and acknowledge batches while the main thread "
                                 f"decodes the next (0: the main thread does both; default {INGEST_WORKERS})")
        parser.add_argument("--session-expiry-s", type=int, default=SESSION_EXPIRY_S)
        parser.add_argument("--spool-drain-interval-s", type=float, default=SPOOL_DRAIN_INTERVAL_S)

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.MQTT_URL:
            raise CommandError("MQTT_URL is not set (mqtt://user:pass@host:port).")
        if options["batch_window_ms"] < 1 or not 1 <= options["batch_max_messages"] <= 65535:
            raise CommandError("--batch-window-ms must be ≥ 1 and --batch-max-messages 1…65535.")
        if options["ingest_workers"] < 0:
            raise CommandError("--ingest-workers must be ≥ 0.")
        config = ConsumerConfig(
            url=settings.MQTT_URL,
            group=options["group"],
            client_id=options["client_id"] or default_client_id(),
            batch_window_ms=options["batch_window_ms"],
            batch_max_messages=options["batch_max_messages"],
            ingest_workers=options["ingest_workers"],
            session_expiry_s=options["session_expiry_s"],
            spool_drain_interval_s=options["spool_drain_interval_s"],
        )
        try:
            consumer = MqttConsumer(config)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        consumer.install_signal_handlers()
        try:
            consumer.start()
        except ConnectionError as exc:
            raise CommandError(str(exc)) from exc
        stats = consumer.run()
        self.stdout.write(
            f"mqtt_ingest stopped: {stats.messages} messages, {stats.accepted} readings accepted, "
            f"{stats.duplicates} duplicates, {stats.rejected} rejected, "
            f"{stats.quarantined_messages} messages quarantined, {stats.spooled_batches} batches spooled"
        )
