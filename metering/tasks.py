"""Celery tasks of the metering app: thin wrappers that call services."""

from __future__ import annotations

from celery import shared_task

from portal.celery import SystemTask, TenantTask


@shared_task(
    base=SystemTask,
    name="metering.tasks.ensure_reading_partitions",
    acks_late=True,
    autoretry_for=(Exception,),
    retry_backoff=60,
    max_retries=5,
)
def ensure_reading_partitions() -> list[str]:
    """Create next months' reading partitions (SystemTask: the readings table spans all tenants)."""
    from metering.storage.partitions import ensure_partitions

    return ensure_partitions()


@shared_task(
    base=SystemTask,
    name="metering.tasks.refresh_broker_credentials",
    acks_late=True,
    autoretry_for=(OSError,),
    retry_backoff=10,
    max_retries=5,
    ignore_result=True,
)
def refresh_broker_credentials() -> int | None:
    """Rewrite Mosquitto's password file and ACL (SystemTask: one file covers every tenant)."""
    from metering.registry.broker import broker_credentials_refresh

    written = broker_credentials_refresh()
    return None if written is None else written.gateway_accounts


# --------------------------------------------------------------------------- Modbus collector

# Devices claimed per dispatch run; the rest wait for the next beat (a few seconds later), so one
# run never floods the queue after an outage.
MODBUS_DISPATCH_BATCH = 500


@shared_task(base=SystemTask, name="metering.tasks.dispatch_due_devices", ignore_result=True)
def dispatch_due_devices() -> int:
    """Claim every due Modbus device and send one `poll_device` task per device.

    A SystemTask on purpose: it looks across all tenants for due devices and hands each poll to a
    TenantTask that runs in the device's enterprise scope. Spooled readings are drained by
    `drain_reading_spools`, apart, so a long backlog never delays a poll.
    """
    from metering.collectors.modbus.polling import modbus_device_claim, modbus_devices_due

    sent = 0
    for device_id, enterprise_id in modbus_devices_due(limit=MODBUS_DISPATCH_BATCH):
        token = modbus_device_claim(device_id=device_id)
        if token:
            poll_device.delay(device_id=device_id, enterprise_id=enterprise_id, claim_token=token)
            sent += 1
    return sent


# A failed poll is recorded on the device and tried again at its next period: Celery must not
# retry it (that would poll twice), and it is acked early because a redelivered poll would find
# its claim still held (and the next period polls anyway).
@shared_task(
    base=TenantTask, name="metering.tasks.poll_device", ignore_result=True, acks_late=False, max_retries=0
)
def poll_device(*, device_id: int, enterprise_id: int, claim_token: str) -> bool:
    """Poll one claimed Modbus device (TenantTask: runs inside `enterprise_id`'s scope)."""
    from metering.collectors.modbus.polling import modbus_device_poll

    return modbus_device_poll(device_id=device_id, claim_token=claim_token).ok


# A drain pass is bounded (metering.ingest.spool.DRAIN_BATCHES_PER_PASS) and beat sends the next one
# seconds later; a failed pass keeps its batches in the spool, so Celery must not retry it.
@shared_task(base=SystemTask, name="metering.tasks.drain_reading_spools", ignore_result=True, max_retries=0)
def drain_reading_spools() -> int:
    """One bounded pass over this node's readings spools (SystemTask: a spool holds batches of every
    tenant; the ingest services scope what they read to each batch's enterprise)."""
    from metering.ingest.spool import drain_spools

    return drain_spools()
