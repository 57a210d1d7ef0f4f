"""Run the ingest benchmark: `python bench/run.py [--rounds N] [--readings N] [--only PATHS] ...`.

Uses the database `nengtan_bench` (or BENCH_DATABASE, so that runs beside each other on one server
keep apart) on the PostgreSQL of DATABASE_URL (created if missing; its readings are emptied first)
and a private Mosquitto started for the run (see ingest_bench.private_broker).

Each round measures the two COPY baselines (text, binary), then every path, then the baselines
again; a path is compared with the faster baseline of its own round (the machine's state drifts:
autovacuum, checkpoints, page cache, other tenants of the host). The MQTT paths are timed on the
consumer: the broker's queue is filled while the consumers are offline, then they drain it (see
bench/mqtt_drain.py); in the same round a bare paho subscriber drains the same single-reading
queue, counting only and then decoding + COPYing, with 1 and 2 processes: the physical limits
the consumer's figures are divided by.

Prints the limits, the single-reading figures (readings/s and × limit) and the batch ratios
(× text and × binary COPY; median, lowest and highest over the rounds) and writes
bench/results.json. Fails (exit 1) if any message or reading was lost or duplicated.
Targets on 2 cores (issue 11): MQTT single ≥ 20 000 readings/s with 2 consumers; HTTP and MQTT
batches ≥ 0.8 × text COPY.
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS_FILE = ROOT / "bench" / "results.json"
PATHS = ("http", "http-resend", "mqtt-batch", "mqtt-batch-1", "mqtt-single")
ONLY_CHOICES = {
    "http": {"http", "http-resend"},
    "mqtt": {"mqtt-batch", "mqtt-batch-1", "mqtt-single"},
    "mqtt-batch": {"mqtt-batch", "mqtt-batch-1"},
    "mqtt-single": {"mqtt-single"},
}
# Each round's windows of readings (one per path that stores; the resend reuses HTTP's).
SLOTS = ("http", "mqtt-batch", "mqtt-batch-1", "mqtt-single-1", "mqtt-single-2")
SINGLE_TARGET_PER_S = 20_000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of baselines + paths (median reported)")
    parser.add_argument("--readings", type=int, default=200_000, help="readings per batch path")
    # 100 000: at the 20 000/s target the 2-consumer drain lasts 5 s and the bare limit ~2 s, so
    # connecting, the first lookups and the poll's 20 ms overshoot stay within ~1-2 % of the time;
    # 20 000 would drain in 0.4-1 s, where they are 5-10 %. A slow consumer (3 000/s) takes ~35 s.
    parser.add_argument("--single-readings", type=int, default=100_000,
                        help="readings (= messages) for MQTT single and the bare-subscriber limits")
    parser.add_argument("--skip-mqtt", action="store_true")
    parser.add_argument("--no-batch-1", action="store_true", help="skip MQTT batch with one consumer")
    parser.add_argument("--no-limits", action="store_true",
                        help="skip the bare-subscriber limits (no × limit ratios then)")
    parser.add_argument(
        "--only", choices=sorted(ONLY_CHOICES), help="run the COPY baselines and only these paths"
    )
    parser.add_argument("--no-write", action="store_true", help="print only; keep bench/results.json")
    args = parser.parse_args(argv)
    selected = set(ONLY_CHOICES[args.only]) if args.only else set(PATHS)
    if args.skip_mqtt:
        selected -= ONLY_CHOICES["mqtt"]
    if args.no_batch_1:
        selected.discard("mqtt-batch-1")

    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/nengtan")
    database = os.environ.get("BENCH_DATABASE", "nengtan_bench")
    os.environ["DATABASE_URL"] = base_url.rsplit("/", 1)[0] + "/" + database
    os.environ["NENGTAN_ENV"] = "development"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    sys.path.insert(0, str(ROOT))

    from bench import ingest_bench as b
    from bench.mqtt_drain import WORKDIR, DeliveryError

    if args.rounds * len(SLOTS) >= b.WINDOWS:
        parser.error(f"at most {(b.WINDOWS - 1) // len(SLOTS)} rounds (each path needs its own window)")
    b.create_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.db import connection

    setup = b.prepare()
    meter_ids = b.bench_meter_ids(setup["enterprise_id"])
    connection.close()

    rounds: list[dict[str, b.PathResult]] = []
    try:
        with contextlib.ExitStack() as stack:
            # Rollup upkeep on: the real worker recomputes while the paths ingest (the lag is reported).
            stack.enter_context(b.celery_worker())
            base = stack.enter_context(b.gunicorn_server()) if selected & ONLY_CHOICES["http"] else ""
            broker_url, broker_log = "", None
            if selected & ONLY_CHOICES["mqtt"]:
                # Never the shared broker on 1883: its default queue limit drops a burst (see private_broker).
                broker_url, broker_log = stack.enter_context(b.private_broker())
                os.environ["MQTT_URL"] = broker_url
            for number in range(args.rounds):
                rounds.append(run_round(b, args, selected, number, setup, meter_ids, base, broker_url,
                                        broker_log))
            if broker_log is not None and (drops := b.broker_drops(broker_log)):
                raise DeliveryError(f"the private broker DROPPED messages ({drops} times)")
    except DeliveryError as exc:
        print(f"\nBENCH FAILED: {exc}\nthe figures of this run are void; the gated processes' output is "
              f"kept in {WORKDIR.path}", file=sys.stderr)
        return 1
    WORKDIR.remove()

    summary = b.summarize(rounds)
    report(summary, args.rounds)
    meta = {
        "run_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "load_average": [round(load, 2) for load in os.getloadavg()],
        "python": platform.python_version(),
        "batch_readings": b.BATCH_READINGS,
        "meters": b.METERS,
        "rounds": args.rounds,
        "single_readings": args.single_readings,
        "method": "MQTT paths: the broker's queue is filled while the subscribers are offline; time from "
                  "the first subscriber's connect (the consumers ready: imported, database and task "
                  "queue connections open) until every reading is committed "
                  "(bench/mqtt_drain.py). Ratios are per round, against the faster of the round's two "
                  "baselines (text, binary COPY) and, for single readings, the bare paho subscriber "
                  "with as many processes as consumers (limit_copy: decode + COPY + commit before ack; "
                  "limit_count: receive only).",
        "note": "one machine runs PostgreSQL, gunicorn (2 workers), Mosquitto, the Celery worker, the "
                "consumers and the clients",
    }
    if not args.no_write:
        RESULTS_FILE.write_text(json.dumps({**meta, **summary}, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {RESULTS_FILE}")
    return 0


def run_round(b: Any, args: argparse.Namespace, selected: set[str], number: int, setup: dict[str, Any],
              meter_ids: dict[str, int], base: str, broker_url: str, broker_log: Path | None
              ) -> dict[str, Any]:
    slot = {name: 1 + number * len(SLOTS) + index for index, name in enumerate(SLOTS)}
    text_before = b.run_raw_copy(args.readings, meter_ids)
    binary_before = b.run_binary_copy(args.readings, meter_ids)
    results: list[Any] = []
    if "http" in selected:
        results.append(b.run_http(args.readings, setup, label="HTTP batch", day_offset=slot["http"],
                                  base=base))
    if "http-resend" in selected:
        results.append(b.run_http(args.readings, setup, label="HTTP resend (all duplicates)",
                                  day_offset=slot["http"], base=base))
    mqtt = {"broker_url": broker_url, "broker_log": broker_log}
    if "mqtt-batch" in selected:
        results.append(b.run_mqtt(args.readings, setup, label=f"MQTT batch, {b.MQTT_CONSUMERS} consumers",
                                  day_offset=slot["mqtt-batch"], single=False, **mqtt))
    if "mqtt-batch-1" in selected:
        results.append(b.run_mqtt(args.readings, setup, label="MQTT batch, 1 consumer",
                                  day_offset=slot["mqtt-batch-1"], single=False, consumers=1, **mqtt))
    if "mqtt-single" in selected:
        if not args.no_limits:
            # The same messages as the 1-consumer path (the bare subscriber writes its own table).
            items = b.reading_items(slot["mqtt-single-1"], args.single_readings)
            for mode in ("count", "copy"):
                for processes in (1, 2):
                    results.append(b.run_bare_limit(items, setup, mode=mode, processes=processes,
                                                    broker_url=broker_url, round_number=number))
        for consumers in (1, 2):
            plural = "s" if consumers > 1 else ""
            results.append(b.run_mqtt(args.single_readings, setup,
                                      label=f"MQTT single reading, {consumers} consumer{plural}",
                                      day_offset=slot[f"mqtt-single-{consumers}"], single=True,
                                      consumers=consumers, **mqtt))
    # The baselines again after the paths; the faster of the two counts, so a slow moment of the
    # machine during one baseline never makes the paths look better than they are.
    text = max(text_before, b.run_raw_copy(args.readings, meter_ids), key=lambda r: r.per_second)
    binary = max(binary_before, b.run_binary_copy(args.readings, meter_ids), key=lambda r: r.per_second)
    line = [f"text COPY {text.per_second:,.0f}/s", f"binary COPY {binary.per_second:,.0f}/s"]
    for result in results:
        if result.kind == "batch":
            line.append(f"{result.path} {result.per_second / text.per_second:.2f}× text")
        else:
            line.append(f"{result.path} {result.per_second:,.0f}/s")
    print(f"round {number + 1}: " + "; ".join(line), file=sys.stderr)
    return {r.path: r for r in (text, binary, *results)}


def report(summary: dict[str, list[dict[str, Any]]], rounds: int) -> None:
    def spread(path: dict[str, Any], name: str) -> str:
        if f"ratio_to_{name}_median" not in path:
            return "-"
        return (f"{path[f'ratio_to_{name}_median']:.2f} ({path[f'ratio_to_{name}_lowest']:.2f} – "
                f"{path[f'ratio_to_{name}_highest']:.2f})")

    def lag(path: dict[str, Any]) -> str:
        if path.get("rollup_lag_s_median") is None:
            return ""
        return f"{path['rollup_lag_s_median']:.1f} (max {path['rollup_lag_s_highest']:.1f})"

    print(f"{rounds} round(s); readings/s is the median over the rounds; ratios per round: "
          "median (lowest – highest)")
    print("\nBaselines (PostgreSQL COPY of the batch rows, one transaction):")
    for path in summary["baselines"]:
        print(f"  {path['path']:44} {path['readings']:>9} {path['readings_per_s_median']:>11,}/s")
    if summary["limits"]:
        print("\nLimits: a bare paho-mqtt subscriber drains the single-reading queue "
              "(QoS 1, filled offline):")
        for path in summary["limits"]:
            print(f"  {path['path']:44} {path['readings']:>9} {path['readings_per_s_median']:>11,}/s")
    singles = [p for p in summary["paths"] if p["kind"] == "single"]
    if singles:
        print(f"\nMQTT single reading per message (target ≥ {SINGLE_TARGET_PER_S:,}/s with 2 consumers), "
              "× the bare limit with as many processes:")
        print(f"  {'path':44} {'readings':>9} {'readings/s':>13} {'× limit (copy)':>22} "
              f"{'× limit (receive)':>22} {'rollup lag s':>16}")
        for path in singles:
            print(f"  {path['path']:44} {path['readings']:>9} {path['readings_per_s_median']:>11,}/s "
                  f"{spread(path, 'limit_copy'):>22} {spread(path, 'limit_count'):>22} {lag(path):>16}")
    with_cpu = [p for p in summary["paths"] if p.get("cpu_us_per_reading_median")]
    if with_cpu:
        print("\nCPU per reading of the MQTT paths, µs (median over rounds; from /proc): during the drain "
              "the consumer processes, every PostgreSQL process, the broker and the Celery worker; after it, "
              "until the rollups were current, the Celery worker and PostgreSQL (the rollup upkeep a "
              "burst leaves behind):")
        print(f"  {'path':44} {'consumers':>10} {'postgres':>10} {'mosquitto':>10} {'celery':>10} "
              f"{'after: celery':>14} {'postgres':>10}")
        for path in with_cpu:
            cpu = path["cpu_us_per_reading_median"]
            print(f"  {path['path']:44} {cpu['consumers']:>10.1f} {cpu['postgres']:>10.1f} "
                  f"{cpu['mosquitto']:>10.1f} {cpu['celery']:>10.1f} "
                  f"{cpu.get('upkeep_after_celery', 0):>14.1f} {cpu.get('upkeep_after_postgres', 0):>10.1f}")
    batches = [p for p in summary["paths"] if p["kind"] == "batch"]
    if batches:
        print("\nBatches (target ≥ 0.8 × text COPY):")
        print(f"  {'path':44} {'readings':>9} {'readings/s':>13} {'× text COPY':>22} {'× binary COPY':>22} "
              f"{'rollup lag s':>16}")
        for path in batches:
            print(f"  {path['path']:44} {path['readings']:>9} {path['readings_per_s_median']:>11,}/s "
                  f"{spread(path, 'raw_copy'):>22} {spread(path, 'binary_copy'):>22} {lag(path):>16}")


if __name__ == "__main__":
    raise SystemExit(main())
