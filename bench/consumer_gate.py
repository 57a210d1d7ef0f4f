"""`manage.py mqtt_ingest ARGS`, held at the gate until the benchmark says go.

`python bench/consumer_gate.py --group G --client-id ID ...` sets Django up and imports the
consumer and the ingest code, prints ``ready``, waits for a line on stdin, then runs the real
management command (`call_command("mqtt_ingest", ...)`: same code, same signal handling, same
"mqtt_ingest stopped: ..." line on stdout at SIGTERM). The benchmark starts every consumer, waits
until all are ready, and times from the go: interpreter start-up and Django's imports (seconds on
a loaded 2-core host, and different for each process) never count; connecting, resuming the
session, the first database connection and lookups do, as after any real restart.
"""

from __future__ import annotations

import importlib
import os
import sys
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

    print("ready", flush=True)
    sys.stdin.readline()
    call_command("mqtt_ingest", *sys.argv[1:])
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
