"""Gateway tokens: the one credential an enterprise's gateway uses for HTTP ingest and MQTT.

A token is `ngw_` + 43 URL-safe characters (256 random bits). It is shown once, when created;
the database keeps only:

- `token_sha256`: hex SHA-256 of the whole token, for the HTTP lookup (a 256-bit random secret
  needs no slow hash; the lookup must be one indexed query). Hashing and looking up a secret is
  ingest's "who is sending" (`metering.ingest.senders`), which the collectors use;
- `mosquitto_password_hash`: the token hashed the way Mosquitto 2.x `mosquitto_passwd` writes
  a password (its default, sha512-pbkdf2), so the portal can write the broker's password file:

      $7$<iterations>$<base64(salt)>$<base64(hash)>

  `7` names PBKDF2-HMAC-SHA512; iterations is decimal (mosquitto_passwd uses 101); salt is 12
  random bytes; hash is the 64-byte PBKDF2-HMAC-SHA512 of the UTF-8 password with that salt and
  iteration count; both base64 with padding (standard alphabet). The password-file line is
  `<username>:<that string>`. Example from `mosquitto_passwd -b -c /tmp/x user pass`:
  `user:$7$101$kXFyeKzPvVhRxIY/$doyYMjO8gAA15IOO3qDWbo27bW1U…Q6HSA==`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from metering.ingest.senders import token_sha256
from metering.models import GatewayToken
from portal.models import Enterprise, Role

TOKEN_PREFIX = "ngw_"  # noqa: S105 - a marker, not a secret
TOKEN_RANDOM_BYTES = 32
TOKEN_PREFIX_SHOWN_CHARS = 10
MOSQUITTO_PBKDF2_ITERATIONS = 101  # what mosquitto_passwd 2.x writes by default
MOSQUITTO_SALT_BYTES = 12
MOSQUITTO_HASH_ID = "7"

# Sent after commit whenever the set of valid tokens of an enterprise changes (created, revoked),
# so the MQTT side can rewrite the broker's password file. Arguments: enterprise_id.
gateway_tokens_changed = Signal()


def mosquitto_password_hash(
    password: str, *, salt: bytes | None = None, iterations: int = MOSQUITTO_PBKDF2_ITERATIONS
) -> str:
    """The `$7$…` form mosquitto_passwd writes for `password` (see the module docstring)."""
    salt = salt if salt is not None else secrets.token_bytes(MOSQUITTO_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return "${}${}${}${}".format(
        MOSQUITTO_HASH_ID,
        iterations,
        base64.b64encode(salt).decode("ascii"),
        base64.b64encode(digest).decode("ascii"),
    )


def mosquitto_password_matches(password: str, encoded: str) -> bool:
    """Check a password against a `$7$` hash (the check the broker performs)."""
    try:
        _, hash_id, iterations, salt_b64, hash_b64 = encoded.split("$")
        if hash_id != MOSQUITTO_HASH_ID:
            return False
        salt = base64.b64decode(salt_b64, validate=True)
        expected = base64.b64decode(hash_b64, validate=True)
        digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(digest, expected)


def manages_gateway_tokens(actor: Any) -> bool:
    """Whether the role manages gateway tokens at all: enterprise admins (of an enterprise) and
    platform admins. Staff, officials, experts and gateways only read, within reach."""
    if actor is None or not actor.is_authenticated or not actor.is_active:
        return False
    if actor.is_superuser or actor.role == Role.PLATFORM_ADMIN:
        return True
    return actor.role == Role.ENTERPRISE_ADMIN and actor.enterprise_id is not None


def can_manage_gateway_tokens(actor: Any, enterprise: Enterprise) -> bool:
    """An enterprise's admin manages its gateways; platform admins manage any."""
    if not manages_gateway_tokens(actor):
        return False
    if actor.is_superuser or actor.role == Role.PLATFORM_ADMIN:
        return True
    return actor.enterprise_id == enterprise.pk


@transaction.atomic
def gateway_token_create(*, actor: Any, enterprise: Enterprise, name: str) -> tuple[GatewayToken, str]:
    """Create a token for the enterprise's gateway; returns it with the plain token (shown once)."""
    if not can_manage_gateway_tokens(actor, enterprise):
        raise PermissionDenied
    plain = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_RANDOM_BYTES)
    token = GatewayToken(
        enterprise=enterprise,
        name=name.strip(),
        token_prefix=plain[:TOKEN_PREFIX_SHOWN_CHARS],
        token_sha256=token_sha256(plain),
        mosquitto_password_hash=mosquitto_password_hash(plain),
    )
    token.full_clean()
    token.save()  # metering.signals registers GatewayToken with the audit trail (hashes are blanked)
    enterprise_id = enterprise.pk
    transaction.on_commit(
        lambda: gateway_tokens_changed.send(sender=GatewayToken, enterprise_id=enterprise_id)
    )
    return token, plain


@transaction.atomic
def gateway_token_revoke(*, actor: Any, token: GatewayToken) -> GatewayToken:
    """Revoke a token at once (HTTP and, once the broker's files are rewritten, MQTT)."""
    if not can_manage_gateway_tokens(actor, token.enterprise):
        raise PermissionDenied
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        enterprise_id = token.enterprise_id
        transaction.on_commit(
            lambda: gateway_tokens_changed.send(sender=GatewayToken, enterprise_id=enterprise_id)
        )
    return token
