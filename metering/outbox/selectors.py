"""Reads of the outbox for the uploads page. They run under the scope the edge switched on;
the page fetches the enterprise through portal.access first."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Max, Q, QuerySet

from metering.outbox.models import OutboxInterval, OutboxMessage, PlatformEndpoint
from metering.outbox.services import BACKLOG_STATUSES, endpoint_serves
from portal.models import Enterprise

# Failures shown per endpoint on the status card; the list below the cards has them all.
RECENT_FAILURES_SHOWN = 5


@dataclass
class EndpointStatus:
    endpoint: PlatformEndpoint
    serves: bool
    backlog: int = 0
    retrying: int = 0
    failed: int = 0
    acknowledged: int = 0
    # Interval → start of the latest acknowledged bucket.
    last_acknowledged: dict[str, dt.datetime] = field(default_factory=dict)
    recent_failures: list[OutboxMessage] = field(default_factory=list)

    @property
    def last_acknowledged_rows(self) -> list[tuple[str, dt.datetime | None]]:
        return [(str(choice.label), self.last_acknowledged.get(choice.value))
                for choice in OutboxInterval if choice.value in self.endpoint.intervals
                or choice.value in self.last_acknowledged]


def endpoint_statuses(enterprise: Enterprise) -> list[EndpointStatus]:
    """Every endpoint that serves the enterprise or holds messages of it, with its delivery state."""
    messages = OutboxMessage.objects.filter(enterprise_id=enterprise.pk)
    counts = {
        row["endpoint_id"]: row
        for row in messages.values("endpoint_id").annotate(
            backlog=Count("id", filter=Q(status__in=BACKLOG_STATUSES)),
            retrying=Count("id", filter=Q(status=OutboxMessage.Status.RETRYING)),
            failed=Count("id", filter=Q(status=OutboxMessage.Status.FAILED)),
            acknowledged=Count("id", filter=Q(status=OutboxMessage.Status.ACKNOWLEDGED)),
        )
    }
    endpoints = PlatformEndpoint.objects.filter(Q(enabled=True) | Q(pk__in=list(counts))).select_related(
        "region").order_by("name")
    statuses = []
    for endpoint in endpoints:
        serves = endpoint.enabled and endpoint_serves(endpoint, enterprise)
        if not serves and endpoint.pk not in counts:
            continue
        row: dict[str, Any] = dict(counts.get(endpoint.pk, {}))
        statuses.append(EndpointStatus(
            endpoint=endpoint, serves=serves, backlog=row.get("backlog", 0), retrying=row.get("retrying", 0),
            failed=row.get("failed", 0), acknowledged=row.get("acknowledged", 0)))
    by_pk = {status.endpoint.pk: status for status in statuses}
    acknowledged = (messages.filter(status=OutboxMessage.Status.ACKNOWLEDGED)
                    .values("endpoint_id", "interval").annotate(last=Max("bucket_start")))
    for latest in acknowledged:
        if latest["endpoint_id"] in by_pk:
            by_pk[latest["endpoint_id"]].last_acknowledged[latest["interval"]] = latest["last"]
    for status in statuses:
        if status.retrying or status.failed:
            status.recent_failures = list(
                messages.filter(endpoint_id=status.endpoint.pk,
                                status__in=(OutboxMessage.Status.RETRYING, OutboxMessage.Status.FAILED))
                .order_by("-last_attempt_at", "-pk")[:RECENT_FAILURES_SHOWN])
    return statuses


def messages_for_enterprise(enterprise: Enterprise, *, status: str = "", interval: str = "",
                            endpoint_id: int | None = None) -> QuerySet[OutboxMessage]:
    """The enterprise's messages, newest bucket first, optionally of one status, interval, endpoint."""
    queryset = OutboxMessage.objects.filter(enterprise_id=enterprise.pk).select_related("endpoint")
    if status:
        queryset = queryset.filter(status=status)
    if interval:
        queryset = queryset.filter(interval=interval)
    if endpoint_id is not None:
        queryset = queryset.filter(endpoint_id=endpoint_id)
    return queryset.order_by("-bucket_start", "endpoint__name", "interval", "pk")
