"""Walk entries for the outbox (metering/outbox): the uploads page's resend, the messages' admin."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from django_scopes import scopes_disabled

from metering.outbox.models import OutboxMessage, PlatformEndpoint
from tests.tenancy_objects import Attempt, out_of_reach_model, write_attempts

_serial = itertools.count(1)


def walk_endpoint() -> PlatformEndpoint:
    endpoint, _created = PlatformEndpoint.objects.get_or_create(
        name="巡检上传平台", defaults={"url": "https://walk-platform.example.invalid/ingest"})
    return endpoint


def failed_message_for(enterprise: Any) -> OutboxMessage:
    """A message the platform refused: what "resend failed" would put back in the queue."""
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=next(_serial))
    with scopes_disabled():  # test setup
        return OutboxMessage.objects.create(
            endpoint=walk_endpoint(), enterprise=enterprise, interval="day", bucket_start=start,
            payload={"schema": "nengtan.outbox.v1"}, payload_hash="0" * 64, source_fingerprint="0" * 64,
            status=OutboxMessage.Status.FAILED, attempts=1, last_error="HTTP 422: 巡检拒收",
            last_status_code=422)


out_of_reach_model("outbox.OutboxMessage")(lambda world: failed_message_for(world.outsider))


@write_attempts("metering:upload_resend")
def _resend(world: Any, own: Any) -> list[Attempt]:
    message = failed_message_for(world.outsider)
    return [
        Attempt("resend the outsider's failed uploads", query={"enterprise": world.outsider.pk}),
        Attempt("resend the outsider's failed uploads to its endpoint",
                query={"enterprise": world.outsider.pk}, data={"endpoint": message.endpoint_id}),
    ]
