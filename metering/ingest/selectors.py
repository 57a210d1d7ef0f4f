"""Reads of what ingest kept: the quarantine."""

from __future__ import annotations

from django.db.models import QuerySet

from metering.models import QuarantinedMessage
from portal.models import Enterprise


def quarantine_for_enterprise(
    enterprise: Enterprise | int, *, resolved: bool | None = None
) -> QuerySet[QuarantinedMessage]:
    """The enterprise's quarantined inputs, newest first (`resolved=None`: all of them)."""
    enterprise_id = enterprise if isinstance(enterprise, int) else enterprise.pk
    queryset = QuarantinedMessage.objects.filter(enterprise_id=enterprise_id)
    if resolved is not None:
        queryset = queryset.filter(resolved=resolved)
    return queryset.order_by("-received_at", "-id")
