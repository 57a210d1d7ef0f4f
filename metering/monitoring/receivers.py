"""Monitoring's receivers: ingest announces each stored batch (`readings_written`), monitoring
marks the touched ranges dirty and queues their recompute once the batch commits."""

from __future__ import annotations

import datetime as dt
import logging
import math
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from metering.monitoring.rollups import rollup_ranges_mark

logger = logging.getLogger(__name__)

# The cache key that says "a recompute task is queued and has not started": batches arriving
# meanwhile queue nothing more (the task will see their ranges). It expires this long after the
# task was due, so a task lost on its way never blocks queueing; the beat entry is the net beneath
# both.
ROLLUP_QUEUED_KEY = "monitoring:rollups:queued"
ROLLUP_QUEUED_TTL_S = 60


def mark_rollups_dirty(
    sender: Any, *, ranges: dict[int, tuple[dt.datetime, dt.datetime]], **kwargs: Any
) -> None:
    """Record the batch's (meter, earliest, latest) in its own transaction; queue after commit."""
    rollup_ranges_mark(ranges=ranges)
    transaction.on_commit(queue_rollup_recompute)


def queue_rollup_recompute() -> None:
    """Queue one recompute, due ROLLUP_RECOMPUTE_COALESCE_S from now, unless one is queued already
    (the batches of a burst then share a run). Never fails the caller: the readings are committed
    and their ranges marked, so a broker outage only delays the rollups to the next beat."""
    from metering.monitoring.tasks import recompute_rollups

    coalesce_s = float(getattr(settings, "ROLLUP_RECOMPUTE_COALESCE_S", 0.0))
    try:
        if cache.add(ROLLUP_QUEUED_KEY, 1, ROLLUP_QUEUED_TTL_S + math.ceil(coalesce_s)):
            if coalesce_s > 0:
                recompute_rollups.apply_async(countdown=coalesce_s)
            else:
                recompute_rollups.delay()
    except Exception:
        logger.warning("could not queue the rollup recompute; the beat entry will run it", exc_info=True)


def prepare_rollup_queue(sender: Any, **kwargs: Any) -> None:
    """Before a collector's first batch: import the task, reach the cache and the task queue once,
    so `queue_rollup_recompute` after its first commit costs what it costs after every other."""
    from metering.monitoring.tasks import recompute_rollups

    cache.get(ROLLUP_QUEUED_KEY)
    with recompute_rollups.app.producer_or_acquire() as producer:
        producer.connection.ensure_connection(max_retries=1)
