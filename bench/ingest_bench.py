"""Ingest throughput of each path, against a raw PostgreSQL COPY of the same rows in the same run.

Paths measured (all end to end, through the real code):

- raw COPY: psycopg2 `copy_expert` (text format, from memory) into `bench_raw_reading`, a plain
  copy of the readings table with its primary key, no conflict handling. The baseline.
- HTTP batch: `gunicorn portal.wsgi -w 2` on a free port, POST /api/v1/readings/ with a gateway
  token, batches of `BATCH_READINGS`, two client threads; readings/s = accepted / wall time.
- HTTP resend: the same batches again (every reading a duplicate): the de-duplication cost.
- MQTT batch: `manage.py mqtt_ingest` (the real consumer: MQTT_CONSUMERS processes in their own
  shared-subscription group, as HTTP gets two gunicorn workers) on the
  private broker started for the run; `nengtan/<credit code>/batch` messages; wall time from the first publish
  until every reading is in the table.
- MQTT single: one reading per message on `nengtan/<credit code>/<meter code>`.

Each path writes its own time range, so only the resend sees duplicates. Not a test: run it with
`python -m bench.run` (see bench/run.py) on an otherwise idle machine.
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
# Consumer processes in one shared-subscription group (HTTP gets two gunicorn workers).
MQTT_CONSUMERS = 2
SERVER_START_TIMEOUT_S = 60
MQTT_DRAIN_TIMEOUT_S = 600
# Untimed warm-up messages before each MQTT path: a few for each consumer of the shared group.
WARM_UP_MESSAGES = 4 * MQTT_CONSUMERS
# A path whose stored count has not moved for this long is reported as stalled.
MQTT_STALL_TIMEOUT_S = 30
# Progress is polled this often: the measured time overshoots by at most this much. Counting the
# window scans it (~15 ms of one core, serial), so that poll stays slow, not to load the machine the
# consumers are measured on; the batch path instead looks up one marker reading per message (the
# message's last reading: its transaction committed all of the message or none), which is a few
# index probes, and can be polled 10× as often.
POLL_INTERVAL_S = 0.1
MARKER_POLL_INTERVAL_S = 0.01
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
    return PathResult("raw COPY (baseline)", total, seconds, total, 0)


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
    """A Mosquitto of our own for the run (url, log file), with a queue deep enough for a burst.

    The shared broker on 1883 keeps Mosquitto's default `max_queued_messages 1000` per client: a
    publisher that outruns the consumer by more than that has the excess dropped by the broker
    (its log says "Outgoing messages are being dropped for client …"), and other engineers'
    traffic under nengtan/# would reach our consumer too. An earlier run.py never entered this
    context and measured on 1883: the "MQTT single" path then lost ~3 000 of 20 000 messages in
    the broker and looked like a consumer stall.
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
        + f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 1000000\n"
        f"max_inflight_messages 1000\npersistence false\nlog_dest file {log}\nlog_type all\n"
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


@contextmanager
def mqtt_consumer(group: str, broker_log: Path | None = None) -> Iterator[None]:
    """MQTT_CONSUMERS `mqtt_ingest` processes in one shared-subscription group: the deployed way to
    scale the consumer, and the same two processes the HTTP path gets from `gunicorn -w 2`."""
    # BENCH_PROFILE_DIR=<dir>: run the consumers under cProfile (they exit cleanly on SIGTERM, so
    # the profiles are written) and keep one profile per consumer and path.
    profile_dir = os.environ.get("BENCH_PROFILE_DIR")
    client_ids = [f"{group}-{n}" for n in range(MQTT_CONSUMERS)]
    processes = []
    for client_id in client_ids:
        profiler = ["-m", "cProfile", "-o", f"{profile_dir}/{client_id}.prof"] if profile_dir else []
        processes.append(
            subprocess.Popen(
                [sys.executable, *profiler, "manage.py", "mqtt_ingest", "--group", group,
                 "--client-id", client_id, "--session-expiry-s", "0"],
                cwd=ROOT,
                env=bench_env(),
            )
        )
    try:
        # Publishing before the shared subscriptions exist would lose the messages: wait for the
        # broker's SUBACK to every consumer (outside the timed window).
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        for client_id in client_ids:
            subscribed = f"Sending SUBACK to {client_id}"
            while broker_log is not None and subscribed not in broker_log.read_text(errors="replace"):
                if any(p.poll() is not None for p in processes) or time.monotonic() > deadline:
                    raise RuntimeError("mqtt_ingest did not subscribe")
                time.sleep(0.05)
        if broker_log is None:
            time.sleep(3.0)
        if any(p.poll() is not None for p in processes):
            raise RuntimeError("mqtt_ingest exited at start")
        yield
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(60)


def publish_all(messages: list[tuple[str, bytes]]) -> None:
    from urllib.parse import urlparse

    import paho.mqtt.client as mqtt

    url = urlparse(bench_env()["MQTT_URL"])
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{os.getpid()}", protocol=mqtt.MQTTv5
    )
    if url.username:
        client.username_pw_set(url.username, url.password)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(url.hostname or "127.0.0.1", url.port or 1883)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout=MQTT_DRAIN_TIMEOUT_S)
    finally:
        client.disconnect()
        client.loop_stop()


def broker_drops(log: Path) -> int:
    """How many times the broker said it dropped messages for a client (0 on a sound run)."""
    return log.read_text(errors="replace").count(BROKER_DROP_MARK) if log.exists() else 0


def run_mqtt(
    total: int,
    setup: dict[str, Any],
    *,
    label: str,
    day_offset: int,
    single: bool,
    broker_log: Path | None = None,
) -> PathResult:
    items = reading_items(day_offset, total)
    # Each (meter, ts) once: the stored count can reach `total` only if the items are distinct.
    distinct = len({(item["meter"], item["ts"]) for item in items})
    if distinct != total:
        raise RuntimeError(f"{label}: generated items hold only {distinct} distinct (meter, ts) of {total}")
    prefix = f"nengtan/{setup['credit_code']}"
    if single:
        messages = [
            (f"{prefix}/{item['meter']}", json.dumps({"ts": item["ts"], "value": item["value"]}).encode())
            for item in items
        ]
    else:
        messages = [
            (f"{prefix}/batch", json.dumps({"readings": items[i : i + BATCH_READINGS]}).encode())
            for i in range(0, len(items), BATCH_READINGS)
        ]
    if -(-total // METERS) > (PATH_WINDOW_DAYS - 1) * 24 * 60:
        raise ValueError(f"{label}: {total} readings do not fit the window before its warm-up day")
    since = next(timestamps(day_offset, 1))
    if single:
        # Single messages commit in batches of any mix: only the stored count tells.
        progress, target, interval = (lambda: count_readings_from(since) - warmed), total, POLL_INTERVAL_S
    else:
        meter_ids = bench_meter_ids(setup["enterprise_id"])
        markers = [
            (meter_ids[chunk[-1]["meter"]], chunk[-1]["ts"])
            for chunk in (items[i : i + BATCH_READINGS] for i in range(0, len(items), BATCH_READINGS))
        ]
        progress, target, interval = (lambda: count_markers(markers)), len(markers), MARKER_POLL_INTERVAL_S
    group = f"bench-{os.getpid()}-{day_offset}"
    with mqtt_consumer(group, broker_log):
        warmed = warm_up_consumers(prefix, day_offset, since)
        started = time.perf_counter()
        started_monotonic = time.monotonic()
        publish_all(messages)
        print(
            f"{label}: published {len(messages)} messages in {time.perf_counter() - started:.2f} s",
            file=sys.stderr,
        )
        last_progress, last_change = 0, time.monotonic()
        while (done := progress()) < target:
            if done != last_progress:
                last_progress, last_change = done, time.monotonic()
            elif time.monotonic() - last_change > MQTT_STALL_TIMEOUT_S:
                # Reported, not hidden: the table shows how many readings arrived and that the path stalled.
                stored = count_readings_from(since) - warmed
                print(f"{label}: STALLED at {stored} of {total} readings", file=sys.stderr)
                seconds = last_change - started_monotonic
                return PathResult(f"{label} (STALLED: {stored}/{total})", stored, seconds, stored, 0)
            time.sleep(interval)
        ended = time.perf_counter()
        seconds = ended - started
    # Untimed: the markers stand for whole messages; the table must hold every reading once.
    stored = count_readings_from(since) - warmed
    if stored != total:
        raise RuntimeError(f"{label}: {stored} readings stored of {total}")
    return PathResult(label, total, seconds, stored, 0, wait_rollups_current(ended))


def bench_meter_ids(enterprise_id: int) -> dict[str, int]:
    from django_scopes import scopes_disabled

    from metering.models import Meter

    with scopes_disabled():  # the bench's own tenant
        return dict(Meter.objects.filter(enterprise_id=enterprise_id).values_list("code", "id"))


def warm_up_consumers(prefix: str, day_offset: int, since: dt.datetime) -> int:
    """Untimed: a few small batches reach every consumer (imports, connection, meter-code cache),
    as the HTTP path warms its workers. They use the window's last day, which the timed readings
    never reach, and count as `warmed` in the window. Returns that count once it is stored."""
    last_day = window_start(day_offset) + dt.timedelta(days=PATH_WINDOW_DAYS - 1)
    stamps = [last_day + dt.timedelta(minutes=n) for n in range(WARM_UP_MESSAGES)]
    messages = [
        (f"{prefix}/batch", json.dumps({"readings": [
            {"meter": f"B-{meter:03d}", "ts": ts.isoformat(), "value": 1.0} for meter in range(METERS)
        ]}).encode())
        for ts in stamps
    ]
    publish_all(messages)
    warmed = WARM_UP_MESSAGES * METERS
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while count_readings_from(since) < warmed:
        if time.monotonic() > deadline:
            raise RuntimeError("the MQTT consumers did not store the warm-up readings")
        time.sleep(POLL_INTERVAL_S)
    return warmed


def summarize(rounds: list[list[PathResult]]) -> list[dict[str, Any]]:
    """Per path, over the rounds: median readings/s and the median, lowest and highest ratio to the
    raw COPY of the same round (each round's first result)."""
    import statistics

    summary = []
    for position, first in enumerate(rounds[0]):
        per_round = [(round_[position], round_[0]) for round_ in rounds]
        ratios = [result.per_second / raw.per_second for result, raw in per_round]
        summary.append(
            {
                "path": first.path,
                "readings": first.readings,
                "rounds": len(rounds),
                "readings_per_s_median": round(statistics.median(r.per_second for r, _ in per_round)),
                "ratio_to_raw_copy_median": round(statistics.median(ratios), 3),
                "ratio_to_raw_copy_lowest": round(min(ratios), 3),
                "ratio_to_raw_copy_highest": round(max(ratios), 3),
                "rollup_lag_s_median": _median_lag(result for result, _ in per_round),
                "rollup_lag_s_highest": _max_lag(result for result, _ in per_round),
                "per_round": [
                    {**asdict(result), "readings_per_s": round(result.per_second),
                     "ratio_to_raw_copy": round(ratio, 3)}
                    for (result, _), ratio in zip(per_round, ratios, strict=True)
                ],
            }
        )
    return summary


def _median_lag(results: Iterator[PathResult]) -> float | None:
    import statistics

    lags = [result.rollup_lag_s for result in results if result.rollup_lag_s is not None]
    return round(statistics.median(lags), 1) if lags else None


def _max_lag(results: Iterator[PathResult]) -> float | None:
    lags = [result.rollup_lag_s for result in results if result.rollup_lag_s is not None]
    return round(max(lags), 1) if lags else None
