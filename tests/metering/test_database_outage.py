"""An outage answers as an outage, and the portal comes back by itself.

A private PostgreSQL cluster is stopped and started again under real processes: two gunicorn
servers (one asked during the outage, one that holds a persistent connection from before it and
is asked only afterwards) and `manage.py mqtt_ingest` on a private Mosquitto. While the database
is down every API answer is 503 with Retry-After in the one error shape, for gateway tokens,
user tokens and session cookies alike; the first request after it returns succeeds; and every
MQTT reading published meanwhile is stored exactly once, within seconds of the return.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from tests.metering.mosquitto_private import free_port, private_mosquitto, publish_all
from tests.metering.private_postgres import PrivatePostgres, private_postgres

pytestmark = pytest.mark.services

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 120.0
REQUEST_TIMEOUT_S = 30.0
# The issue asks the spool to start draining "within seconds" of the database's return; before
# the fix the last reading arrived on the consumer's next 30-second drain tick.
DRAIN_AFTER_RETURN_DEADLINE_S = 10.0
MQTT_BEFORE, MQTT_DURING = 10, 50


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivatePostgres]:
    # Not pytest's tmp_path: its parent is private to root and the postgres user must reach the data.
    directory = Path(tempfile.mkdtemp(prefix="nengtan-outage-"))
    os.chmod(directory, 0o755)  # noqa: S103 - the postgres user must enter it
    try:
        with private_postgres(directory / "cluster") as pg:
            yield pg
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def portal_env(database_url: str, **extra: str) -> dict[str, str]:
    # DEBUG off as in production; no Redis (tasks in-process, local cache), no shared broker.
    return {**os.environ, "DATABASE_URL": database_url, "NENGTAN_ENV": "test", "DEBUG": "false",
            "REDIS_URL": "", "MQTT_URL": "", **extra}


class Server:
    """`gunicorn portal.wsgi` with one sync worker: one process, one persistent connection."""

    def __init__(self, database_url: str, log: Path) -> None:
        self.port = free_port()
        self.log = log
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "portal.wsgi:application", f"--bind=127.0.0.1:{self.port}",
             "--workers=1", "--timeout=60", "--graceful-timeout=5"],
            cwd=REPO, env=portal_env(database_url), stdout=log.open("ab"), stderr=subprocess.STDOUT,
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"gunicorn exited with {self.process.returncode}:\n{self.log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        pytest.fail(f"gunicorn did not listen within {START_TIMEOUT_S} s:\n{self.log.read_text()}")

    def request(self, method: str, path: str, *, authorization: str | None = None,
                cookie: str | None = None, body: object = None) -> tuple[int, dict[str, str], dict]:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if authorization:
            headers["Authorization"] = authorization
        if cookie:
            headers["Cookie"] = cookie
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, headers=headers,
                                         method=method)
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:  # noqa: S310
                return response.status, dict(response.headers), json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            text = error.read()
            try:
                payload = json.loads(text)
            except ValueError:
                payload = {"not_json": text[:300].decode(errors="replace")}
            return error.code, dict(error.headers), payload

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def readings_body(meter: str, minutes: range) -> dict:
    start = dt.datetime(2025, 7, 1, tzinfo=dt.UTC)
    return {"readings": [{"meter": meter, "ts": (start + dt.timedelta(minutes=m)).isoformat(), "value": m}
                         for m in minutes]}


def mqtt_messages(credit_code: str, minutes: range) -> list[tuple[str, bytes]]:
    start = dt.datetime(2025, 7, 2, tzinfo=dt.UTC)
    return [(f"nengtan/{credit_code}/MQTT-1",
             json.dumps({"ts": (start + dt.timedelta(minutes=m)).isoformat(), "value": m}).encode())
            for m in minutes]


def stored(cluster: PrivatePostgres, meter: str) -> tuple[int, int, float]:
    with psycopg2.connect(host="127.0.0.1", port=cluster.port, user="postgres", dbname="outage_api") as conn:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), count(DISTINCT r.ts), coalesce(sum(r.value), 0) FROM metering_reading r "
                "JOIN metering_meter m ON m.id = r.meter_id WHERE m.code = %s", [meter])
            count, distinct, total = cursor.fetchone()
    conn.close()
    return count, distinct, total


def spooled_items(spool_file: Path) -> int:
    if not spool_file.exists():
        return 0
    with sqlite3.connect(spool_file, timeout=30) as spool:
        rows = spool.execute("SELECT payload FROM spooled_batch").fetchall()
    return sum(len(json.loads(payload)["items"]) for (payload,) in rows)


def wait_for(predicate, what: str, timeout_s: float, logs: list[Path]) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}:\n" + "\n".join(log.read_text()[-4000:] for log in logs))


def assert_outage_answer(answer: tuple[int, dict[str, str], dict]) -> None:
    status, headers, body = answer
    assert status == 503, (status, body)
    assert int(headers["Retry-After"]) > 0
    assert set(body) == {"error"}, body
    assert body["error"]["status"] == 503 and body["error"]["code"] and body["error"]["message"], body


def test_outage_answers_503_then_the_first_request_succeeds_and_mqtt_readings_arrive_once(  # type: ignore[no-untyped-def]
    cluster, tmp_path
) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres", "-c",
                    "CREATE DATABASE outage_api"], check=True, capture_output=True)
    database_url = cluster.url("outage_api")
    setup = subprocess.run([sys.executable, "-m", "tests.metering.outage_setup"], cwd=REPO, check=True,
                           env=portal_env(database_url), capture_output=True, text=True,
                           timeout=START_TIMEOUT_S)
    world = json.loads(setup.stdout.strip().splitlines()[-1])
    gateway = f"Gateway {world['gateway_token']}"
    user = f"Token {world['user_token']}"
    spool_dir = tmp_path / "spool"
    broker_dir = tmp_path / "broker"
    broker_dir.mkdir()
    logs = [tmp_path / "asked.log", tmp_path / "fresh.log", tmp_path / "consumer.log"]

    with private_mosquitto(broker_dir, allow_anonymous=True) as broker:
        asked = Server(database_url, logs[0])  # asked during the outage
        fresh = Server(database_url, logs[1])  # connected before the outage, asked only after it
        consumer = subprocess.Popen(
            [sys.executable, "manage.py", "mqtt_ingest", "--group", "outage-test", "--client-id", "outage-1",
             "--batch-window-ms", "20"],
            cwd=REPO, env=portal_env(database_url, MQTT_URL=broker.url(), SPOOL_DIR=str(spool_dir)),
            stdout=logs[2].open("ab"), stderr=subprocess.STDOUT,
        )
        try:
            asked.wait_ready()
            fresh.wait_ready()
            # Up: both token kinds ingest, and each server now holds a persistent connection.
            status, _, body = asked.request("POST", "/api/v1/readings/", authorization=gateway,
                                            body=readings_body("HTTP-1", range(0, 5)))
            assert (status, body["accepted"]) == (200, 5), body
            status, _, body = fresh.request("POST", "/api/v1/readings/", authorization=user,
                                            body=readings_body("HTTP-1", range(5, 10)))
            assert (status, body["accepted"]) == (200, 5), body
            publish_all(broker.url(), "outage-gw", mqtt_messages(world["credit_code"], range(MQTT_BEFORE)))
            wait_for(lambda: stored(cluster, "MQTT-1")[0] == MQTT_BEFORE, "the first MQTT readings",
                     START_TIMEOUT_S, logs)

            cluster.stop()
            # Gateway token (looked up by the ingest view), user token (looked up by the reach
            # middleware before any view), session cookie (loaded by the session middleware).
            assert_outage_answer(asked.request("POST", "/api/v1/readings/", authorization=gateway,
                                               body=readings_body("HTTP-1", range(10, 15))))
            assert_outage_answer(asked.request("POST", "/api/v1/readings/", authorization=user,
                                               body=readings_body("HTTP-1", range(10, 15))))
            assert_outage_answer(asked.request("GET", "/api/v1/enterprises/", authorization=user))
            assert_outage_answer(asked.request("GET", "/api/v1/meters/", cookie="sessionid=" + "x" * 32))
            publish_all(broker.url(), "outage-gw",
                        mqtt_messages(world["credit_code"], range(MQTT_BEFORE, MQTT_BEFORE + MQTT_DURING)))
            wait_for(lambda: spooled_items(spool_dir / "mqtt.sqlite3") == MQTT_DURING,
                     "the consumer to spool the readings published during the outage", START_TIMEOUT_S, logs)

            cluster.start()
            returned_at = time.monotonic()
            status, _, body = fresh.request("POST", "/api/v1/readings/", authorization=gateway,
                                            body=readings_body("HTTP-1", range(10, 15)))
            assert (status, body.get("accepted")) == (200, 5), (status, body)
            status, _, body = asked.request("POST", "/api/v1/readings/", authorization=user,
                                            body=readings_body("HTTP-1", range(15, 20)))
            assert (status, body.get("accepted")) == (200, 5), (status, body)
            wait_for(lambda: stored(cluster, "MQTT-1")[0] == MQTT_BEFORE + MQTT_DURING,
                     "the spooled MQTT readings", START_TIMEOUT_S, logs)
            drained_after_s = time.monotonic() - returned_at
            assert drained_after_s < DRAIN_AFTER_RETURN_DEADLINE_S, drained_after_s
            time.sleep(1.0)  # anything stored twice would land now
        finally:
            if consumer.poll() is None:
                consumer.send_signal(signal.SIGTERM)
                try:
                    consumer.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    consumer.kill()
                    consumer.wait()
            asked.stop()
            fresh.stop()

    total = MQTT_BEFORE + MQTT_DURING
    assert stored(cluster, "MQTT-1") == (total, total, sum(range(total)))
    assert stored(cluster, "HTTP-1") == (20, 20, sum(range(20)))
    assert spooled_items(spool_dir / "mqtt.sqlite3") == 0
