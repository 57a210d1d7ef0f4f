"""Gateway token authentication for the ingest API.

`Authorization: Gateway <token>` (or `Bearer <token>`) authenticates as a GatewayPrincipal: the
enterprise the token belongs to, not a user. portal.middleware.ReachMiddleware knows only user
tokens, so the ingest view switches on `enterprise_scope(principal.enterprise_id)` itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from metering.ingest.senders import gateway_token_for_secret, gateway_token_mark_used
from metering.models import GatewayToken
from portal.models import Enterprise


@dataclass(frozen=True)
class GatewayPrincipal:
    """Who posts when a gateway posts: an enterprise, through one of its tokens."""

    enterprise_id: int
    token_id: int
    token_name: str
    is_authenticated: bool = True
    is_active: bool = True
    is_anonymous: bool = False
    is_superuser: bool = False
    is_staff: bool = False
    role: str = ""
    pk: None = None

    def __str__(self) -> str:
        return f"gateway {self.token_name} (enterprise {self.enterprise_id})"


class GatewayTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("gateway", "bearer")

    def authenticate(self, request: Request) -> tuple[GatewayPrincipal, GatewayToken] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower().decode("latin-1") not in self.keywords:
            return None
        scheme = header[0].lower().decode("latin-1")
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("令牌格式错误：应为 “Gateway <令牌>”。"))
        try:
            plain = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(_("令牌格式错误。")) from None
        token = gateway_token_for_secret(plain)
        if token is None:
            if scheme == "bearer":
                return None  # may be another scheme's bearer token; IsAuthenticated answers 401
            raise exceptions.AuthenticationFailed(_("网关令牌无效。"))
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed(_("网关令牌已吊销。"))
        require_enterprise_sends(token.enterprise)
        gateway_token_mark_used(token=token)
        principal = GatewayPrincipal(
            enterprise_id=token.enterprise_id, token_id=token.pk, token_name=token.name
        )
        return principal, token

    def authenticate_header(self, request: Request) -> str:
        return 'Gateway realm="api"'


def require_enterprise_sends(enterprise: Enterprise) -> None:
    """403 unless the enterprise may send readings (only approved ones do; see Enterprise)."""
    if not enterprise.may_send_readings:
        raise exceptions.PermissionDenied(_("该企业未获批准或已停用，不能上传读数。"),
                                          code="enterprise_not_sending")


def principal_enterprise_id(user: Any) -> int | None:
    """The enterprise a request writes readings for, or None when it may not post readings."""
    if isinstance(user, GatewayPrincipal):
        return user.enterprise_id
    from portal.models import ENTERPRISE_ROLES

    if getattr(user, "is_authenticated", False) and getattr(user, "role", None) in ENTERPRISE_ROLES:
        return user.enterprise_id
    return None
