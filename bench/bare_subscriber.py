"""The physical limits the MQTT consumer is measured against: a bare paho-mqtt 2.x subscriber.

Not product code, and deliberately the least a correct subscriber must do: a persistent session
(MQTT 3.1.1, see `main`) in a shared-subscription group like `mqtt_ingest`'s, QoS 1, draining a
queue the broker filled while the session was offline. Modes:

- ``count``: receive and count (paho acknowledges each message as its callback returns).
- ``copy``: also decode each message's JSON and COPY its reading (text format, psycopg2
  ``copy_expert``) into a plain table in batches of ``--batch`` messages (or whatever arrived within
  ``--window-ms``), committing before acknowledging the batch, as the consumer's guarantee requires.
  One worker thread writes while paho's thread keeps receiving, the same overlap the consumer uses.
- ``subscribe``: connect, subscribe, disconnect: creates the session before the queue is filled.

Run by bench/mqtt_drain.py as a subprocess: it prints ``ready`` once imported (and connected to the
database), waits for a line on stdin, then connects; when no message has come for ``--idle-s`` it
disconnects and prints one JSON line with its counts and CLOCK_MONOTONIC times (comparable
across the processes of one host), so start-up never counts and the end is the last commit.
"""

from __future__ import annotations

import argparse
import io
import json
import queue
import sys
import threading
import time
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt

NO_MESSAGE_TIMEOUT_S = 30.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--mode", choices=("count", "copy", "subscribe"), required=True)
    parser.add_argument("--dsn", help="copy mode: the database")
    parser.add_argument("--table", default="bench_bare_reading")
    parser.add_argument("--meter-ids", default="{}", help="copy mode: JSON {meter code: id}")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--window-ms", type=int, default=100)
    parser.add_argument("--idle-s", type=float, default=1.0)
    args = parser.parse_args(argv)

    url = urlparse(args.url)
    writer = CopyWriter(args.dsn, args.table, json.loads(args.meter_ids)) if args.mode == "copy" else None
    state = Drain(args, writer)
    # MQTT 3.1.1, not v5: a v5 PUBLISH makes stock paho build a Properties object per message
    # (~8.5 µs here, a third of a bare receiver's time), which `mqtt_ingest` avoids (its shared
    # Properties tables); a 3.1.1 session carries no properties at all, so this is the least paho
    # can do per message: the ceiling, not a handicapped rival. The session persists (clean session
    # off) and joins the same share group; the broker's unlimited in-flight window stands in for
    # v5's Receive Maximum.
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=args.client_id, protocol=mqtt.MQTTv311,
                         clean_session=False, manual_ack=args.mode == "copy")
    if url.username:
        client.username_pw_set(url.username, url.password)
    client.on_connect = state.on_connect
    client.on_subscribe = state.on_subscribe
    client.on_message = state.on_message
    state.client = client
    print("ready", flush=True)
    sys.stdin.readline()
    state.go_at = time.monotonic()
    client.connect(url.hostname or "127.0.0.1", url.port or 1883)
    client.loop_start()
    try:
        state.wait_done()
    finally:
        client.disconnect()
        client.loop_stop()
        if writer is not None:
            writer.close()
    print(json.dumps(state.report()), flush=True)
    return 0


class CopyWriter:
    """Decode, COPY, commit: one batch at a time, on the worker thread."""

    def __init__(self, dsn: str | None, table: str, meter_ids: dict[str, int]) -> None:
        import psycopg2

        self.conn = psycopg2.connect(dsn)
        self.table = table
        self.meter_ids = meter_ids
        self.stored = 0

    def write(self, messages: list[mqtt.MQTTMessage]) -> None:
        buffer = io.StringIO()
        received_at = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        for message in messages:
            meter_code = message.topic.rsplit("/", 1)[1]
            reading = json.loads(message.payload)
            buffer.write(f"{self.meter_ids[meter_code]}\t{reading['ts']}\t{float(reading['value'])!r}\t0\t"
                         f"mqtt\t{received_at}\n")
        buffer.seek(0)
        with self.conn.cursor() as cursor:
            cursor.copy_expert(
                f"COPY {self.table} (meter_id, ts, value, quality, source, received_at) FROM STDIN", buffer
            )
        self.conn.commit()
        self.stored += len(messages)

    def close(self) -> None:
        self.conn.close()


class Drain:
    def __init__(self, args: argparse.Namespace, writer: CopyWriter | None) -> None:
        self.args = args
        self.writer = writer
        self.client: mqtt.Client | None = None
        self.go_at = self.connected_at = self.first_at = self.last_at = 0.0
        self.last_receipt = 0.0
        self.received = self.redelivered = 0
        self.subscribed = threading.Event()
        self.lock = threading.Lock()
        self.pending: list[mqtt.MQTTMessage] = []
        self.pending_since = 0.0
        # One batch waiting while one is written: paho's thread blocks beyond that (back-pressure).
        self.work: queue.Queue[list[mqtt.MQTTMessage] | None] = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self.worker = threading.Thread(target=self._worker, daemon=True) if writer else None
        if self.worker:
            self.worker.start()

    # paho's thread
    def on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any,
                   properties: Any) -> None:
        if reason_code.is_failure:
            self.error = RuntimeError(f"connect refused: {reason_code}")
            return
        self.connected_at = time.monotonic()
        client.subscribe(f"$share/{self.args.group}/nengtan/#", qos=1)

    def on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reason_codes: Any,
                     properties: Any) -> None:
        if any(code.is_failure for code in reason_codes):
            self.error = RuntimeError(f"subscription refused: {reason_codes}")
        self.subscribed.set()

    def on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        if not self.received:
            self.first_at = now
        self.received += 1
        self.redelivered += bool(message.dup)
        self.last_receipt = now
        if self.writer is None:
            self.last_at = now
            return
        batch = None
        with self.lock:
            if not self.pending:
                self.pending_since = now
            self.pending.append(message)
            if len(self.pending) >= self.args.batch:
                batch, self.pending = self.pending, []
        if batch:
            self.work.put(batch)

    def _worker(self) -> None:
        assert self.writer is not None
        while (batch := self.work.get()) is not None:
            try:
                self.writer.write(batch)
                assert self.client is not None
                for message in batch:
                    self.client.ack(message.mid, message.qos)
                self.last_at = time.monotonic()
            except BaseException as exc:  # reported by the main thread; the drain is then void
                self.error = exc
            finally:
                self.work.task_done()

    # main thread
    def wait_done(self) -> None:
        if self.args.mode == "subscribe":
            if not self.subscribed.wait(NO_MESSAGE_TIMEOUT_S):
                raise RuntimeError("no SUBACK")
            return
        while self.error is None:
            time.sleep(0.01)
            now = time.monotonic()
            batch = None
            with self.lock:
                if self.pending and now - self.pending_since >= self.args.window_ms / 1000:
                    batch, self.pending = self.pending, []
            if batch:
                self.work.put(batch)
                continue
            if self.received:
                if now - self.last_receipt > self.args.idle_s and not self.pending:
                    break
            elif now - self.go_at > NO_MESSAGE_TIMEOUT_S:
                break
        if self.worker:
            self.work.join()
            self.work.put(None)
            self.worker.join()
        if self.error is not None:
            raise RuntimeError("the bare subscriber failed") from self.error

    def report(self) -> dict[str, Any]:
        return {
            "client_id": self.args.client_id,
            "mode": self.args.mode,
            "received": self.received,
            "redelivered": self.redelivered,
            "stored": self.writer.stored if self.writer else None,
            "go_at": self.go_at,
            "connected_at": self.connected_at,
            "first_at": self.first_at,
            "last_at": self.last_at,
        }


if __name__ == "__main__":
    raise SystemExit(main())
