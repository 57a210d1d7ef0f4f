"""The long-running MQTT consumer behind `manage.py mqtt_ingest` (and the benchmark).

Delivery guarantees
-------------------
- MQTT v5 shared subscription ``$share/<group>/nengtan/#`` at QoS 1, so several consumers in one
  group split the load and the broker hands each message to one of them.
- Persistent session: a stable client id, ``clean_start=False`` and a session expiry interval,
  so messages published while a consumer is down (or delivered but not acknowledged when it
  died) are delivered again when it reconnects with the same id.
- Manual acknowledgement: paho's ``manual_ack=True``; a PUBACK is sent only after the message's
  readings are committed, kept in the durable spool (database down), or the message itself is
  kept in quarantine (malformed). A crash before the ack means redelivery, and ingest is
  idempotent on (meter, ts), so a redelivered reading is a duplicate, never a second row.
- Batching: messages are collected for up to ``batch_window_ms``, ``batch_max_messages`` or
  ``batch_max_bytes`` of payload (a big batch message is ingested at once instead of waiting for
  the window), then ingested with one ``readings_ingest`` call per enterprise inside one
  transaction, then acknowledged. When that call rejects an item it is rolled back (savepoint) and redone per
  message, so a quarantined item keeps its own topic as channel and its index in its message.
  The broker is told (MQTT v5 Receive Maximum) to keep at most ``(ingest_workers + 2) ×
  batch_max_messages`` unacknowledged messages in flight (capped at 65 535), which is also the
  consumer's back-pressure: enough for every worker's batch, the one being prepared and the one
  being collected, so the broker keeps sending while batches commit.
- The PUBACKs of a batch leave as one write (`_send_pubacks`), not one packet and one wake-up of
  paho's network thread per message.
- paho's decoder is given a Properties class with shared tables (`_SharedTableProperties`): paho's
  own rebuilt them for every PUBLISH received, a third of the consumer's CPU on single readings.
- A batch that cannot be written, whatever the exception (the database down, a read-only standby
  after failover, a schema mid-deploy): its items go to ``Spool("mqtt")`` (fsync'd) and THEN are
  acknowledged; the spool is looked at every ``spool_drain_interval_s`` and drained in bounded
  passes. A message that needs the database just to be understood (unknown credit code not in
  the cache, quarantine write) stays unacknowledged in memory and is retried; if the process dies
  meanwhile, the broker redelivers it.

- Acks only for the connection a message came on: a packet id (mid) is unique only among the
  unacknowledged messages of one connection. After a reconnect the broker resends what was not
  acknowledged (same mid, or a fresh one), and it reuses freed mids for new messages, so a late
  PUBACK carrying an old mid would acknowledge some OTHER message that was never committed. A
  message from an earlier connection is therefore stored but not acknowledged; the broker's
  redelivery of it is a duplicate, and its ack is the one that counts.

Threads: paho's network loop runs in its own thread and only queues messages. The thread that
calls `run()` decodes messages and writes quarantine rows; ``ingest_workers`` threads (each with
its own database connection) ingest batches and acknowledge them after their commit, so the
Python work of one batch overlaps the database work of another. With ``ingest_workers=0`` the
calling thread ingests too (tests run the consumer inside their transaction that way).
Concurrent batches may carry the same (meter, ts): the ingest inserts in key order, so they wait
for each other instead of deadlocking, and ON CONFLICT DO NOTHING keeps the first.
"""

from __future__ import annotations

import logging
import queue
import signal
import socket
import struct
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

import paho.mqtt.client as mqtt
from django.db import DatabaseError, connection, transaction
from django_scopes import scopes_disabled
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from metering.collectors.mqtt.contract import (
    BATCH_SEGMENT,
    TOPIC_ROOT,
    ContractError,
    MappingSpec,
    decode_payload,
    parse_message,
    single_reading,
    split_topic,
)

logger = logging.getLogger(__name__)

DEFAULT_GROUP = "nengtan-ingest"
BATCH_WINDOW_MS = 100
BATCH_MAX_MESSAGES = 1000
# Payload bytes that close a batch early: one 5 000-reading message (~330 KB) goes straight to
# ingest; a stream of single readings still fills the window (one commit per ~1 000 messages).
BATCH_MAX_BYTES = 256 * 1024
# Batches ingested at the same time, each on its own database connection: one thread validates
# in Python while another waits for PostgreSQL. Two keeps a 2-core host busy.
INGEST_WORKERS = 2
# How long the broker keeps this consumer's session (subscription + unacknowledged and queued
# messages) while it is disconnected: a week covers a long outage or a redeploy.
SESSION_EXPIRY_S = 7 * 24 * 3600
# How often the spool is looked at (a local count) and, when it holds batches, drained: readings
# spooled during an outage start to arrive at most this long after the database returns.
SPOOL_DRAIN_INTERVAL_S = 2.0
# Credit code → enterprise and mapping lookups are cached; a new enterprise or mapping is seen
# within this time without restarting the consumer.
LOOKUP_CACHE_TTL_S = 60.0
UNKNOWN_CODE_CACHE_TTL_S = 10.0
# Credit code → (enterprise, may it send) is re-read after this long: a suspended enterprise's
# messages, also those already queued in its broker session, are refused within it. One query per
# enterprise per interval, nothing per message, so batch throughput (bench/) does not notice it.
SENDING_STATUS_CACHE_TTL_S = 5.0
# Messages that need the database just to be understood wait this long between attempts.
HELD_RETRY_INTERVAL_S = 2.0
# Batches in flight beyond one per ingest worker (see ConsumerConfig.receive_maximum).
RECEIVE_MAXIMUM_SPARE_BATCHES = 2
KEEPALIVE_S = 30
RECONNECT_MIN_DELAY_S = 1
RECONNECT_MAX_DELAY_S = 30
CONNECT_TIMEOUT_S = 30.0


def default_client_id() -> str:
    """Stable across restarts of the same deployment slot (no pid): the persistent session hangs on it."""
    return f"nengtan-ingest-{socket.gethostname()}"[:64]


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool

    @classmethod
    def from_url(cls, url: str) -> BrokerAddress:
        parsed = urlparse(url)
        if parsed.scheme not in ("mqtt", "mqtts"):
            raise ValueError("MQTT_URL must look like mqtt://user:pass@host:port (or mqtts://)")
        tls = parsed.scheme == "mqtts"
        return cls(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or (8883 if tls else 1883),
            username=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            tls=tls,
        )

    def __str__(self) -> str:  # what may appear in logs: never the credentials
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


@dataclass
class ConsumerConfig:
    url: str
    group: str = DEFAULT_GROUP
    client_id: str = field(default_factory=default_client_id)
    batch_window_ms: int = BATCH_WINDOW_MS
    batch_max_messages: int = BATCH_MAX_MESSAGES
    batch_max_bytes: int = BATCH_MAX_BYTES
    ingest_workers: int = INGEST_WORKERS
    session_expiry_s: int = SESSION_EXPIRY_S
    spool_drain_interval_s: float = SPOOL_DRAIN_INTERVAL_S

    @property
    def subscription(self) -> str:
        return f"$share/{self.group}/{TOPIC_ROOT}/#"

    @property
    def receive_maximum(self) -> int:
        """Unacknowledged messages the broker may have in flight to this consumer (MQTT v5).

        One batch per ingest worker, one being prepared and one being collected: with only one
        batch's worth (the old value) the broker stopped at a full batch and waited for its commit
        and acks, so collecting and ingesting took turns instead of overlapping.
        """
        batches = max(self.ingest_workers, 1) + RECEIVE_MAXIMUM_SPARE_BATCHES
        return max(1, min(batches * self.batch_max_messages, 65535))


@dataclass
class ConsumerStats:
    messages: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    quarantined_messages: int = 0
    spooled_batches: int = 0
    drained_batches: int = 0
    batches: int = 0
    acked: int = 0
    # Received on an earlier connection and committed, but not acknowledged (see module docstring).
    stale_acks_skipped: int = 0


@dataclass(slots=True)
class _Pending:
    """A message whose readings are waiting for the batch commit before its ack."""

    message: mqtt.MQTTMessage
    topic: str  # message.topic, decoded once (paho decodes the bytes on every access)
    enterprise_id: int
    items: list[dict[str, Any]]
    indexes: list[int] | None = None  # each item's index in the message, when some were taken out
    # (index, reason, raw) of readings the contract refused: quarantined by the ingest call of
    # the message, in the transaction of its readings, so a retried batch never writes them twice.
    malformed: list[tuple[int, str, Any]] = field(default_factory=list)


@dataclass
class _Batch:
    """Prepared messages handed to an ingest worker: ingest, commit, then acknowledge."""

    pending: list[_Pending]


_STOP_WORKER = object()


class _RedoPerMessage(Exception):
    """Roll the merged ingest back and redo it message by message."""


class _TtlCache:
    def __init__(self) -> None:
        self._entries: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any) -> tuple[bool, Any]:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return False, None
        return True, entry[1]

    def put(self, key: Any, value: Any, ttl_s: float) -> None:
        self._entries[key] = (time.monotonic() + ttl_s, value)


class MqttConsumer:
    def __init__(self, config: ConsumerConfig, *, spool: Any = None) -> None:
        self.config = config
        self.broker = BrokerAddress.from_url(config.url)
        self.stats = ConsumerStats()
        # SimpleQueue: a put and a get per message, and the C queue costs a fraction of queue.Queue's.
        self._inbox: queue.SimpleQueue[mqtt.MQTTMessage] = queue.SimpleQueue()
        self._held: list[mqtt.MQTTMessage] = []  # need the database before they can be acknowledged
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._enterprise_cache = _TtlCache()
        self._mapping_cache = _TtlCache()
        self._spool = spool
        self._last_drain = 0.0
        self._retry_held_at = 0.0
        # Bumped by paho's thread on every disconnect and connect; a message remembers the
        # generation it arrived in, and is acknowledged only while that generation is current.
        self._connection_generation = 0
        self._generations: dict[int, int] = {}  # id(message) → generation
        self._ack_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._work: queue.Queue[Any] = queue.Queue(maxsize=max(1, config.ingest_workers))
        self._workers: list[threading.Thread] = []
        self._worker_error: BaseException | None = None
        self._client = self._build_client()

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Get ready, then connect and start paho's network thread; returns once the subscription
        is granted.

        Ready first: the ingest workers and this thread open their database connections and the
        parts above ingest theirs (`collector_warm_up`) before the broker is asked for anything, so
        a resumed session's backlog meets a consumer that is already up to speed, and nothing
        waits unacknowledged behind the first batch's imports and connections.
        """
        from metering.ingest.services import collector_warm_up

        collector_warm_up()
        for number in range(self.config.ingest_workers):
            ready = threading.Event()
            worker = threading.Thread(target=self._worker_loop, args=(ready,), name=f"mqtt-ingest-{number}",
                                      daemon=True)
            worker.start()
            self._workers.append(worker)
            ready.wait(CONNECT_TIMEOUT_S)
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.config.session_expiry_s
        properties.ReceiveMaximum = self.config.receive_maximum
        logger.info("mqtt_ingest connecting to %s as %s (group %s)", self.broker, self.config.client_id,
                    self.config.group)
        self._client.connect_async(self.broker.host, self.broker.port, keepalive=KEEPALIVE_S,
                                   clean_start=False, properties=properties)
        self._client.loop_start()
        if not self._subscribed.wait(CONNECT_TIMEOUT_S):
            self._client.loop_stop()
            self._stop_workers()
            raise ConnectionError(f"no MQTT subscription on {self.broker} within {CONNECT_TIMEOUT_S:.0f} s")

    def stop(self) -> None:
        """Ask `run()` to finish: it stops taking new batches, commits and acks what is in hand."""
        self._stop.set()

    def install_signal_handlers(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self.stop())

    def run(self, *, until: Callable[[], bool] | None = None) -> ConsumerStats:
        """Consume until stop() (or `until()` is true); then settle what is in hand and disconnect."""
        try:
            while not self._stop.is_set() and not (until and until()):
                self.step()
            self._settle_in_hand()
        finally:
            self._stop.set()
            self._stop_workers()
            self._client.disconnect()
            self._client.loop_stop()
        logger.info("mqtt_ingest stopped: %s", self.stats)
        return self.stats

    def step(self) -> int:
        """One batch: collect, ingest, acknowledge; also retry held messages and drain the spool."""
        self._raise_worker_error()
        batch = self._collect()
        with self._stats_lock:
            self.stats.messages += len(batch)
        if self._held and time.monotonic() >= self._retry_held_at:
            batch = self._held + batch
            self._held = []
        if batch:
            self.process(batch)
        self._maybe_drain_spool()
        return len(batch)

    # -- batch processing -------------------------------------------------------------------------

    def process(self, messages: list[mqtt.MQTTMessage]) -> None:
        """Prepare the messages here; ingest and acknowledge them in a worker (or here, without workers)."""
        with self._stats_lock:
            self.stats.batches += 1
        pending: list[_Pending] = []
        done: list[mqtt.MQTTMessage] = []
        for message in messages:
            try:
                prepared = self._prepare(message)
            except DatabaseError as exc:
                self._database_lost(exc)
                self._held.append(message)
                self._retry_held_at = time.monotonic() + HELD_RETRY_INTERVAL_S
                continue
            if prepared is None:
                done.append(message)
            else:
                pending.append(prepared)
        # Quarantine rows are committed already (autocommit): those messages are settled.
        self._ack(done)
        if not pending:
            return
        if self._workers:
            # Blocks while every worker is busy and one batch waits: back-pressure on collecting.
            self._work.put(_Batch(pending))
        else:
            self._ingest_and_ack(pending)

    def _ingest_and_ack(self, pending: list[_Pending]) -> None:
        self._ingest(pending)
        self._ack([p.message for p in pending])

    def _worker_loop(self, ready: threading.Event) -> None:
        from django.db import connection as worker_connection

        try:
            try:
                worker_connection.ensure_connection()
            except DatabaseError:  # the database away at start: the first batch retries (or spools)
                worker_connection.close()
            ready.set()
            while True:
                work = self._work.get()
                try:
                    if work is _STOP_WORKER:
                        return
                    self._ingest_and_ack(work.pending)
                finally:
                    self._work.task_done()
        except BaseException as exc:  # a bug, not bad input: stop the consumer rather than stall unacked
            logger.exception("ingest worker failed; stopping the consumer")
            self._worker_error = exc
            self._stop.set()
        finally:
            worker_connection.close()

    def _wait_for_workers(self) -> None:
        """Every batch handed to a worker is committed (or spooled) and acknowledged."""
        if self._workers:
            self._work.join()

    def _stop_workers(self) -> None:
        alive = [worker for worker in self._workers if worker.is_alive()]
        for _ in alive:
            self._work.put(_STOP_WORKER)
        for worker in alive:
            worker.join()
        self._workers = []

    def _raise_worker_error(self) -> None:
        if self._worker_error is not None:
            raise RuntimeError("an MQTT ingest worker failed") from self._worker_error

    def _prepare(self, message: mqtt.MQTTMessage) -> _Pending | None:
        """Turn a message into items, or quarantine it (then it only needs its ack)."""
        topic = message.topic
        payload = message.payload if type(message.payload) is bytes else bytes(message.payload)
        levels = topic.split("/")
        if len(levels) == 3 and levels[0] == TOPIC_ROOT and levels[1] and levels[2] \
                and levels[2] != BATCH_SEGMENT:
            # The common case, one reading on nengtan/<credit code>/<meter code>: the same checks
            # as below, without the generic steps' objects (see _prepare_single).
            return self._prepare_single(message, topic, payload, levels[1], levels[2])
        return self._prepare_general(message, topic, payload)

    def _prepare_general(self, message: mqtt.MQTTMessage, topic: str, payload: bytes) -> _Pending | None:
        try:
            address = split_topic(topic)
        except ContractError as exc:
            self._quarantine(None, topic, payload, str(exc))
            return None
        enterprise_id, may_send = self._enterprise(address.credit_code)
        if enterprise_id is None:
            self._quarantine(None, topic, payload,
                             f"主题中的统一社会信用代码 {address.credit_code!r} 没有对应的企业")
            return None
        if not may_send:
            # The rule HTTP and Modbus follow (Enterprise.may_send_readings). The broker refuses the
            # gateway after its next refresh; until then, and for what its session already queued,
            # the message is kept here, neither stored nor dropped.
            self._quarantine(enterprise_id, topic, payload,
                             f"统一社会信用代码 {address.credit_code!r} 的企业未获批准或已停用，不能上传读数")
            return None
        try:
            document = decode_payload(payload)
            parsed = parse_message(address, document, self._mappings(enterprise_id))
        except ContractError as exc:
            self._quarantine(enterprise_id, topic, payload, str(exc))
            return None
        malformed = [(problem.index, problem.reason, problem.raw) for problem in parsed.problems]
        if not parsed.items and not malformed:
            return None
        return _Pending(message=message, topic=topic, enterprise_id=enterprise_id, items=parsed.items,
                        indexes=parsed.indexes, malformed=malformed)

    def _prepare_single(self, message: mqtt.MQTTMessage, topic: str, payload: bytes, credit_code: str,
                        meter_code: str) -> _Pending | None:
        """`_prepare` for a topic of exactly nengtan/<credit code>/<meter code> (not …/batch).

        Equivalent to split_topic + parse_message's default contract (parse_default), which is what
        such a topic gets unless its enterprise has mappings: then it goes the general way, since a
        mapping may match a one-level tail too. The reading is validated by readings_ingest like
        any other, so a bad value or an unknown meter is rejected and quarantined alone, with this
        topic as channel and index 0 (tests/metering/test_mqtt_fast_path.py).
        """
        enterprise_id, may_send = self._enterprise(credit_code)
        if enterprise_id is None or not may_send or self._mappings(enterprise_id):
            return self._prepare_general(message, topic, payload)
        try:
            document = decode_payload(payload)
        except ContractError as exc:
            self._quarantine(enterprise_id, topic, payload, str(exc))
            return None
        return _Pending(message=message, topic=topic, enterprise_id=enterprise_id,
                        items=[single_reading(meter_code, document)])

    def _ingest(self, pending: list[_Pending]) -> None:
        groups: dict[int, list[_Pending]] = defaultdict(list)
        for entry in pending:
            groups[entry.enterprise_id].append(entry)
        if not groups:
            return
        try:
            # One commit for the whole batch: the acks follow it.
            with transaction.atomic():
                results = [result for enterprise_id, entries in groups.items()
                           for result in self._ingest_enterprise(enterprise_id, entries)]
        except Exception as exc:
            # Nothing of the batch was committed: keep all of it, whatever the write failed with.
            self._database_lost(exc)
            self._spool_pending(pending)
            return
        with self._stats_lock:
            for result in results:
                self.stats.accepted += result.accepted
                self.stats.duplicates += result.duplicates
                self.stats.rejected += len(result.rejected)

    def _ingest_enterprise(self, enterprise_id: int, entries: list[_Pending]) -> list[Any]:
        """All of one enterprise's messages in one ingest call; per message only if some item is bad.

        The fast path writes the whole batch at once. When it rejects anything, it is rolled back
        (savepoint) and each message is ingested on its own, so every quarantined item carries its
        own topic as channel and its index within its own message.
        """
        from metering.ingest.services import readings_ingest
        from portal.access import enterprise_scope

        with enterprise_scope(enterprise_id):
            # A message the contract already found bad items in is ingested on its own anyway.
            clean = [entry for entry in entries if not entry.malformed]
            per_message = [entry for entry in entries if entry.malformed]
            results = []
            if len(clean) > 1:
                try:
                    with transaction.atomic():
                        merged = readings_ingest(enterprise_id=enterprise_id, source="mqtt",
                                                 channel=clean[0].topic,
                                                 items=[item for entry in clean for item in entry.items])
                        if merged.rejected:
                            raise _RedoPerMessage
                    results.append(merged)
                    clean = []
                except _RedoPerMessage:
                    pass
            results.extend(readings_ingest(enterprise_id=enterprise_id, items=entry.items, source="mqtt",
                                           channel=entry.topic, item_indexes=entry.indexes,
                                           malformed=entry.malformed)
                           for entry in clean + per_message)
            return results

    def _spool_pending(self, pending: list[_Pending]) -> None:
        spool = self._get_spool()
        for entry in pending:
            spool.put("items", {"enterprise_id": entry.enterprise_id, "items": entry.items, "source": "mqtt",
                                "channel": entry.topic, "item_indexes": entry.indexes,
                                "malformed": entry.malformed})
            with self._stats_lock:
                self.stats.spooled_batches += 1
        logger.warning("batch not stored: spooled %d messages' readings durably; acknowledging them",
                       len(pending))

    def _ack(self, messages: list[mqtt.MQTTMessage]) -> None:
        acked = skipped = 0
        mids: list[int] = []
        # The lock orders acks against paho's disconnect/connect callbacks, which bump the
        # generation: an ack is queued only while the connection it belongs to is the current one.
        with self._ack_lock:
            for message in messages:
                generation = self._generations.pop(id(message), None)
                if message.qos == 0:
                    continue
                if generation != self._connection_generation:
                    skipped += 1
                    continue
                if message.qos == 1:
                    mids.append(message.mid)
                else:
                    self._client.ack(message.mid, message.qos)
                acked += 1
            # Still under the lock: queued before a disconnect callback can bump the generation
            # (paho drops what is queued when it reconnects, so nothing reaches a newer connection).
            _send_pubacks(self._client, mids)
        with self._stats_lock:
            self.stats.acked += acked
            self.stats.stale_acks_skipped += skipped
        if skipped:
            logger.info("%d committed messages came on an earlier connection: not acknowledged "
                        "(their redelivery is a duplicate)", skipped)

    def _settle_in_hand(self) -> None:
        """After stop: everything already received is committed (or spooled) and acknowledged."""
        while True:
            self._wait_for_workers()
            self._raise_worker_error()
            arrived = self._drain_inbox()
            with self._stats_lock:
                self.stats.messages += len(arrived)
            batch = self._held + arrived
            self._held = []
            if not batch:
                return
            self.process(batch)
            self._wait_for_workers()
            if self._held:
                # Still no database: leave them unacknowledged; the broker redelivers them to the
                # next consumer session.
                logger.warning("stopping with %d messages unacknowledged (database unavailable)",
                               len(self._held))
                return

    # -- lookups ---------------------------------------------------------------------------------

    def _enterprise(self, credit_code: str) -> tuple[int | None, bool]:
        """(enterprise id or None, whether it may send readings now) for a topic's credit code."""
        hit, value = self._enterprise_cache.get(credit_code)
        if hit:  # every message asks: the cache answers before anything is imported
            return value
        from django.db.models import BooleanField, ExpressionWrapper

        from portal.models import Enterprise

        # The topic names the tenant (the broker's ACL guarantees it for the publisher), so the
        # consumer is the edge that finds out whose scope applies: look it up across tenants.
        with scopes_disabled():
            found = (Enterprise.objects.filter(credit_code=credit_code.upper())
                     .annotate(sends=ExpressionWrapper(Enterprise.sending_filter(),
                                                       output_field=BooleanField()))
                     .values_list("id", "sends").first())
        value = (found[0], bool(found[1])) if found else (None, False)
        self._enterprise_cache.put(credit_code, value,
                                   SENDING_STATUS_CACHE_TTL_S if found else UNKNOWN_CODE_CACHE_TTL_S)
        return value

    def _mappings(self, enterprise_id: int) -> list[MappingSpec]:
        hit, value = self._mapping_cache.get(enterprise_id)
        if hit:
            return value
        from metering.models import MqttMapping
        from portal.access import enterprise_scope

        with enterprise_scope(enterprise_id):
            mappings = MqttMapping.objects.filter(enterprise_id=enterprise_id, enabled=True).order_by("name")
            specs = [
                MappingSpec(id=m.id, name=m.name, topic_pattern=m.topic_pattern,
                            readings_path=m.readings_path, meter_path=m.meter_path, ts_path=m.ts_path,
                            value_path=m.value_path, ts_is_epoch_ms=m.ts_is_epoch_ms)
                for m in mappings
            ]
        self._mapping_cache.put(enterprise_id, specs, LOOKUP_CACHE_TTL_S)
        return specs

    def _quarantine(self, enterprise_id: int | None, topic: str, payload: bytes, reason: str,
                    item_index: int | None = None) -> None:
        from metering.ingest.services import quarantine_message
        from portal.access import enterprise_scope

        if enterprise_id is None:
            # Nobody's tenant yet (unknown credit code or topic): the row belongs to no enterprise.
            with scopes_disabled():
                quarantine_message(enterprise_id=None, source="mqtt", channel=topic[:255], payload=payload,
                                   reason=reason, item_index=item_index)
        else:
            with enterprise_scope(enterprise_id):
                quarantine_message(enterprise_id=enterprise_id, source="mqtt", channel=topic[:255],
                                   payload=payload, reason=reason, item_index=item_index)
        with self._stats_lock:
            if item_index is None:
                self.stats.quarantined_messages += 1
            else:
                self.stats.rejected += 1

    # -- spool -----------------------------------------------------------------------------------

    def _get_spool(self) -> Any:
        if self._spool is None:
            from metering.ingest.spool import Spool

            self._spool = Spool("mqtt")
        return self._spool

    def _maybe_drain_spool(self) -> None:
        now = time.monotonic()
        if now - self._last_drain < self.config.spool_drain_interval_s:
            return
        self._last_drain = now
        spool = self._get_spool()
        if not len(spool):
            return
        try:
            drained = spool.drain()
        except DatabaseError as exc:
            self._database_lost(exc)
            return
        self.stats.drained_batches += drained
        if drained:
            logger.info("drained %d spooled batches (%d still waiting)", drained, len(spool))

    def _database_lost(self, exc: Exception) -> None:
        from metering.ingest.services import is_database_unavailable

        if is_database_unavailable(exc):
            logger.warning("database unavailable: %s", exc.__class__.__name__)
        else:
            logger.error("batch not stored: %s: %s", exc.__class__.__name__, exc)
        # A broken connection is not reusable, and after a failover it may still reach the old
        # primary, now read-only: the next query opens a new one.
        connection.close()

    # -- paho ------------------------------------------------------------------------------------

    def _collect(self) -> list[mqtt.MQTTMessage]:
        """Wait for a first message (briefly, so stop() is seen), then fill the batch window.

        The window closes early at `batch_max_messages` or `batch_max_bytes` of payload: a message
        that is a big batch by itself is not held back waiting for company.
        """
        batch: list[mqtt.MQTTMessage] = []
        try:
            first = self._inbox.get(timeout=0.2)
        except queue.Empty:
            return batch
        batch.append(first)
        size = len(first.payload)
        deadline = time.monotonic() + self.config.batch_window_ms / 1000
        while len(batch) < self.config.batch_max_messages and size < self.config.batch_max_bytes:
            try:
                # Whatever already arrived joins without waiting; only an empty inbox waits.
                message = self._inbox.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    message = self._inbox.get(timeout=remaining)
                except queue.Empty:
                    break
            batch.append(message)
            size += len(message.payload)
        return batch

    def _drain_inbox(self) -> list[mqtt.MQTTMessage]:
        drained = []
        while True:
            try:
                drained.append(self._inbox.get_nowait())
            except queue.Empty:
                return drained

    def _build_client(self) -> mqtt.Client:
        _share_property_tables()
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.config.client_id,
                             protocol=mqtt.MQTTv5, manual_ack=True)
        if self.broker.username:
            client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            client.tls_set()
        client.reconnect_delay_set(RECONNECT_MIN_DELAY_S, RECONNECT_MAX_DELAY_S)
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_disconnect = self._on_disconnect
        return client

    def _new_connection_generation(self) -> None:
        with self._ack_lock:
            self._connection_generation += 1

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any,
                    properties: Any) -> None:
        if reason_code.is_failure:
            logger.error("MQTT connect to %s refused: %s", self.broker, reason_code)
            return
        self._new_connection_generation()
        logger.info("connected to %s (session present: %s)", self.broker, flags.session_present)
        # Subscribing again on a resumed session is harmless and covers a session that expired.
        client.subscribe(self.config.subscription, qos=1)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reason_codes: Any,
                      properties: Any) -> None:
        failures = [code for code in reason_codes if code.is_failure]
        if failures:
            logger.error("subscription %s refused: %s", self.config.subscription, failures)
            return
        self._subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        # paho's thread runs this and the connect/disconnect callbacks in order: the generation
        # read here is the connection this message arrived on.
        self._generations[id(message)] = self._connection_generation
        self._inbox.put(message)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason_code: Any,
                       properties: Any) -> None:
        self._new_connection_generation()
        if not self._stop.is_set():
            logger.warning("disconnected from %s (%s); paho reconnects", self.broker, reason_code)


class _SharedTableProperties(Properties):
    """paho's MQTT v5 Properties without rebuilding its constant tables for every packet.

    paho's decoder makes a Properties for every PUBLISH received, and Properties.__init__ builds
    two dicts of ~27 entries (with list.index calls) each time, then unpack() clears 27 names: about
    8 µs a message, a third of the consumer's CPU in the single-reading profile. The tables are only
    ever read, so one copy serves all; a PUBLISH without properties (property length 0, the
    usual case) needs no parsing on a fresh object. Anything else takes paho's own code.
    """

    _tables = Properties(PacketTypes.PUBLISH)

    def __init__(self, packetType: int) -> None:  # paho's signature
        attributes = self.__dict__
        attributes["packetType"] = packetType
        attributes["types"] = self._tables.types
        attributes["names"] = self._tables.names
        attributes["properties"] = self._tables.properties

    def unpack(self, buffer: bytes | bytearray) -> tuple[Properties, int]:
        if buffer[:1] == b"\x00" and len(self.__dict__) == 4:
            return self, 1  # property length 0 (one byte): no properties, nothing to clear
        return super().unpack(buffer)  # type: ignore[no-any-return]


def _share_property_tables() -> None:
    """Make paho's packet decoder use _SharedTableProperties (idempotent; one process-wide switch).

    `paho.mqtt._packet` is paho's internal decoder module (paho-mqtt 2.x), which names Properties
    at module level; tests/metering/test_mqtt_fast_path.py pins that it is still there and that
    decoding gives the same properties.
    """
    from paho.mqtt import _packet

    if getattr(_packet, "Properties", None) is Properties:
        _packet.Properties = _SharedTableProperties  # type: ignore[misc]


_PUBACK = 0x40
_PUBACK_CHUNK = 4096  # mids per queued write: a few KB, one send() for paho


def _send_pubacks(client: mqtt.Client, mids: list[int]) -> None:
    """Queue the PUBACKs (QoS 1, manual ack) of these mids as few writes as possible.

    `client.ack()` queues one 4-byte packet per message and writes a byte to paho's socketpair to
    wake its network thread each time; that thread then send()s each packet on its own: two
    syscalls and a lock round per message, a large part of the single-reading cost. Here the
    packets (the same bytes ack() builds: PUBACK, remaining length 2, mid; no reason code, which
    MQTT v5 reads as success) are joined and handed to paho's own output queue as one packet, which
    wakes the loop once. `_packet_queue` is paho's internal (paho-mqtt 2.x, the same call ack()
    makes); tests/metering/test_mqtt_ack_batch.py pins it, and without it this falls back to ack().
    """
    if not mids:
        return
    queue_packet = getattr(client, "_packet_queue", None)
    if queue_packet is None or not client._manual_ack:  # pragma: no cover - another paho
        for mid in mids:
            client.ack(mid, 1)
        return
    pack = struct.Struct("!BBH").pack
    for start in range(0, len(mids), _PUBACK_CHUNK):
        packet = b"".join([pack(_PUBACK, 2, mid) for mid in mids[start:start + _PUBACK_CHUNK]])
        # qos 0, mid 0: paho's writer only looks at these for its own PUBLISH bookkeeping.
        queue_packet(_PUBACK, packet, 0, 0)


def consumer_from_settings(**overrides: Any) -> MqttConsumer:
    from django.conf import settings

    url = overrides.pop("url", None) or settings.MQTT_URL
    if not url:
        raise ValueError("MQTT_URL is not set")
    return MqttConsumer(ConsumerConfig(url=url, **{k: v for k, v in overrides.items() if v is not None}))


__all__ = ["BrokerAddress", "ConsumerConfig", "ConsumerStats", "MqttConsumer", "consumer_from_settings",
           "default_client_id"]
