"""API clients: machine tokens with scopes and a reach, beside the user tokens of /api/v1/auth/token/.

Clients send `Authorization: Api-Key <key>`. A platform admin creates the client in the admin
(portal/admin.py), where the key is shown once; only its SHA-512 hash is stored.

Which library. Two well-kept ones fit "hashed tokens that can expire":

- django-rest-knox issues tokens *to users* (`AuthToken.user` is required), for logins that
  come and go: every API client would need a fake person with a role, and scopes and a reach
  would still have to be bolted on beside it.
- djangorestframework-api-key is made for machine clients: keys belong to no user, the key
  model is ours to extend (`AbstractAPIKey`: prefix, SHA-512 hash, expiry, one-way revocation)
  and it parses the `Api-Key` header. It ships permissions, not an authentication class, so
  this module adds the thin authentication below, which turns a valid key into an
  `ApiClientActor` whose reach `portal.access.reach_for` computes from the client.

We use djangorestframework-api-key. Key generation, hashing and header parsing are the
library's; what is ours is who the client is (`portal.models.ApiClient`: name, organisation,
reach, scopes, allow-list), the reach rule (`portal.access`), and the scope permission here.

Scopes. Every API view that an API client may call names the one scope it needs in one place,
its `api_client_scope` attribute; `ApiClientScope` (a DRF permission, in the default
permission classes and in `TenantViewSetMixin`) refuses an API client on a view that names
none, on a scope the client lacks, and on any method that is not a read: API clients never
write. People (session and user tokens) are not affected by scopes; their role decides.

Second factor. People who reach beyond one enterprise pass TOTP (portal.access). A machine has
no one to type a code, so API clients have no second factor. Their control is instead: a
random 32-character secret (about 190 bits) that exists in clear only in the client's store,
an expiry date, scopes limited to reads, a reach no wider than asked, revocation that takes
effect on the next request, and an optional allow-list of source addresses (`allowed_networks`,
checked against the address `portal.middleware.client_ip` trusts). Creation and revocation
are platform-admin-only and leave audit rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django_scopes import scopes_disabled
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework_api_key.permissions import KeyParser

from portal.models import ApiClient, ApiClientActor

KEYWORD = "Api-Key"
# Recording every request's use would write a row per API call; once a minute tells an admin
# what they need (is this key still in use, from where) at a fraction of the writes.
LAST_USED_RESOLUTION_S = 60
# Where the edge (ReachMiddleware) leaves the result of authenticating the request's key, so DRF
# does not check it a second time: (the key as sent, the client or None).
_REQUEST_CACHE_ATTR = "_nengtan_api_client"


def _client_address(request: HttpRequest) -> str | None:
    from portal.middleware import client_ip  # the middleware imports this module

    return client_ip(request)


def client_for_key(key: str) -> ApiClient | None:
    """The usable client holding `key`: not revoked, not expired. None for anything else."""
    # Keys are looked up before any tenant scope exists: the key is what decides the scope.
    with scopes_disabled():
        try:
            client = ApiClient.objects.get_from_key(key)
        except ApiClient.DoesNotExist:
            return None
    return client if isinstance(client, ApiClient) and client.is_usable else None


def record_use(client: ApiClient, address: str | None, now: dt.datetime | None = None) -> None:
    """Note when and from where the client was last used (at most once per LAST_USED_RESOLUTION_S)."""
    now = now or timezone.now()
    last = client.last_used_at
    if last is not None and (now - last).total_seconds() < LAST_USED_RESOLUTION_S:
        return
    # Telemetry, declared unaudited where ApiClient is registered (portal/signals.py): a plain
    # conditional update, so concurrent requests write it once.
    ApiClient.objects.filter(pk=client.pk).update(last_used_at=now, last_used_ip=address)
    client.last_used_at, client.last_used_ip = now, address


def authenticate_key(request: HttpRequest) -> ApiClientActor | None:
    """The actor of the request's `Authorization: Api-Key …` header; None without one.

    Raises AuthenticationFailed for a key that is unknown, revoked, expired, or used from an
    address outside its allow-list. The result is kept on the request for DRF.
    """
    key = KeyParser().get(request)
    if not key:
        return None
    cached = getattr(request, _REQUEST_CACHE_ATTR, None)
    if cached is not None and cached[0] == key:
        client = cached[1]
    else:
        client = client_for_key(key)
        address = _client_address(request)
        if client is not None and not client.allows_address(address):
            client = None
        if client is not None:
            record_use(client, address)
        setattr(request, _REQUEST_CACHE_ATTR, (key, client))
    if client is None:
        # One answer for unknown, revoked, expired and wrong address: which one would help an attacker.
        raise exceptions.AuthenticationFailed(_("接口密钥无效、已吊销、已过期，或不允许从该地址使用。"))
    return ApiClientActor(client)


class ApiClientAuthentication(BaseAuthentication):
    """`Authorization: Api-Key <key>` → an `ApiClientActor` (request.user), its `ApiClient` (request.auth)."""

    def authenticate(self, request: Request) -> tuple[ApiClientActor, ApiClient] | None:
        actor = authenticate_key(request._request)
        return None if actor is None else (actor, actor.client)

    def authenticate_header(self, request: Request) -> str:
        return KEYWORD


def api_client_of(request: Request) -> ApiClient | None:
    user = getattr(request, "user", None)
    return user.client if isinstance(user, ApiClientActor) else None


class ApiClientScope(BasePermission):
    """API clients only: a read, on a view that names its scope (`api_client_scope`), which the
    client holds. Everyone else passes (their role decides, elsewhere)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        client = api_client_of(request)
        if client is None:
            return True
        scope = getattr(view, "api_client_scope", None)
        if request.method not in SAFE_METHODS:
            self.message = _("接口客户端只能读取数据。")
            return False
        if scope is None:
            self.message = _("接口客户端不能使用该接口。")
            return False
        if not client.has_scope(scope):
            self.message = _("该接口密钥没有“%(scope)s”权限范围。") % {"scope": scope}
            return False
        return True


class ApiClientAuthenticationScheme(OpenApiAuthenticationExtension):
    """Documents the key in the OpenAPI security schemes (/api/v1/schema/)."""

    target_class = "portal.api.clients.ApiClientAuthentication"
    name = "apiClientKey"

    def get_security_requirement(self, auto_schema: Any) -> Any:
        # Listed only where an API client may call: a read on a view that names its scope.
        scope = getattr(auto_schema.view, "api_client_scope", None)
        if scope is None or auto_schema.method.upper() not in SAFE_METHODS:
            return None
        return {self.name: []}

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "API client key, created by a platform admin: `Authorization: Api-Key <key>`. "
                "Read-only; limited to the client's scopes and reach."
            ),
        }
