"""Who is sending: the gateway token a collector is handed, found and marked as used.

Ingest's part of a gateway's credential. Issuing and revoking tokens is the registry's business
(`metering.registry.tokens`), but knowing which enterprise a secret speaks for is what every
collector needs before it can hand readings to ingest, so it lives here, where collectors may
import it (see the import contracts in pyproject.toml).
"""

from __future__ import annotations

import datetime as dt
import hashlib

from django.db.models import Q
from django.utils import timezone
from django_scopes import scopes_disabled

from metering.models import GatewayToken
from portal import audit

# last_used_at is for people ("is this gateway alive?"); writing it on every request would cost
# a row lock per batch, so it is refreshed at most this often.
LAST_USED_RESOLUTION_S = 300


def token_sha256(plain_token: str) -> str:
    """The hex SHA-256 a token is stored and looked up by (a 256-bit random secret needs no slow
    hash; the lookup must be one indexed query)."""
    return hashlib.sha256(plain_token.encode("utf-8")).hexdigest()


def gateway_token_for_secret(plain_token: str) -> GatewayToken | None:
    """The token (revoked or not, with its enterprise) whose secret this is, or None."""
    # The token is what tells us the tenant, so it is looked up before any scope exists.
    with scopes_disabled():
        return (GatewayToken.objects.filter(token_sha256=token_sha256(plain_token))
                .select_related("enterprise").first())


def gateway_token_mark_used(*, token: GatewayToken) -> None:
    """Record that the gateway used its token, at most once per LAST_USED_RESOLUTION_S."""
    now = timezone.now()
    stale = now - dt.timedelta(seconds=LAST_USED_RESOLUTION_S)
    if token.last_used_at is not None and token.last_used_at >= stale:
        return
    # Audited like any write, and so at most one row per token per LAST_USED_RESOLUTION_S:
    # the filter is re-checked under the row lock, so concurrent requests write it once.
    with scopes_disabled():  # the token row is already ours: the caller just authenticated with it
        audit.audited_update(
            GatewayToken.objects.filter(pk=token.pk).filter(
                Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale)
            ),
            last_used_at=now,
        )
