"""Celery tasks of monitoring: thin wrappers that call services."""

from __future__ import annotations

import logging

from celery import shared_task
from django.core.cache import cache

from portal.celery import SystemTask

logger = logging.getLogger(__name__)


# No Celery retry: a failed pass leaves its ranges dirty (claims expire), and the next queued run
# or the beat entry (ROLLUP_RECOMPUTE_INTERVAL_S) takes them again. acks_late: a run lost with its
# worker is redelivered, and its claims lapse after the lease.
@shared_task(
    base=SystemTask,
    name="monitoring.tasks.recompute_rollups",
    ignore_result=True,
    acks_late=True,
    max_retries=0,
)
def recompute_rollups() -> int:
    """Recompute one bounded batch of dirty rollup ranges (SystemTask: the dirty ranges of every
    tenant are one queue; each names its meter). Queues itself again while work remains."""
    from metering.monitoring.receivers import ROLLUP_QUEUED_KEY
    from metering.monitoring.rollups import ROLLUP_RECOMPUTE_BATCH, rollups_recompute_dirty

    try:
        # From here on, a new batch queues a new run: this one may already have claimed past it.
        cache.delete(ROLLUP_QUEUED_KEY)
    except Exception:
        logger.warning("could not clear the rollup queue marker", exc_info=True)
    run = rollups_recompute_dirty(limit=ROLLUP_RECOMPUTE_BATCH)
    if run.claimed >= ROLLUP_RECOMPUTE_BATCH:
        recompute_rollups.delay()
    return run.recomputed
