"""`manage.py mqtt_credentials --out DIR`: write Mosquitto's password file and ACL.

The consumer's account comes from MQTT_INGEST_USERNAME / MQTT_INGEST_PASSWORD, or else from the
user and password in MQTT_URL (the account `mqtt_ingest` logs in with). Secrets are read from
the environment and never printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from metering.registry.broker import (
    MISSING_CONSUMER_ACCOUNT,
    broker_credentials_write,
    ingest_consumer_credentials,
    mosquitto_conf_snippet,
)


class Command(BaseCommand):
    help = ("Write the Mosquitto password file and ACL: one account <credit code>.<token id> per active "
            "gateway token of an approved enterprise, each allowed to publish only under "
            "nengtan/<credit code>/#.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--out", required=True, type=Path, help="directory for `passwd` and `acl`")

    def handle(self, *args: Any, **options: Any) -> None:
        username, password = ingest_consumer_credentials()
        if not (username and password):
            raise CommandError(MISSING_CONSUMER_ACCOUNT)
        out_dir = Path(options["out"]).resolve()
        try:
            written = broker_credentials_write(out_dir=out_dir, consumer_username=username,
                                               consumer_password=password)
        except (ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Wrote {written.password_file} and {written.acl_file}: {written.gateway_accounts} gateway "
            f"accounts + consumer {username}."
        )
        self.stdout.write(mosquitto_conf_snippet(out_dir))
