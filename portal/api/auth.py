"""API tokens: `POST /api/v1/auth/token/` exchanges a user name and password for a token,
`DELETE` revokes the caller's token. Clients then send `Authorization: Token <key>`.

Passwords are checked through `django.contrib.auth.authenticate(request=…)`, so django-axes
counts failures and locks out exactly as on the login page (its lockout callable answers the
API error shape with 429), and the audit trail records failed attempts from the same signal.
"""

from __future__ import annotations

from typing import Any

from axes.helpers import get_lockout_response
from django.contrib.auth import authenticate
from django.contrib.auth.models import update_last_login
from django.contrib.auth.signals import user_login_failed
from django.http import HttpResponseBase
from django.utils.translation import gettext_lazy as _
from django_otp import match_token
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from portal import audit
from portal.access import needs_second_factor
from portal.api.permissions import IsActiveUser
from portal.api.serializers import TokenRequestSerializer, TokenResponseSerializer
from portal.models import User


class InvalidCredentials(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid_credentials"
    # One answer for a wrong name, a wrong password and an inactive account: which one it was
    # would tell an attacker which accounts exist.
    default_detail = _("用户名或密码错误，或账户已停用。")


class SecondFactorRequired(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "otp_invalid"
    default_detail = _("该账户须提供有效的动态口令（otp_token）。")


class TokenRateThrottle(ScopedRateThrottle):
    """ScopedRateThrottle that reads its rate when asked, not at import, so a changed
    REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] (tests, operations) takes effect."""

    def get_rate(self) -> str | None:
        rates = api_settings.DEFAULT_THROTTLE_RATES
        if self.scope not in rates:
            raise exceptions.APIException(f"No throttle rate set for scope {self.scope!r}.")
        rate = rates[self.scope]
        return None if rate is None else str(rate)


class AuthTokenView(APIView):
    # Token only: a browser session must not obtain or revoke tokens on the side (and session
    # authentication would also demand a CSRF token from programmatic clients).
    authentication_classes = [TokenAuthentication]
    throttle_classes = [TokenRateThrottle]
    throttle_scope = "token"

    def get_permissions(self) -> list[BasePermission]:
        if self.request.method == "POST":
            return [AllowAny()]
        return [IsActiveUser()]

    @extend_schema(
        request=TokenRequestSerializer,
        responses={200: TokenResponseSerializer, 400: OpenApiResponse(description="wrong credentials"),
                   429: OpenApiResponse(description="locked out or throttled")},
        auth=[],
        summary="Obtain an API token",
    )
    def post(self, request: Request) -> HttpResponseBase:
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        credentials = serializer.validated_data
        django_request = request._request  # axes marks lockout on the Django request, not DRF's wrapper
        user = authenticate(request=django_request, username=credentials["username"],
                            password=credentials["password"])
        if getattr(django_request, "axes_locked_out", False):
            return get_lockout_response(django_request, None, {"username": credentials["username"]})
        if user is None:
            raise InvalidCredentials()
        if needs_second_factor(user):
            self._check_second_factor(django_request, user, credentials)
        token, _created = Token.objects.get_or_create(user=user)
        update_last_login(type(user), user)
        audit.set_actor(user)
        audit.record("login", obj=user, actor=user, changes={"method": "api_token"})
        return Response(TokenResponseSerializer({"token": token.key}).data)

    @staticmethod
    def _check_second_factor(django_request: Any, user: Any, credentials: dict[str, Any]) -> None:
        if match_token(user, credentials.get("otp_token") or "") is not None:
            return
        # A wrong second factor is a failed login: axes counts it and the audit trail records it.
        user_login_failed.send(sender=__name__, request=django_request,
                               credentials={"username": credentials["username"]})
        raise SecondFactorRequired()

    @extend_schema(responses={204: None}, summary="Revoke the caller's API token")
    def delete(self, request: Request) -> Response:
        token, user = request.auth, request.user
        if isinstance(token, Token):
            token.delete()
        audit.record("token_revoked", obj=user if isinstance(user, User) else None, actor=user)
        return Response(status=status.HTTP_204_NO_CONTENT)
