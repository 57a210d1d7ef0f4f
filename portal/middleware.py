"""Edge middleware: request context for the audit trail, second factor, and tenant scope."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from portal import audit
from portal.access import reach_scope
from portal.models import AuditEntry, Role
from portal.outage import database_unavailable_response, is_database_unavailable

SECOND_FACTOR_ROLES = frozenset({Role.MUNICIPAL_REVIEWER, Role.PROVINCIAL_OFFICER, Role.EXPERT})


def client_ip(request: HttpRequest) -> str | None:
    # REMOTE_ADDR only: X-Forwarded-For is set by clients too, so it is trusted only when a
    # reverse proxy is configured to overwrite REMOTE_ADDR (gunicorn --forwarded-allow-ips).
    return request.META.get("REMOTE_ADDR") or None


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
    """The user of an `Authorization: Token …` header, so API scope is set at the edge too."""
    try:
        result = TokenAuthentication().authenticate(request)  # type: ignore[arg-type]
    except AuthenticationFailed:
        return None
    return result[0] if result else None


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
    """Officials and experts must pass TOTP when REQUIRE_2FA_FOR_OFFICIALS is on."""

    EXEMPT_PREFIXES = ("/static/", "/i18n/", "/api/", "/favicon")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            settings.REQUIRE_2FA_FOR_OFFICIALS
            and user is not None
            and user.is_authenticated
            and user.role in SECOND_FACTOR_ROLES
            and not user.is_verified()
            and not request.path.startswith(self.EXEMPT_PREFIXES)
        ):
            exempt = {reverse("portal:otp_setup"), reverse("portal:otp_verify"), reverse("portal:logout")}
            if request.path not in exempt:
                return redirect("portal:otp_verify")
        return self.get_response(request)
