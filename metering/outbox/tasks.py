"""Celery tasks of the outbox: thin wrappers that call services."""

from __future__ import annotations

from celery import shared_task
from django.db import transaction

from portal.celery import SystemTask


# No Celery retry: a failed pass leaves its buckets and messages as they were, and the beat entry
# (OUTBOX_ENQUEUE_INTERVAL_S) runs the next one.
@shared_task(base=SystemTask, name="outbox.tasks.enqueue_outbox", ignore_result=True, acks_late=True,
             max_retries=0)
def enqueue_outbox() -> int:
    """Enqueue finished and recomputed buckets of every enterprise each enabled endpoint serves
    (SystemTask: the endpoints are platform-wide; each enterprise's work runs in its own scope).
    Queues a delivery pass once the new messages are committed."""
    from metering.outbox.services import outbox_enqueue_due, queue_delivery

    run = outbox_enqueue_due()
    if run.created or run.revised:
        transaction.on_commit(queue_delivery)
    return run.created + run.revised


# acks_late: a pass lost with its worker is redelivered; its claims lapse after their lease anyway.
@shared_task(base=SystemTask, name="outbox.tasks.deliver_outbox", ignore_result=True, acks_late=True,
             max_retries=0)
def deliver_outbox() -> int:
    """Deliver one bounded batch of due messages (SystemTask: the due messages of every tenant are
    one queue; each names its enterprise). Queues itself again while the batch was full."""
    from metering.outbox.services import OUTBOX_DELIVER_BATCH, outbox_deliver_due

    run = outbox_deliver_due(limit=OUTBOX_DELIVER_BATCH)
    if run.claimed >= OUTBOX_DELIVER_BATCH and run.deferred == 0:
        deliver_outbox.delay()
    return run.acknowledged
