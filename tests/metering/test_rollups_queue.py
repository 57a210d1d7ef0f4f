"""How ingest queues the rollup recompute: one run per burst, due ROLLUP_RECOMPUTE_COALESCE_S after
the batch that queued it (real Redis: the broker's own queue is read)."""

from __future__ import annotations

import datetime as dt
import json
import os

import pytest
import redis
from django.core.cache import cache

from metering.monitoring.receivers import ROLLUP_QUEUED_KEY, queue_rollup_recompute

QUEUE = "celery"


@pytest.fixture
def broker():  # type: ignore[no-untyped-def]
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    client.delete(QUEUE)
    cache.delete(ROLLUP_QUEUED_KEY)
    yield client
    client.delete(QUEUE)
    cache.delete(ROLLUP_QUEUED_KEY)


@pytest.mark.parametrize("coalesce_s", [2.0, 0.0])
def test_a_burst_of_batches_queues_one_run_due_after_the_coalescing_interval(  # type: ignore[no-untyped-def]
    broker, settings, coalesce_s
) -> None:
    settings.ROLLUP_RECOMPUTE_COALESCE_S = coalesce_s
    before = dt.datetime.now(dt.UTC)
    for _batch in range(5):  # five batches committed in a burst
        queue_rollup_recompute()
    after = dt.datetime.now(dt.UTC)
    messages = [json.loads(raw) for raw in broker.lrange(QUEUE, 0, -1)]
    assert len(messages) == 1
    headers = messages[0]["headers"]
    assert headers["task"] == "monitoring.tasks.recompute_rollups"
    if coalesce_s:
        eta = dt.datetime.fromisoformat(headers["eta"])
        wait = dt.timedelta(seconds=coalesce_s)
        assert before + wait <= eta <= after + wait
    else:
        assert headers.get("eta") is None
    # Once the run starts (it drops the marker), the next batch queues the next run.
    cache.delete(ROLLUP_QUEUED_KEY)
    queue_rollup_recompute()
    assert broker.llen(QUEUE) == 2
