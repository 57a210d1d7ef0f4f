"""Edge middleware: request context for the audit trail, second factor, and tenant scope."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import lru_cache

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from ipware import get_client_ip
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from portal import audit
from portal.access import lacks_second_factor, reach_scope
from portal.api.clients import authenticate_key
from portal.api.errors import is_api_request, json_error
from portal.models import AuditEntry
from portal.outage import database_unavailable_response, is_database_unavailable

# More of our own proxies in a row than any deployment chains; bounds the walk along the header.
MAX_TRUSTED_PROXY_HOPS = 10
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _trusted_networks(entries: tuple[str, ...]) -> tuple[IpNetwork, ...]:
    return tuple(ipaddress.ip_network(entry) for entry in entries)  # validated by the settings


def _is_trusted_proxy(address: str, networks: tuple[IpNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # a dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d
    return any(ip.version == network.version and ip in network for network in networks)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, for the audit trail and for django-axes (AXES_CLIENT_IP_CALLABLE).

    The peer (REMOTE_ADDR) is the client, unless it is one of TRUSTED_PROXIES. Only then is
    X-Forwarded-For read, and from the right: each proxy appends the address it was reached
    from, so the rightmost entry that is not one of our proxies is the client, and whatever a
    client wrote into the header itself (further left) is never believed. django-ipware reads
    the header; the hop count picks the entry.
    """
    peer = request.META.get("REMOTE_ADDR") or None
    networks = _trusted_networks(tuple(settings.TRUSTED_PROXIES))
    if peer is None or not _is_trusted_proxy(peer, networks):
        return peer
    address = peer
    for hops in range(MAX_TRUSTED_PROXY_HOPS):
        forwarded, _routable = get_client_ip(
            request, proxy_count=hops, request_header_order=["HTTP_X_FORWARDED_FOR"], strict=False
        )
        if forwarded is None:  # no (further) entry: the last address reached is all there is
            break
        address = forwarded
        if not _is_trusted_proxy(forwarded, networks):
            break
    return address


def channel_for(path: str) -> str:
    if path.startswith("/admin/"):
        return AuditEntry.Channel.ADMIN
    if path.startswith("/api/"):
        return AuditEntry.Channel.API
    return AuditEntry.Channel.WEB


class RequestContextMiddleware:
    """Fill the audit context (who, from where, through which channel) for the request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        with audit.audit_context(
            actor=user if user is not None and user.is_authenticated else None,
            channel=channel_for(request.path),
            ip_address=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:255],
        ):
            return self.get_response(request)


def _api_token_user(request: HttpRequest):  # type: ignore[no-untyped-def]
    """The user of an `Authorization: Token …` header, or the API client of an `Api-Key …` one,
    so API scope is set at the edge too. A bad credential scopes nothing; DRF refuses it."""
    try:
        result = TokenAuthentication().authenticate(request)  # type: ignore[arg-type]
        if result:
            return result[0]
        return authenticate_key(request)
    except AuthenticationFailed:
        return None


class ReachMiddleware:
    """Switch on the tenant scope of the acting user for the whole request (web, admin, API)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (user is None or not user.is_authenticated) and request.path.startswith("/api/"):
            try:
                token_user = _api_token_user(request)
            except DatabaseError as exc:
                # The token cannot be checked: an outage, answered as one (503), not a 500.
                if not is_database_unavailable(exc):
                    raise
                return database_unavailable_response(request)
            if token_user is not None:
                user = token_user
                audit.set_actor(token_user)
        with reach_scope(user) as reach:
            request.reach = reach  # type: ignore[attr-defined]
            return self.get_response(request)


class SecondFactorMiddleware:
    """A session the access policy asks a second factor of (`portal.access.needs_second_factor`)
    passes TOTP before anything else: pages send it to the code page, and every API route
    answers 403 in the error shape, so the session cookie is no way around the second factor.
    API tokens are only issued after the same check (portal/api/auth.py)."""

    EXEMPT_PREFIXES = ("/static/", "/i18n/", "/favicon")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is None or request.path.startswith(self.EXEMPT_PREFIXES) or not lacks_second_factor(user):
            return self.get_response(request)
        if is_api_request(request):
            return json_error(403, "otp_required",
                              _("该账户须先在网页上完成动态口令验证（双因素认证），或使用接口令牌。"))
        exempt = {reverse("portal:otp_setup"), reverse("portal:otp_verify"), reverse("portal:logout")}
        if request.path not in exempt:
            return redirect("portal:otp_verify")
        return self.get_response(request)
