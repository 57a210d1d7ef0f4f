"""Services of the Modbus collector: find due devices, claim one, poll it, record its state.

Flow (Celery beat or `run_collectors`):

1. `modbus_devices_due()` lists enabled devices whose `next_poll_at` has come;
2. `modbus_device_claim()` takes each with a conditional UPDATE, so two workers never poll
   one device at once;
3. `modbus_device_poll()` (inside the device's enterprise scope) reads the registers, writes
   readings through the one ingest service (spooling them if that write fails, whatever the
   reason), records the device state and releases the claim.

Spooled readings are replayed apart from this dispatch (`modbus_spool_drain()`, or the spool
drains of `run_collectors` and the Celery task `drain_reading_spools`), so devices keep being
polled while a long backlog drains.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import DatabaseError
from django.db.models import Q
from django.utils import timezone

from metering.collectors.modbus.client import (
    ConnectionSettings,
    DeviceConnection,
    ModbusReadError,
    worst_case_read_s,
)
from metering.collectors.modbus.decoding import DecodingError, decode_registers, scaled_value
from metering.collectors.modbus.planning import PointSpec, ReadBlock, plan_reads
from metering.ingest.services import IngestResult, ResolvedReading, readings_ingest_resolved
from metering.ingest.spool import Spool
from metering.models import ModbusDevice, ModbusPoint, Quality, Source
from portal import audit
from portal.models import Enterprise

logger = logging.getLogger(__name__)

SPOOL_NAME = "modbus"
# Head-room on top of the worst-case read time, for the database writes of one poll.
CLAIM_MARGIN_S = 10.0
# last_error is a CharField(500).
ERROR_TEXT_MAX_CHARS = 500
POLL_AUDIT_ACTION = "poll"


@dataclass
class PointResult:
    """What one point read: shown by `poll_modbus --once` and kept for tests."""

    point: PointSpec
    registers: list[int] | None = None
    value: float | None = None
    error: str = ""


@dataclass
class PollOutcome:
    device_id: int
    claimed: bool = True
    reachable: bool = False
    requests: int = 0
    points: list[PointResult] = field(default_factory=list)
    readings_written: int = 0
    readings_spooled: int = 0
    errors: list[str] = field(default_factory=list)
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None

    @property
    def ok(self) -> bool:
        return self.claimed and self.reachable and not self.errors


# --------------------------------------------------------------------------- selectors


def modbus_devices_due(*, now: dt.datetime | None = None, limit: int | None = None) -> list[tuple[int, int]]:
    """(device id, enterprise id) of enabled devices due for a poll and not claimed by anyone,
    of enterprises that may send readings (a suspended one's devices are not polled).

    Called by dispatchers with scopes disabled: they work across tenants on purpose.
    """
    now = now or timezone.now()
    queryset = (
        ModbusDevice.objects.filter(enabled=True, next_poll_at__lte=now)
        .filter(Enterprise.sending_filter("enterprise__"))
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("next_poll_at", "pk")
        .values_list("pk", "enterprise_id")
    )
    return list(queryset[:limit] if limit else queryset)


def device_point_specs(device: ModbusDevice) -> list[PointSpec]:
    points = ModbusPoint.objects.filter(device=device, meter__is_active=True).select_related("meter")
    return [
        PointSpec(
            point_id=p.pk,
            register_type=p.register_type,
            address=p.address,
            data_type=p.data_type,
            byte_order=p.byte_order,
            scale=p.scale,
            offset=p.offset,
            meter_id=p.meter_id,
            meter_code=p.meter.code,
        )
        for p in points
    ]


def poll_budget_s(device: ModbusDevice, *, block_count: int) -> float:
    """The longest one poll of this device may take; its claim lasts this long."""
    return worst_case_read_s(ConnectionSettings.from_device(device)) * max(block_count, 1) + CLAIM_MARGIN_S


# --------------------------------------------------------------------------- services


def modbus_device_claim(*, device_id: int, now: dt.datetime | None = None, force: bool = False) -> str | None:
    """Claim a device for one poll. Returns the claim token, or None when someone else holds it
    (or, unless `force`, when it is not due).

    The claim is a single conditional UPDATE: of two workers racing for one device exactly one
    matches the row, and a claim left by a crashed worker expires at `claimed_until`.
    """
    now = now or timezone.now()
    device = ModbusDevice.objects.filter(pk=device_id).first()
    if device is None or not device.enabled:
        return None
    budget = poll_budget_s(device, block_count=len(plan_reads(device_point_specs(device))))
    token = str(uuid.uuid4())
    conditions = Q(pk=device_id, enabled=True) & (Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
    if not force:
        conditions &= Q(next_poll_at__lte=now)
    # Not audited on its own: the claim is released in the same poll's audit row (see
    # modbus_device_record_poll), and a claim that expires unreleased changes nothing lasting.
    updated = ModbusDevice.objects.filter(conditions).update(
        claimed_until=now + dt.timedelta(seconds=budget), claim_token=token
    )
    return token if updated == 1 else None


def _read_points(connection: DeviceConnection, blocks: list[ReadBlock], outcome: PollOutcome) -> None:
    for block in blocks:
        try:
            registers = connection.read_registers(
                register_type=block.register_type, address=block.address, count=block.count
            )
        except ModbusReadError as exc:
            if exc.unreachable:
                # The device does not answer: every further block would wait out its own
                # timeouts too, so give up on this poll and let the next one try again.
                outcome.errors.append(str(exc))
                failed = [p for b in blocks[blocks.index(block) :] for p in b.points]
                outcome.points.extend(PointResult(point=p, error=str(exc)) for p in failed)
                return
            outcome.reachable = True
            if len(block.points) > 1:
                # The device refused the merged range (e.g. an unmapped gap register): read
                # its points one by one so one bad address does not hide the good ones.
                singles = [ReadBlock(block.register_type, p.address, p.count, [p]) for p in block.points]
                _read_points(connection, singles, outcome)
                continue
            outcome.errors.append(str(exc))
            outcome.points.append(PointResult(point=block.points[0], error=str(exc)))
            continue
        outcome.reachable = True
        for point in block.points:
            point_registers = block.registers_for(point, registers)
            result = PointResult(point=point, registers=point_registers)
            try:
                raw = decode_registers(
                    point_registers, data_type=point.data_type, byte_order=point.byte_order
                )
                result.value = scaled_value(raw, scale=point.scale, offset=point.offset)
            except DecodingError as exc:
                result.error = f"{point.register_type} {point.address} ({point.meter_code}): {exc}"
                outcome.errors.append(result.error)
            outcome.points.append(result)


def _write_readings(rows: list[ResolvedReading], outcome: PollOutcome) -> None:
    """Write through the one ingest service; keep the rows in the spool if that write fails."""
    if not rows:
        return
    try:
        result: IngestResult = readings_ingest_resolved(rows=rows, source=Source.MODBUS.value)
    except Exception as exc:
        # Whatever the write failed with (the database down, a read-only standby, a bug), the values
        # read from the device are kept: the spool replays them and they arrive once it takes them.
        logger.warning("modbus readings not stored, spooling %d: %s: %s", len(rows), exc.__class__.__name__,
                       exc)
        spool = Spool(SPOOL_NAME)
        try:
            spool.put("resolved", {"rows": rows, "source": Source.MODBUS.value})
        finally:
            spool.close()
        outcome.readings_spooled = len(rows)
        return
    outcome.readings_written = result.accepted + result.duplicates
    outcome.errors.extend(f"reading {r.index}: {r.error}" for r in result.rejected)


def _next_poll_at(device: ModbusDevice, started_at: dt.datetime) -> dt.datetime:
    """Keep the device's cadence (previous slot + period) unless it has fallen behind."""
    interval = dt.timedelta(seconds=device.poll_interval_s)
    scheduled = device.next_poll_at + interval
    return scheduled if scheduled > started_at else started_at + interval


def modbus_device_record_poll(*, device: ModbusDevice, claim_token: str, outcome: PollOutcome) -> None:
    """Record the poll's result on the device and release the claim (only if we still hold it)."""
    finished_at = outcome.finished_at or timezone.now()
    started_at = outcome.started_at or finished_at
    updates: dict[str, object] = {
        "last_polled_at": finished_at,
        "polls_total": device.polls_total + 1,
        "next_poll_at": _next_poll_at(device, started_at),
        "status": ModbusDevice.Status.ONLINE if outcome.reachable else ModbusDevice.Status.OFFLINE,
        "last_error": "; ".join(outcome.errors)[:ERROR_TEXT_MAX_CHARS],
        "claimed_until": None,
        "claim_token": "",
    }
    if outcome.ok:
        updates.update(last_success_at=finished_at, polls_ok=device.polls_ok + 1, consecutive_failures=0)
    else:
        updates["consecutive_failures"] = device.consecutive_failures + 1
    # Counters are incremented from the row we loaded: only the claim holder writes them.
    # One audit row per poll, holding the claim's release and the outcome together: a device on
    # the default 60 s interval adds 1 440 rows a day, the least that records every state change
    # it goes through (status, last error, counters), with no separate row for claim and release.
    claimed = ModbusDevice.objects.filter(pk=device.pk, claim_token=claim_token)
    audit.audited_update(claimed, action=POLL_AUDIT_ACTION, **updates)


def modbus_device_poll(
    *,
    device_id: int,
    claim_token: str,
    write: bool = True,
    sleep: Callable[[float], None] | None = None,
) -> PollOutcome:
    """Poll one claimed device. Runs inside the device's enterprise scope (TenantTask or command).

    `write=False` reads and decodes without storing readings or state (for trying a new map).
    """
    outcome = PollOutcome(device_id=device_id, started_at=timezone.now())
    device = ModbusDevice.objects.filter(pk=device_id, claim_token=claim_token).first()
    if device is None or not claim_token:
        outcome.claimed = False
        return outcome
    specs = device_point_specs(device)
    blocks = plan_reads(specs)
    settings = ConnectionSettings.from_device(device)
    try:
        connection_kwargs = {"sleep": sleep} if sleep else {}
        with DeviceConnection(settings, **connection_kwargs) as connection:
            _read_points(connection, blocks, outcome)
            outcome.requests = connection.requests_sent
        # One timestamp per poll: the readings of one device belong to one instant.
        ts = outcome.started_at.replace(microsecond=0)  # type: ignore[union-attr]
        rows = [
            ResolvedReading(meter_id=r.point.meter_id, ts=ts, value=r.value, quality=Quality.OK)
            for r in outcome.points
            if r.value is not None
        ]
        if write:
            _write_readings(rows, outcome)
    except Exception as exc:  # whatever went wrong is recorded on the device, never lost in a log only
        logger.exception("modbus poll of device %s failed", device_id)
        outcome.errors.append(f"{exc.__class__.__name__}: {exc}")
    outcome.finished_at = timezone.now()
    if not write:
        # A trial read stores nothing but releases its claim: that is its one audit row.
        audit.audited_update(
            ModbusDevice.objects.filter(pk=device.pk, claim_token=claim_token),
            action=POLL_AUDIT_ACTION,
            claimed_until=None,
            claim_token="",
        )
        return outcome
    try:
        modbus_device_record_poll(device=device, claim_token=claim_token, outcome=outcome)
    except DatabaseError as exc:
        # The database is down or refuses writes: the readings are in the spool and the claim
        # expires by itself.
        logger.warning("could not record poll state of device %s: %s", device_id, exc)
    return outcome


def modbus_spool_drain() -> int:
    """One bounded pass over the Modbus spool (see metering.ingest.spool). Returns the batches drained."""
    spool = Spool(SPOOL_NAME)
    try:
        drained = spool.drain() if len(spool) else 0
    finally:
        spool.close()
    if drained:
        logger.info("drained %d spooled modbus batch(es)", drained)
    return drained
