"""MQTT paths measured on the consumer: fill the broker first, then time the drain.

For every MQTT measurement (the real `mqtt_ingest` consumers, or the bare paho subscriber of
bench/bare_subscriber.py that gives the physical limits):

1. Sessions. The subscribers connect once with fresh client ids in a fresh share group
   (`$share/<group>/nengtan/#`, QoS 1, clean start off, a session expiry of an hour), so their
   persistent sessions and shared subscriptions exist at the private broker; then they stop
   (SIGTERM; the consumer commits and acknowledges what it has, here nothing, and disconnects).
2. Fill. With every session offline, the publisher loads the queue: `mosquitto_pub -l` (one
   process per topic, all at once, QoS 1) or, without it, paho. Mosquitto queues a
   shared-subscription message for an offline persistent member of the group, round robin over
   the members (checked: 120 000 messages to two offline sessions queued 60 000 each), and the
   private broker's queue limits are off (see ingest_bench.private_broker).
3. Drain. The subscribers are started again, each held at a gate after its imports (Django's
   take seconds on a loaded host, and differently for each process); when all are ready they
   are released at once. The clock starts when the first of them connects to the broker (a
   consumer first opens its database connections and task queue, `MqttConsumer.start`, and the
   gate prints the instant it connects; the bare subscriber connects at once), as the HTTP path's
   workers are warm before its clock starts. It stops when every reading is committed: for
   the consumer, when the table holds them all (a cheap probe of marker readings first, then an
   exact count; the end is late by at most one poll interval (MARKER_POLL_INTERVAL_S, 20 ms),
   plus for single readings one count of the window, ~15 ms for 100 000 rows); for the bare
   subscriber, at the last commit (copy) or receipt (count) it reports itself. So the time is
   connect + session resumption + the whole drain, and nothing of the publisher or of start-up.
4. The drained sessions are ended at the broker (forget_sessions), so later fills queue nothing
   for them.

Every drain is checked: nothing lost (each reading stored, each message received), nothing
duplicated (the bare subscribers together receive exactly what was published; the consumers'
"mqtt_ingest stopped" lines add up to the messages published, with no duplicate reading).
A failed check raises DeliveryError and makes the run fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
SESSION_EXPIRY_S = 3600
GATE_TIMEOUT_S = 120
# mosquitto_pub processes publishing at once (one per topic): all 100 meters' topics, so the
# queue interleaves the meters as gateways publishing side by side would (fewer at a time would
# queue the topics in blocks); 100 small C clients fill 100 000 messages in ~3 s here.
FILL_PARALLEL = 100
STOP_TIMEOUT_S = 120
# Printed by bench/consumer_gate.py when a consumer, ready, connects to the broker.
CONNECTING_LINE = re.compile(r"^connecting ([0-9.]+)$", re.MULTILINE)
STATS_LINE = re.compile(
    r"mqtt_ingest stopped: (?P<messages>\d+) messages, (?P<accepted>\d+) readings accepted, "
    r"(?P<duplicates>\d+) duplicates, (?P<rejected>\d+) rejected"
)


class DeliveryError(RuntimeError):
    """A message or reading was lost or duplicated: the run's figures are void."""


@dataclass
class Gated:
    """A subprocess that prints `ready` after its imports and waits for a line on stdin."""

    name: str
    process: subprocess.Popen[bytes]
    out_path: Path
    out_file: IO[bytes]

    def output(self) -> str:
        return self.out_path.read_text(errors="replace")


class Workdir:
    """Output files of the gated processes of one run (kept only if the run fails)."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="nengtan-bench-drain-"))

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


WORKDIR = Workdir()


def start_gated(name: str, command: list[str], env: dict[str, str]) -> Gated:
    out_path = WORKDIR.path / f"{name}.out"
    out_file = out_path.open("wb")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=out_file)
    return Gated(name, process, out_path, out_file)


def wait_ready(gated: list[Gated]) -> None:
    deadline = time.monotonic() + GATE_TIMEOUT_S
    for one in gated:
        while not one.output().startswith("ready\n"):
            if one.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{one.name} did not get ready:\n{one.output()}")
            time.sleep(0.02)


def release(gated: list[Gated]) -> None:
    for one in gated:
        assert one.process.stdin is not None
        one.process.stdin.write(b"go\n")
        one.process.stdin.flush()


def stop(gated: list[Gated], *, terminate: bool = True) -> None:
    if terminate:
        for one in gated:
            if one.process.poll() is None:
                one.process.send_signal(signal.SIGTERM)
    for one in gated:
        try:
            one.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            one.process.kill()
            one.process.wait()
            raise RuntimeError(f"{one.name} did not stop within {STOP_TIMEOUT_S} s") from None
        finally:
            one.out_file.close()
            if one.process.stdin is not None:
                one.process.stdin.close()


# --- filling the queue -------------------------------------------------------------------------


def fill_queue(url: str, messages: list[tuple[str, bytes]]) -> float:
    """Publish `messages` (QoS 1) while every subscriber is offline; returns the seconds it took."""
    started = time.perf_counter()
    if shutil.which("mosquitto_pub"):
        _fill_mosquitto_pub(url, messages)
    else:
        _fill_paho(url, messages)
    return time.perf_counter() - started


def _fill_mosquitto_pub(url: str, messages: list[tuple[str, bytes]]) -> None:
    parsed = urlparse(url)
    by_topic: dict[str, list[bytes]] = defaultdict(list)
    for topic, payload in messages:
        if b"\n" in payload:
            raise ValueError("mosquitto_pub -l sends one message per line: a payload holds a newline")
        by_topic[topic].append(payload)
    files = []
    for number, (topic, payloads) in enumerate(by_topic.items()):
        path = WORKDIR.path / f"fill-{number}.lines"
        path.write_bytes(b"\n".join(payloads) + b"\n")
        files.append((topic, path))
    auth = ["-u", parsed.username, "-P", parsed.password or ""] if parsed.username else []
    running: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []

    def reap(limit: int) -> None:
        while len(running) > limit:
            process, handle = running.pop(0)
            if process.wait(STOP_TIMEOUT_S) != 0:
                raise RuntimeError(f"mosquitto_pub failed ({process.returncode})")
            handle.close()

    for topic, path in files:
        handle = path.open("rb")
        running.append((subprocess.Popen(
            ["mosquitto_pub", "-V", "5", "-h", parsed.hostname or "127.0.0.1", "-p", str(parsed.port or 1883),
             *auth, "-q", "1", "-t", topic, "-l"], stdin=handle), handle))
        reap(FILL_PARALLEL - 1)
    reap(0)
    for _, path in files:
        path.unlink()


def _fill_paho(url: str, messages: list[tuple[str, bytes]]) -> None:
    import paho.mqtt.client as mqtt

    parsed = urlparse(url)
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-fill-{os.getpid()}",
                         protocol=mqtt.MQTTv5)
    if parsed.username:
        client.username_pw_set(parsed.username, parsed.password)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect(parsed.hostname or "127.0.0.1", parsed.port or 1883)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout=600)
            if not info.is_published():
                raise RuntimeError("the paho publisher did not get every PUBACK")
    finally:
        client.disconnect()
        client.loop_stop()


def forget_sessions(url: str, client_ids: list[str]) -> None:
    """End the drained sessions at the broker (connect with their ids, clean start, expiry 0).

    Otherwise every later fill would also queue a copy of each message for every earlier group:
    the broker's memory and fan-out would grow drain after drain.
    """
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    parsed = urlparse(url)
    for client_id in client_ids:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if parsed.username:
            client.username_pw_set(parsed.username, parsed.password)
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = 0
        client.connect(parsed.hostname or "127.0.0.1", parsed.port or 1883, clean_start=True,
                       properties=properties)
        client.loop_start()
        deadline = time.monotonic() + GATE_TIMEOUT_S
        while not client.is_connected():
            if time.monotonic() > deadline:
                raise RuntimeError(f"could not end the session of {client_id}")
            time.sleep(0.01)
        client.disconnect()
        client.loop_stop()


# --- CPU accounting --------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(consumer_pids: list[int]) -> dict[str, float]:
    """CPU seconds (user + system) used so far by the consumers, every PostgreSQL process (the
    ingest backends, the rollup worker's backend, autovacuum, the WAL writer), every Mosquitto
    and every Celery process: read from /proc, so a drain's cost per reading can be stated for
    capacity planning (README, "Horizontal scale"). Processes that exited are not counted."""
    totals = {"consumers": 0.0, "postgres": 0.0, "mosquitto": 0.0, "celery": 0.0}
    wanted = set(consumer_pids)
    processes: dict[int, tuple[str, int, list[str], bytes]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:  # exited meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        processes[int(entry.name)] = (stat[stat.index("(") + 1 : stat.rindex(")")], int(fields[1]), fields,
                                      cmdline)
    for pid, (comm, parent, fields, cmdline) in processes.items():
        used = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
        if pid in wanted:
            totals["consumers"] += used
        elif comm == "postgres":
            totals["postgres"] += used
            if processes.get(parent, ("",))[0] != "postgres":
                # The postmaster: its cutime + cstime hold the CPU of the backends it reaped, so a
                # consumer's backend that closed with its consumer still counts.
                totals["postgres"] += (int(fields[13]) + int(fields[14])) / CLOCK_TICKS
        elif comm == "mosquitto":
            totals["mosquitto"] += used
        elif b"celery" in cmdline:
            totals["celery"] += used
    return totals


def cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {key: round(after[key] - before[key], 3) for key in before}


# --- the real consumer -----------------------------------------------------------------------


@dataclass
class ConsumerDrain:
    seconds: float
    fill_seconds: float
    stored: int
    messages: int | None  # from the consumers' "mqtt_ingest stopped" lines (None if not found)
    accepted: int | None
    duplicates: int | None
    ended: float  # perf_counter at the end of the drain (for the rollup lag)
    cpu_s: dict[str, float]  # CPU seconds per kind of process during the drain (cpu_seconds)
    cpu_end: dict[str, float]  # the totals at the drain's end (the rollup upkeep after it is measured from)


def consumer_command(group: str, client_id: str, ingest_workers: int, profile_dir: str | None = None
                     ) -> list[str]:
    profiler = ["-m", "cProfile", "-o", f"{profile_dir}/{client_id}.prof"] if profile_dir else []
    return [sys.executable, *profiler, str(ROOT / "bench" / "consumer_gate.py"), "--group", group,
            "--client-id", client_id, "--session-expiry-s", str(SESSION_EXPIRY_S),
            "--ingest-workers", str(ingest_workers)]


def wait_subscribed(broker_log: Path, client_ids: list[str], group: str, gated: list[Gated]) -> None:
    """The broker logs `<client id> 1 $share/<group>/nengtan/#` (log_type subscribe) on SUBSCRIBE."""
    deadline = time.monotonic() + GATE_TIMEOUT_S
    for client_id in client_ids:
        mark = f"{client_id} 1 $share/{group}/"
        while mark not in broker_log.read_text(errors="replace"):
            if any(g.process.poll() is not None for g in gated) or time.monotonic() > deadline:
                raise RuntimeError(f"{client_id} did not subscribe")
            time.sleep(0.02)


def drain_consumers(
    *,
    label: str,
    url: str,
    env: dict[str, str],
    broker_log: Path,
    group: str,
    consumers: int,
    ingest_workers: int,
    messages: list[tuple[str, bytes]],
    total: int,
    markers_stored: Callable[[], bool],
    markers_imply_all: bool,
    count_stored: Callable[[], int],
    poll_interval_s: float,
    stall_timeout_s: float,
) -> ConsumerDrain:
    client_ids = [f"{group}-{n}" for n in range(consumers)]
    # Each consumer its own spool directory: two consumers opening one spool at the same instant
    # (released together) fail with sqlite's "database is locked" in Spool.__init__.
    envs = {cid: {**env, "SPOOL_DIR": str(WORKDIR.path / "spool" / cid)} for cid in client_ids}
    # 1. Sessions: the consumers connect once, subscribe, and are stopped.
    first = [start_gated(f"{cid}-subscribe", consumer_command(group, cid, ingest_workers), envs[cid])
             for cid in client_ids]
    try:
        wait_ready(first)
        release(first)
        wait_subscribed(broker_log, client_ids, group, first)
    finally:
        stop(first)
    _check_exit(first)
    # 2. Fill, with every session offline; the consumers for the drain import meanwhile (untimed).
    profile_dir = os.environ.get("BENCH_PROFILE_DIR")
    second = [start_gated(cid, consumer_command(group, cid, ingest_workers, profile_dir), envs[cid])
              for cid in client_ids]
    try:
        fill_seconds = fill_queue(url, messages)
        print(f"{label}: queued {len(messages)} messages for {consumers} offline consumer(s) in "
              f"{fill_seconds:.2f} s", file=sys.stderr)
        wait_ready(second)
        # 3. Drain: released together; the clock starts at the first consumer's connect (below).
        # CPU from the release (the consumers' warm-up counts here, a few tenths of a second).
        cpu_before = cpu_seconds([g.process.pid for g in second])
        release(second)
        last_count, last_change, next_count = -1, time.monotonic(), time.monotonic()
        while True:
            if markers_stored():
                markers_at = time.monotonic()
                if (stored := count_stored()) >= total:
                    # Batch messages commit whole, and the markers are each message's last reading:
                    # everything was stored when the markers were, and the exact count (a scan of
                    # the window, 15-30 ms) only confirms it. Single readings of one meter may commit
                    # out of order over two consumers, so there the end is after the count.
                    end_at = markers_at if markers_imply_all else time.monotonic()
                    break
            now = time.monotonic()
            if now >= next_count:  # the stall check counts exactly, but seldom
                stored = count_stored()
                if stored != last_count:
                    last_count, last_change = stored, now
                elif now - last_change > stall_timeout_s:
                    raise DeliveryError(f"{label}: STALLED at {stored} of {total} readings (lost?)")
                next_count = now + 2.0
            if any(g.process.poll() is not None for g in second):
                raise RuntimeError(f"{label}: a consumer exited during the drain")
            time.sleep(poll_interval_s)
        ended = time.perf_counter() - (time.monotonic() - end_at)
        cpu_end = cpu_seconds([g.process.pid for g in second])
        cpu = cpu_used(cpu_before, cpu_end)
    finally:
        stop(second)
        forget_sessions(url, client_ids)
    _check_exit(second)
    connecting = [float(m[1]) for g in second if (m := CONNECTING_LINE.search(g.output()))]
    if len(connecting) != len(second):
        raise RuntimeError(f"{label}: not every consumer printed when it connected")
    seconds = end_at - min(connecting)
    stored = count_stored()
    parsed = [STATS_LINE.search(g.output()) for g in second]
    stats = {key: sum(int(m[key]) for m in parsed if m) for key in ("messages", "accepted", "duplicates",
                                                                     "rejected")}
    found = all(parsed)
    if not found:
        print(f"{label}: WARNING: no 'mqtt_ingest stopped: …' line from every consumer; only the stored "
              "count checks the drain", file=sys.stderr)
    problems = []
    if stored != total:
        problems.append(f"{stored} readings stored of {total} (LOST {total - stored})")
    if found:
        if stats["messages"] != len(messages):
            problems.append(f"the consumers received {stats['messages']} messages of {len(messages)} "
                            "published")
        if stats["duplicates"] or stats["rejected"] or stats["accepted"] != total:
            problems.append(f"the consumers accepted {stats['accepted']}, {stats['duplicates']} duplicates, "
                            f"{stats['rejected']} rejected of {total} distinct readings")
    if problems:
        raise DeliveryError(f"{label}: " + "; ".join(problems))
    return ConsumerDrain(seconds, fill_seconds, stored, stats["messages"] if found else None,
                         stats["accepted"] if found else None, stats["duplicates"] if found else None, ended,
                         cpu, cpu_end)


def _check_exit(gated: list[Gated]) -> None:
    for one in gated:
        if one.process.returncode != 0:
            raise RuntimeError(f"{one.name} exited with {one.process.returncode}:\n{one.output()[-2000:]}")


# --- the bare subscriber (limits) --------------------------------------------------------------


@dataclass
class BareDrain:
    seconds: float
    fill_seconds: float
    received: int
    stored: int | None


def drain_bare(
    *,
    label: str,
    url: str,
    group: str,
    processes: int,
    mode: str,
    messages: list[tuple[str, bytes]],
    dsn: str,
    table: str,
    meter_ids: dict[str, int],
    count_table: Callable[[], int],
) -> BareDrain:
    client_ids = [f"{group}-{n}" for n in range(processes)]

    def command(client_id: str, run_mode: str) -> list[str]:
        return [sys.executable, str(ROOT / "bench" / "bare_subscriber.py"), "--url", url, "--client-id",
                client_id, "--group", group, "--mode", run_mode, "--dsn", dsn, "--table", table,
                "--meter-ids", json.dumps(meter_ids)]

    env = {**os.environ}
    first = [start_gated(f"{cid}-subscribe", command(cid, "subscribe"), env) for cid in client_ids]
    try:
        wait_ready(first)
        release(first)
    finally:
        stop(first, terminate=False)
    _check_exit(first)
    second = [start_gated(cid, command(cid, mode), env) for cid in client_ids]
    try:
        fill_seconds = fill_queue(url, messages)
        wait_ready(second)
        release(second)
    finally:
        stop(second, terminate=False)  # each exits on its own once idle
        forget_sessions(url, client_ids)
    _check_exit(second)
    reports = [json.loads(g.output().splitlines()[-1]) for g in second]
    received = sum(r["received"] for r in reports)
    seconds = max(r["last_at"] for r in reports) - min(r["go_at"] for r in reports)
    stored = count_table() if mode == "copy" else None
    problems = []
    if received < len(messages):
        problems.append(f"received {received} of {len(messages)} messages (LOST {len(messages) - received})")
    elif received > len(messages):
        problems.append(f"received {received} of {len(messages)} messages (DUPLICATED)")
    if stored is not None and stored != len(messages):
        problems.append(f"{stored} rows stored of {len(messages)}")
    if problems:
        raise DeliveryError(f"{label}: " + "; ".join(problems))
    return BareDrain(seconds, fill_seconds, received, stored)
