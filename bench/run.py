"""Run the ingest benchmark: `python -m bench.run [--readings N] [--single-readings N] [--skip-mqtt]`.

Uses the database `nengtan_bench` on the PostgreSQL of DATABASE_URL (created if missing; its readings
are emptied first) and a private Mosquitto started for the run (see ingest_bench.private_broker).
Prints a table and writes bench/results.json.
Target on 2 cores: HTTP and MQTT batch ingest ≥ 50 % of raw COPY.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_FILE = ROOT / "bench" / "results.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readings", type=int, default=200_000, help="readings per batch path")
    parser.add_argument("--single-readings", type=int, default=20_000, help="readings for MQTT single")
    parser.add_argument("--skip-mqtt", action="store_true")
    parser.add_argument(
        "--only",
        choices=["http", "mqtt", "mqtt-batch", "mqtt-single"],
        help="run the raw COPY baseline and only these paths (faster iteration)",
    )
    args = parser.parse_args(argv)

    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/nengtan")
    os.environ["DATABASE_URL"] = base_url.rsplit("/", 1)[0] + "/nengtan_bench"
    os.environ["NENGTAN_ENV"] = "development"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    sys.path.insert(0, str(ROOT))

    from bench import ingest_bench as b

    b.create_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.db import connection
    from django_scopes import scopes_disabled

    from metering.models import Meter

    setup = b.prepare()
    with scopes_disabled():  # the bench's own tenant
        meter_ids = dict(Meter.objects.filter(enterprise_id=setup["enterprise_id"]).values_list("code", "id"))
    connection.close()

    raw = b.run_raw_copy(args.readings, meter_ids)
    results = [raw]
    only = args.only or ""
    if only in ("", "http"):
        with b.gunicorn_server() as base:
            results.append(b.run_http(args.readings, setup, label="HTTP batch", day_offset=1, base=base))
            results.append(
                b.run_http(
                    args.readings, setup, label="HTTP resend (all duplicates)", day_offset=1, base=base
                )
            )
    if not args.skip_mqtt and only != "http":
        # Never the shared broker on 1883: its default queue limit drops a fast burst (see private_broker).
        with b.private_broker() as (broker_url, broker_log):
            os.environ["MQTT_URL"] = broker_url
            if only in ("", "mqtt", "mqtt-batch"):
                results.append(
                    b.run_mqtt(
                        args.readings,
                        setup,
                        label="MQTT batch",
                        day_offset=2,
                        single=False,
                        broker_log=broker_log,
                    )
                )
            if only in ("", "mqtt", "mqtt-single"):
                results.append(
                    b.run_mqtt(
                        args.single_readings,
                        setup,
                        label="MQTT single reading",
                        day_offset=3,
                        single=True,
                        broker_log=broker_log,
                    )
                )
            if drops := b.broker_drops(broker_log):
                print(
                    f"the private broker DROPPED messages ({drops} times): results are void", file=sys.stderr
                )
                return 1

    print(f"{'path':34} {'readings':>9} {'seconds':>8} {'readings/s':>11} {'× raw COPY':>10}")
    for r in results:
        print(
            f"{r.path:34} {r.readings:>9} {r.seconds:>8.2f} {r.per_second:>11,.0f} "
            f"{r.per_second / raw.per_second:>10.2f}"
        )
    meta = {
        "run_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "batch_readings": b.BATCH_READINGS,
        "meters": b.METERS,
        "note": "same machine runs PostgreSQL, gunicorn (2 workers), Mosquitto, the consumer and the clients",
    }
    RESULTS_FILE.write_text(json.dumps(b.as_json(results, raw, meta), indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {RESULTS_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
