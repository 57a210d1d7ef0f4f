"""Run the ingest benchmark: `python -m bench.run [--rounds N] [--readings N] [--only PATHS]`.

Uses the database `nengtan_bench` (or BENCH_DATABASE, so that runs beside each other on one server
keep apart) on the PostgreSQL of DATABASE_URL (created if missing; its readings are emptied first)
and a private Mosquitto started for the run (see ingest_bench.private_broker).
Each round measures the raw COPY baseline, then every path, then the baseline again; a path is
compared with the faster baseline of its own round (the machine's state drifts: autovacuum,
checkpoints, page cache, other tenants of the host).
Prints the median, lowest and highest ratio per path and writes bench/results.json.
Target on 2 cores: HTTP and MQTT batch ingest ≥ 50 % of raw COPY.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_FILE = ROOT / "bench" / "results.json"
# Paths measured after the baseline in each round; each gets its own window of readings.
PATHS = ("http", "http-resend", "mqtt-batch", "mqtt-single")
ONLY_CHOICES = {
    "http": {"http", "http-resend"},
    "mqtt": {"mqtt-batch", "mqtt-single"},
    "mqtt-batch": {"mqtt-batch"},
    "mqtt-single": {"mqtt-single"},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of baseline + paths (median reported)")
    parser.add_argument("--readings", type=int, default=200_000, help="readings per batch path")
    parser.add_argument("--single-readings", type=int, default=20_000, help="readings for MQTT single")
    parser.add_argument("--skip-mqtt", action="store_true")
    parser.add_argument(
        "--only", choices=sorted(ONLY_CHOICES), help="run the raw COPY baseline and only these paths"
    )
    parser.add_argument("--no-write", action="store_true", help="print only; keep bench/results.json")
    args = parser.parse_args(argv)
    selected = ONLY_CHOICES[args.only] if args.only else set(PATHS)
    if args.skip_mqtt:
        selected -= ONLY_CHOICES["mqtt"]

    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/nengtan")
    database = os.environ.get("BENCH_DATABASE", "nengtan_bench")
    os.environ["DATABASE_URL"] = base_url.rsplit("/", 1)[0] + "/" + database
    os.environ["NENGTAN_ENV"] = "development"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    sys.path.insert(0, str(ROOT))

    from bench import ingest_bench as b

    if args.rounds * len(PATHS) >= b.WINDOWS:
        parser.error(f"at most {(b.WINDOWS - 1) // len(PATHS)} rounds (each path needs its own window)")
    b.create_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.db import connection

    setup = b.prepare()
    meter_ids = b.bench_meter_ids(setup["enterprise_id"])
    connection.close()

    rounds: list[list[b.PathResult]] = []
    with contextlib.ExitStack() as stack:
        # Rollup upkeep on: the real worker recomputes while the paths ingest (the lag is reported).
        stack.enter_context(b.celery_worker())
        base = stack.enter_context(b.gunicorn_server()) if selected & ONLY_CHOICES["http"] else ""
        broker_log = None
        if selected & ONLY_CHOICES["mqtt"]:
            # Never the shared broker on 1883: its default queue limit drops a burst (see private_broker).
            broker_url, broker_log = stack.enter_context(b.private_broker())
            os.environ["MQTT_URL"] = broker_url
        for number in range(args.rounds):
            offset = 1 + number * len(PATHS)
            baseline_before = b.run_raw_copy(args.readings, meter_ids)
            results = [baseline_before]
            if "http" in selected:
                results.append(
                    b.run_http(args.readings, setup, label="HTTP batch", day_offset=offset, base=base)
                )
            if "http-resend" in selected:
                results.append(
                    b.run_http(args.readings, setup, label="HTTP resend (all duplicates)", day_offset=offset,
                               base=base)
                )
            if "mqtt-batch" in selected:
                results.append(
                    b.run_mqtt(args.readings, setup, label="MQTT batch", day_offset=offset + 2, single=False,
                               broker_log=broker_log)
                )
            if "mqtt-single" in selected:
                results.append(
                    b.run_mqtt(args.single_readings, setup, label="MQTT single reading",
                               day_offset=offset + 3, single=True, broker_log=broker_log)
                )
            # The baseline again after the paths; the faster of the two counts, so a slow moment of
            # the machine during one baseline never makes the paths look better than they are.
            baseline_after = b.run_raw_copy(args.readings, meter_ids)
            results[0] = max(baseline_before, baseline_after, key=lambda r: r.per_second)
            print(f"round {number + 1}: " + ", ".join(
                f"{r.path} {r.per_second / results[0].per_second:.2f}" for r in results[1:]), file=sys.stderr)
            rounds.append(results)
        if broker_log is not None and (drops := b.broker_drops(broker_log)):
            print(f"the private broker DROPPED messages ({drops} times): results are void", file=sys.stderr)
            return 1

    summary = b.summarize(rounds)
    print(f"{args.rounds} rounds; readings/s is the median, × raw COPY per round: median (lowest – highest)")
    print(f"{'path':34} {'readings':>9} {'readings/s':>11} {'× raw COPY':>22} {'rollup lag s':>18}")
    for path in summary:
        ratio = (f"{path['ratio_to_raw_copy_median']:.2f} ({path['ratio_to_raw_copy_lowest']:.2f} – "
                 f"{path['ratio_to_raw_copy_highest']:.2f})")
        lag = ("" if path["rollup_lag_s_median"] is None
               else f"{path['rollup_lag_s_median']:.1f} (max {path['rollup_lag_s_highest']:.1f})")
        print(f"{path['path']:34} {path['readings']:>9} {path['readings_per_s_median']:>11,} {ratio:>22} "
              f"{lag:>18}")
    meta = {
        "run_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "batch_readings": b.BATCH_READINGS,
        "meters": b.METERS,
        "rounds": args.rounds,
        "note": "one machine runs PostgreSQL, gunicorn (2 workers), Mosquitto, the consumers and the clients",
    }
    if not args.no_write:
        RESULTS_FILE.write_text(json.dumps({**meta, "paths": summary}, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {RESULTS_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
