"""Ingest throughput of each path, against PostgreSQL COPYs of the same rows in the same run.

References (not product code):

- text COPY: psycopg2 `copy_expert` (text format, from memory) into `bench_raw_reading`, a plain
  copy of the readings table with its primary key, no conflict handling. The baseline of the
  batch targets ("× raw COPY").
- binary COPY: the same rows in PostgreSQL's binary COPY format, built by hand in
  bench/copy_binary.py: closer to the database's own limit.
- bare paho subscriber (bench/bare_subscriber.py, 1 and 2 processes): drains the same queue of
  single-reading messages the consumer drains, counting only, then also decoding and COPYing:
  the physical limits of the single-reading path.

Paths measured (all end to end, through the real code):

- HTTP batch: `gunicorn portal.wsgi -w 2` on a free port, POST /api/v1/readings/ with a gateway
  token, batches of `BATCH_READINGS`, two client threads; readings/s = accepted / wall time.
- HTTP resend: the same batches again (every reading a duplicate): the de-duplication cost.
- MQTT batch: `manage.py mqtt_ingest` (the real consumer; MQTT_CONSUMERS processes in one
  shared-subscription group, as HTTP gets two gunicorn workers, and 1 process) draining
  `nengtan/<credit code>/batch` messages the private broker queued while they were offline.
- MQTT single: one reading per message on `nengtan/<credit code>/<meter code>`, 1 and 2 consumers.
  The MQTT paths time the consumer, never the publisher: see bench/mqtt_drain.py.

Each path writes its own time range, so only the resend sees duplicates. Not a test: run it with
`python bench/run.py` (see bench/run.py) on an otherwise idle machine.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "nengtan_bench"
BATCH_READINGS = 5000
METERS = 100
HTTP_CLIENT_THREADS = 2
# Ingest worker threads of all the consumers on this host together (each `mqtt_ingest
# --ingest-workers` is this divided by the consumers): one per core, as HTTP gets two gunicorn
# workers. Two consumers of two workers each run four writers on two cores and oversubscribe them
# (MQTT batch 0.79 against 0.92 × text COPY with one worker each, measured).
INGEST_WRITERS_PER_HOST = 2
# Consumer processes in one shared-subscription group (HTTP gets two gunicorn workers).
MQTT_CONSUMERS = 2
SERVER_START_TIMEOUT_S = 60
# A path whose stored count has not moved for this long is reported as stalled.
MQTT_STALL_TIMEOUT_S = 30
# Progress is polled this often: the measured time overshoots by at most this much. Counting the
# window scans it (~15 ms of one core for 100 000 rows), so the drain loop probes marker readings
# instead (a few index lookups: cheap enough to poll often on the machine the consumers are measured
# on) and counts exactly only once every marker is in, and every 2 s for the stall check.
POLL_INTERVAL_S = 0.1
MARKER_POLL_INTERVAL_S = 0.02
TEXT_BASELINE = "raw COPY (text, baseline)"
BINARY_BASELINE = "binary COPY"
# Each path writes its own window of this many days (≥ 200 000 readings / 100 meters = 2 000 minutes).
PATH_WINDOW_DAYS = 3
# Windows reserved before today: enough for every path of every round (see bench/run.py).
WINDOWS = 40
BENCH_CREDIT_PREFIX = "91410105BENCH"


@dataclass
class PathResult:
    path: str
    readings: int
    seconds: float
    accepted: int
    duplicates: int
    # Seconds from the path's last reading stored until the rollups covered it (no dirty range
    # left), with the real Celery worker recomputing while the path ran; None for the baseline.
    rollup_lag_s: float | None = None
    # baseline, batch, single, limit-count, limit-copy: what the path is compared with.
    kind: str = "batch"
    # Consumer (or bare subscriber) processes of an MQTT path.
    processes: int | None = None
    # Untimed facts worth keeping in results.json (the queue's fill time, the binary encoding's).
    detail: dict[str, Any] | None = None

    @property
    def per_second(self) -> float:
        return self.readings / self.seconds if self.seconds else 0.0


def wait_for_port(port: int, process: subprocess.Popen[Any], name: str) -> None:
    """Return once `process` accepts connections on `port`; fail if it exits or takes too long."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"{name} did not start") from None
            time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_env() -> dict[str, str]:
    return {
        **os.environ,
        "NENGTAN_ENV": "development",
        "DEBUG": "false",
        "DATABASE_URL": os.environ["DATABASE_URL"],
        "MQTT_URL": os.environ.get("MQTT_URL", "mqtt://127.0.0.1:1883"),
        "LOG_LEVEL": "WARNING",
        "SPOOL_DIR": str(ROOT / "var" / "bench-spool"),
    }


def timestamps(day_offset: int, count: int) -> Iterator[dt.datetime]:
    """`count` distinct minutes from a window of PATH_WINDOW_DAYS reserved for one path (recent past)."""
    start = window_start(day_offset)
    for n in range(count):
        yield start + dt.timedelta(minutes=n)


def window_start(day_offset: int) -> dt.datetime:
    return bench_epoch() + dt.timedelta(days=day_offset * PATH_WINDOW_DAYS)


def bench_epoch() -> dt.datetime:
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - dt.timedelta(days=PATH_WINDOW_DAYS * (WINDOWS + 1))


def reading_items(day_offset: int, total: int) -> list[dict[str, Any]]:
    per_meter = -(-total // METERS)
    items: list[dict[str, Any]] = []
    for ts in timestamps(day_offset, per_meter):
        stamp = ts.isoformat()
        for meter in range(METERS):
            if len(items) == total:
                return items
            items.append({"meter": f"B-{meter:03d}", "ts": stamp, "value": 1000.0 + meter + ts.minute / 10})
    return items


# --- set-up ----------------------------------------------------------------------------------


def create_database(url: str) -> None:
    import psycopg2
    from psycopg2 import sql

    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    name = url.rsplit("/", 1)[1]
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    conn.close()


def prepare(*, fresh: bool = True) -> dict[str, Any]:
    """Migrate the bench database, empty the readings, make one enterprise with meters and a token."""
    from django.core.management import call_command
    from django.db import connection
    from django_scopes import scopes_disabled

    from metering.models import EnergyType, Meter
    from metering.registry.tokens import gateway_token_create
    from portal.credit_code import make_credit_code
    from portal.models import Enterprise, Region, Role, User

    call_command("migrate", verbosity=0, interactive=False)
    if fresh:
        # The rollups and their dirty ranges go with the readings: a claim left by an interrupted run
        # would otherwise hold its meters for the claim's lease, and the queue marker with it.
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE metering_reading, monitoring_rollup, monitoring_rollupdirtyrange")
        from django.core.cache import cache

        from metering.monitoring.receivers import ROLLUP_QUEUED_KEY

        cache.delete(ROLLUP_QUEUED_KEY)
    with scopes_disabled():  # bench set-up acts for nobody: it builds its own tenant
        credit_code = make_credit_code(f"{BENCH_CREDIT_PREFIX}001X"[:17])
        enterprise, _ = Enterprise.objects.get_or_create(
            credit_code=credit_code,
            defaults={
                "name": "基准测试企业",
                "region": Region.objects.get(code="410105"),
                "kind": Enterprise.Kind.INDUSTRIAL,
                "status": Enterprise.Status.APPROVED,
            },
        )
        for meter in range(METERS):
            Meter.objects.get_or_create(
                enterprise=enterprise,
                code=f"B-{meter:03d}",
                defaults={
                    "name": f"基准表{meter}",
                    "level": 1,
                    "energy_type": EnergyType.ELECTRICITY,
                    "unit": "kWh",
                },
            )
        admin, _ = User.objects.get_or_create(
            username="bench_admin", defaults={"role": Role.ENTERPRISE_ADMIN, "enterprise": enterprise}
        )
        _token, plain = gateway_token_create(actor=admin, enterprise=enterprise, name="bench")
    return {"enterprise_id": enterprise.pk, "credit_code": credit_code, "token": plain}


def count_markers(markers: list[tuple[int, str]]) -> int:
    """How many of these (meter id, ts) readings are stored."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM metering_reading WHERE (meter_id, ts) IN "
            "(SELECT * FROM unnest(%s::bigint[], %s::timestamptz[]))",
            [[meter_id for meter_id, _ in markers], [ts for _, ts in markers]],
        )
        return int(cursor.fetchone()[0])


def count_readings_from(since: dt.datetime) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        # The poll must not compete with the path it measures: a parallel scan would take both
        # cores from the consumers at every poll.
        cursor.execute("SET max_parallel_workers_per_gather = 0")
        cursor.execute(
            "SELECT count(*) FROM metering_reading WHERE ts >= %s AND ts < %s",
            [since, since + dt.timedelta(days=PATH_WINDOW_DAYS)],
        )
        return int(cursor.fetchone()[0])


# --- raw COPY ---------------------------------------------------------------------------------


def run_raw_copy(total: int, meter_ids: dict[str, int]) -> PathResult:
    from django.db import connection, transaction

    items = reading_items(0, total)
    with connection.cursor() as cursor:  # an empty table each round, as each path gets a fresh window
        cursor.execute("DROP TABLE IF EXISTS bench_raw_reading")
        cursor.execute("CREATE TABLE bench_raw_reading (LIKE metering_reading INCLUDING ALL)")
    started = time.perf_counter()
    buffer = io.StringIO()
    now = dt.datetime.now(dt.UTC).isoformat()
    for item in items:
        buffer.write(f"{meter_ids[item['meter']]}\t{item['ts']}\t{item['value']!r}\t0\thttp\t{now}\n")
    buffer.seek(0)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.copy_expert(
            "COPY bench_raw_reading (meter_id, ts, value, quality, source, received_at) FROM STDIN", buffer
        )
    seconds = time.perf_counter() - started
    return PathResult(TEXT_BASELINE, total, seconds, total, 0, kind="baseline")


def run_binary_copy(total: int, meter_ids: dict[str, int]) -> PathResult:
    from bench.copy_binary import run_binary_copy as copy

    seconds, encode_seconds = copy(reading_items(0, total), meter_ids, "bench_raw_reading_binary")
    return PathResult(BINARY_BASELINE, total, seconds, total, 0, kind="baseline",
                      detail={"python_encode_s": round(encode_seconds, 3)})


# --- HTTP -------------------------------------------------------------------------------------


@contextmanager
def gunicorn_server(workers: int = 2) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "portal.wsgi",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--timeout",
            "120",
        ],
        cwd=ROOT,
        env=bench_env(),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_port(port, process, "gunicorn")
        yield base
    finally:
        process.terminate()
        process.wait(30)


def post_batch(url: str, token: str, body: bytes) -> dict[str, Any]:
    request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1 only: our own gunicorn
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Gateway {token}"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310 - our own local server
        return json.loads(response.read())


def run_http(total: int, setup: dict[str, Any], *, label: str, day_offset: int, base: str) -> PathResult:
    items = reading_items(day_offset, total)
    bodies = [
        json.dumps({"readings": items[i : i + BATCH_READINGS]}).encode()
        for i in range(0, len(items), BATCH_READINGS)
    ]
    url = f"{base}/api/v1/readings/"
    # Warm both workers (imports, connection, meter-code cache) outside the timing.
    for _ in range(HTTP_CLIENT_THREADS * 2):
        post_batch(url, setup["token"], json.dumps({"readings": []}).encode())
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(HTTP_CLIENT_THREADS) as pool:
        results = list(pool.map(lambda body: post_batch(url, setup["token"], body), bodies))
    ended = time.perf_counter()
    seconds = ended - started
    accepted = sum(r["accepted"] for r in results)
    duplicates = sum(r["duplicates"] for r in results)
    rejected = sum(len(r["rejected"]) for r in results)
    if rejected or accepted + duplicates != total:
        raise RuntimeError(
            f"{label}: {accepted} accepted, {duplicates} duplicates, {rejected} rejected of {total}"
        )
    return PathResult(label, total, seconds, accepted, duplicates, wait_rollups_current(ended))


# --- rollup upkeep --------------------------------------------------------------------------------


@contextmanager
def celery_worker() -> Iterator[None]:
    """The real Celery worker (`celery -A portal worker`) beside the paths, so the rollups are kept
    up while they ingest, as in production. Tasks queued by an earlier run are purged first."""
    env = bench_env()
    subprocess.run([sys.executable, "-m", "celery", "-A", "portal", "purge", "-f"], env=env, cwd=ROOT,
                   check=True, capture_output=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "portal", "worker", "--pool=solo", "--loglevel=WARNING",
         "--without-heartbeat", "--without-gossip", "--without-mingle"],
        env=env, cwd=ROOT,
    )
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_rollups_current(started: float, *, timeout_s: float = 900) -> float:
    """Seconds from `started` (perf_counter, the path's end) until no dirty rollup range is left."""
    from django.db import connection

    deadline = time.perf_counter() + timeout_s
    while True:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM monitoring_rollupdirtyrange")
            if cursor.fetchone()[0] == 0:
                return time.perf_counter() - started
        if time.perf_counter() > deadline:
            raise RuntimeError(f"rollups still behind {timeout_s:.0f} s after the path ended")
        time.sleep(POLL_INTERVAL_S)


# --- MQTT -------------------------------------------------------------------------------------


BROKER_DROP_MARK = "Outgoing messages are being dropped"


@contextmanager
def private_broker() -> Iterator[tuple[str, Path]]:
    """A Mosquitto of our own for the run (url, log file), whose queues hold a whole filled drain.

    The shared broker on 1883 keeps Mosquitto's default `max_queued_messages 1000` per client: a
    queue beyond that has the excess dropped by the broker (its log says "Outgoing messages are
    being dropped for client …"), and other engineers' traffic under nengtan/# would reach our
    subscribers too. Here (mosquitto.conf(5) of Mosquitto 2.0):

    - `max_queued_messages 0`, `max_queued_bytes 0`: no limit on what is queued per client above
      its in-flight window (a session offline while 100 000 messages are published keeps them all);
    - `max_inflight_messages 0`, `max_inflight_bytes 0`: no broker limit on unacknowledged
      messages in flight, so each subscriber's own MQTT v5 Receive Maximum is its window;
    - `memory_limit 0`: no heap limit (would drop messages and disconnect clients);
    - no `log_type debug` (it logs every PUBLISH/PUBACK: 3 lines a message, broker CPU taken from
      the drain); `subscribe` logs each SUBSCRIBE, which tells when a session exists, and
      `notice` the drops (BROKER_DROP_MARK), which void a run.
    """
    import shutil
    import tempfile

    directory = Path(tempfile.mkdtemp(prefix="nengtan-bench-mqtt-"))
    port = free_port()
    config = directory / "mosquitto.conf"
    log = directory / "mosquitto.log"
    config.write_text(
        # Started as root, Mosquitto drops to the `mosquitto` user, which cannot write our log.
        ("user root\n" if os.geteuid() == 0 else "")
        + f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        "max_queued_messages 0\nmax_queued_bytes 0\nmax_inflight_messages 0\nmax_inflight_bytes 0\n"
        "memory_limit 0\n"
        f"log_dest file {log}\n"
        + "".join(f"log_type {kind}\n" for kind in ("error", "warning", "notice", "information", "subscribe"))
    )
    process = subprocess.Popen(
        [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process, "mosquitto")
        yield f"mqtt://127.0.0.1:{port}", log
    finally:
        process.terminate()
        process.wait(30)
        shutil.rmtree(directory, ignore_errors=True)


def broker_drops(log: Path) -> int:
    """How many times the broker said it dropped messages for a client (0 on a sound run)."""
    return log.read_text(errors="replace").count(BROKER_DROP_MARK) if log.exists() else 0


def mqtt_messages(items: list[dict[str, Any]], credit_code: str, *, single: bool) -> list[tuple[str, bytes]]:
    prefix = f"nengtan/{credit_code}"
    if single:
        return [(f"{prefix}/{item['meter']}", json.dumps({"ts": item["ts"], "value": item["value"]}).encode())
                for item in items]
    return [(f"{prefix}/batch", json.dumps({"readings": items[i : i + BATCH_READINGS]}).encode())
            for i in range(0, len(items), BATCH_READINGS)]


def run_mqtt(
    total: int,
    setup: dict[str, Any],
    *,
    label: str,
    day_offset: int,
    single: bool,
    broker_url: str,
    broker_log: Path,
    consumers: int = MQTT_CONSUMERS,
) -> PathResult:
    """`consumers` real `mqtt_ingest` processes in one share group drain a queue filled while they
    were offline (see bench/mqtt_drain.py); readings/s = readings / (release → all committed)."""
    from bench import mqtt_drain

    items = reading_items(day_offset, total)
    # Each (meter, ts) once: the stored count can reach `total` only if the items are distinct.
    distinct = len({(item["meter"], item["ts"]) for item in items})
    if distinct != total:
        raise RuntimeError(f"{label}: generated items hold only {distinct} distinct (meter, ts) of {total}")
    if -(-total // METERS) > PATH_WINDOW_DAYS * 24 * 60:
        raise ValueError(f"{label}: {total} readings do not fit the path's window")
    messages = mqtt_messages(items, setup["credit_code"], single=single)
    since = next(timestamps(day_offset, 1))
    meter_ids = bench_meter_ids(setup["enterprise_id"])
    # Markers: readings that come last, probed cheaply (a few index lookups) before the exact count
    # (which scans the window) is asked: each batch message's last reading (its transaction
    # committed all of the message or none), or each meter's last single reading.
    if single:
        last_per_meter: dict[str, str] = {}
        for item in items:
            last_per_meter[item["meter"]] = item["ts"]
        markers = [(meter_ids[meter], ts) for meter, ts in last_per_meter.items()]
    else:
        markers = [(meter_ids[chunk[-1]["meter"]], chunk[-1]["ts"])
                   for chunk in (items[i : i + BATCH_READINGS] for i in range(0, len(items), BATCH_READINGS))]
    env = {**bench_env(), "MQTT_URL": broker_url}
    drain = mqtt_drain.drain_consumers(
        label=label, url=broker_url, env=env, broker_log=broker_log,
        group=f"bench-{os.getpid()}-{day_offset}-{consumers}", consumers=consumers,
        ingest_workers=max(1, INGEST_WRITERS_PER_HOST // consumers), messages=messages,
        total=total, markers_stored=lambda: count_markers(markers) == len(markers),
        markers_imply_all=not single,
        count_stored=lambda: count_readings_from(since), poll_interval_s=MARKER_POLL_INTERVAL_S,
        stall_timeout_s=MQTT_STALL_TIMEOUT_S,
    )
    accepted = drain.accepted if drain.accepted is not None else drain.stored
    lag = wait_rollups_current(drain.ended)
    # The rollup upkeep that ran after the drain (a burst's recompute is due a coalescing interval
    # after it): the Celery worker's and PostgreSQL's CPU until no dirty range was left. With the
    # drain's own figures it gives the whole cost of a reading under sustained load.
    after = mqtt_drain.cpu_used(drain.cpu_end, mqtt_drain.cpu_seconds([]))
    upkeep = {"celery": after["celery"], "postgres": after["postgres"]}
    return PathResult(label, total, drain.seconds, accepted, drain.duplicates or 0, lag,
                      kind="single" if single else "batch", processes=consumers,
                      detail={"messages": len(messages), "fill_s": round(drain.fill_seconds, 2),
                              "cpu_s": drain.cpu_s, "upkeep_after_cpu_s": upkeep})


def run_bare_limit(
    items: list[dict[str, Any]],
    setup: dict[str, Any],
    *,
    mode: str,
    processes: int,
    broker_url: str,
    round_number: int,
) -> PathResult:
    """The physical limit: bench/bare_subscriber.py (`processes` in one share group) drains the
    single-reading messages of `items`, counting only (mode count) or also COPYing (mode copy)."""
    from django.db import connection

    from bench import mqtt_drain

    messages = mqtt_messages(items, setup["credit_code"], single=True)
    table = "bench_bare_reading"
    with connection.cursor() as cursor:  # empty, with the readings table's key and indexes
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(f"CREATE TABLE {table} (LIKE metering_reading INCLUDING ALL)")

    def count_table() -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {table}")
            return int(cursor.fetchone()[0])

    what = "receive" if mode == "count" else "receive + JSON + COPY"
    label = f"bare paho {what}, {processes} process{'es' if processes > 1 else ''}"
    drain = mqtt_drain.drain_bare(
        label=label, url=broker_url, group=f"bare-{os.getpid()}-{round_number}-{mode}-{processes}",
        processes=processes, mode=mode, messages=messages, dsn=os.environ["DATABASE_URL"], table=table,
        meter_ids=bench_meter_ids(setup["enterprise_id"]), count_table=count_table,
    )
    return PathResult(label, len(items), drain.seconds, drain.stored or drain.received, 0,
                      kind=f"limit-{mode}", processes=processes,
                      detail={"messages": len(messages), "fill_s": round(drain.fill_seconds, 2)})


def bench_meter_ids(enterprise_id: int) -> dict[str, int]:
    from django_scopes import scopes_disabled

    from metering.models import Meter

    with scopes_disabled():  # the bench's own tenant
        return dict(Meter.objects.filter(enterprise_id=enterprise_id).values_list("code", "id"))


def summarize(rounds: list[dict[str, PathResult]]) -> dict[str, list[dict[str, Any]]]:
    """Per path, over the rounds: median readings/s and the median, lowest and highest ratio to the
    references of the same round: both COPY baselines for every path; for a single-reading path
    also the bare subscriber's limits with as many processes as it has consumers."""
    import statistics

    def stats(values: list[float]) -> dict[str, float]:
        return {"median": round(statistics.median(values), 3), "lowest": round(min(values), 3),
                "highest": round(max(values), 3)}

    def references(result: PathResult, round_: dict[str, PathResult]) -> dict[str, PathResult]:
        refs = {"raw_copy": round_[TEXT_BASELINE], "binary_copy": round_[BINARY_BASELINE]}
        if result.kind == "single":
            for mode in ("count", "copy"):
                limit = next((r for r in round_.values()
                              if r.kind == f"limit-{mode}" and r.processes == result.processes), None)
                if limit is not None:
                    refs[f"limit_{mode}"] = limit
        return refs

    summary: dict[str, list[dict[str, Any]]] = {"baselines": [], "limits": [], "paths": []}
    for label, first in rounds[0].items():
        per_round = [round_[label] for round_ in rounds]
        entry: dict[str, Any] = {
            "path": label,
            "kind": first.kind,
            "processes": first.processes,
            "readings": first.readings,
            "rounds": len(rounds),
            "readings_per_s_median": round(statistics.median(r.per_second for r in per_round)),
        }
        per_round_out = [{**asdict(r), "readings_per_s": round(r.per_second)} for r in per_round]
        if first.kind in ("batch", "single"):
            ratios: dict[str, list[float]] = defaultdict(list)
            for number, (result, round_) in enumerate(zip(per_round, rounds, strict=True)):
                for name, ref in references(result, round_).items():
                    ratio = result.per_second / ref.per_second
                    ratios[name].append(ratio)
                    per_round_out[number][f"ratio_to_{name}"] = round(ratio, 3)
            for name, values in ratios.items():
                for key, value in stats(values).items():
                    entry[f"ratio_to_{name}_{key}"] = value
            entry["rollup_lag_s_median"] = _median_lag(iter(per_round))
            entry["rollup_lag_s_highest"] = _max_lag(iter(per_round))
            if cpu := _median_cpu_us_per_reading(per_round):
                entry["cpu_us_per_reading_median"] = cpu
        entry["per_round"] = per_round_out
        group = {"baseline": "baselines", "limit-count": "limits",
                 "limit-copy": "limits"}.get(first.kind, "paths")
        summary[group].append(entry)
    return summary


def _median_cpu_us_per_reading(results: list[PathResult]) -> dict[str, float]:
    """Per kind of process (consumers, postgres, mosquitto, celery), the median over the rounds of
    the CPU microseconds per reading a drain cost (MQTT paths; empty for the others)."""
    import statistics

    found: dict[str, float] = {}
    for key, prefix in (("cpu_s", ""), ("upkeep_after_cpu_s", "upkeep_after_")):
        rounds: list[dict[str, float]] = [(r.detail or {}).get(key) or {} for r in results]
        if not all(rounds):
            continue
        for kind in rounds[0]:
            found[prefix + kind] = round(statistics.median(
                cpu[kind] / r.readings * 1e6 for cpu, r in zip(rounds, results, strict=True)), 1)
    return found


def _median_lag(results: Iterator[PathResult]) -> float | None:
    import statistics

    lags = [result.rollup_lag_s for result in results if result.rollup_lag_s is not None]
    return round(statistics.median(lags), 1) if lags else None


def _max_lag(results: Iterator[PathResult]) -> float | None:
    lags = [result.rollup_lag_s for result in results if result.rollup_lag_s is not None]
    return round(max(lags), 1) if lags else None
