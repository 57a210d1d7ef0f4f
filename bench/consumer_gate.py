"""`manage.py mqtt_ingest ARGS`, held at the gate until the benchmark says go.

`python bench/consumer_gate.py --group G --client-id ID ...` sets Django up and imports the
consumer and the ingest code, prints ``ready``, waits for a line on stdin, then runs the real
management command (`call_command("mqtt_ingest", ...)`: same code, same signal handling, same
"mqtt_ingest stopped: ..." line on stdout at SIGTERM). The benchmark starts every consumer, waits
until all are ready and releases them together. The drain is timed from the first consumer's
`connecting` line (printed when the consumer, ready, connects to the broker) to the last reading
committed: interpreter start-up, Django's imports and the consumer's own warm-up before it asks for
messages never count; connecting, resuming the session and the first lookups do.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.core.management import call_command

    # The command's imports, outside the timing too.
    for module in ("metering.collectors.mqtt.consumer", "metering.ingest.services",
                   "metering.management.commands.mqtt_ingest"):
        importlib.import_module(module)

    # The drain's clock starts when a consumer asks the broker for its session: the consumer logs
    # "mqtt_ingest connecting" once it is ready (its database connections, the ingest workers and
    # the task queue open, `MqttConsumer.start`), right before it connects. Seen here, that
    # instant is printed as `connecting <CLOCK_MONOTONIC s>` (comparable across the processes of
    # one host); the logger otherwise keeps the bench's WARNING level.
    logging.getLogger("metering.collectors.mqtt.consumer").setLevel(logging.INFO)
    logging.getLogger("metering.collectors.mqtt.consumer").addFilter(_ConnectingInstant())

    print("ready", flush=True)
    sys.stdin.readline()
    call_command("mqtt_ingest", *sys.argv[1:])
    sys.stdout.flush()
    return 0


class _ConnectingInstant(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("mqtt_ingest connecting"):
            print(f"connecting {time.monotonic()!r}", flush=True)
        return record.levelno >= logging.WARNING


if __name__ == "__main__":
    raise SystemExit(main())
