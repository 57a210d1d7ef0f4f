"""Login, logout, lockout, password change and the second factor (TOTP)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlencode

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal import audit
from portal.api.errors import error_body
from portal.forms import TokenForm
from portal.models import User

# The name of the one authenticator app device each user may enrol from the portal.
TOTP_DEVICE_NAME = "authenticator"
QR_SCALE = 4


class AuthenticatedRequest(HttpRequest):
    """What a @login_required view receives (django-stubs types request.user as possibly anonymous)."""

    user: User


def lockout_response(request: HttpRequest, credentials: dict[str, Any] | None = None, *args: Any,
                     **kwargs: Any) -> HttpResponse:
    """What a locked-out login attempt sees: the same words on pages and in the API."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    message = _("登录失败次数过多，账户已锁定 %(minutes)d 分钟，请稍后再试。") % {"minutes": minutes}
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(429, "locked_out", message), status=429)
    return render(request, "portal/locked_out.html", {"message": message}, status=429)


class LoginView(auth_views.LoginView):
    template_name = "portal/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    """POST only (Django's default), so a link or an image can never log anyone out."""


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "portal/password_change.html"
    success_url = reverse_lazy("portal:account")

    def form_valid(self, form):  # type: ignore[no-untyped-def]
        response = super().form_valid(form)
        messages.success(self.request, _("密码已修改。"))
        return response


def _next_url(request: HttpRequest, default: str) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()},
                                                     require_https=request.is_secure()):
        return candidate
    return default


def _wrong_code_message(device: TOTPDevice) -> str:
    """Why a code was refused: wrong, or the device is throttled after repeated wrong codes."""
    allowed, details = device.verify_is_allowed()
    locked_until = (details or {}).get("locked_until")
    if not allowed and locked_until is not None:
        seconds = max(1, int((locked_until - timezone.now()).total_seconds()))
        return _("错误次数过多，请在 %(seconds)d 秒后重试。") % {"seconds": seconds}
    return _("验证码不正确或已过期，请用验证器中的最新验证码重试。")


def confirmed_devices(user: Any) -> list[TOTPDevice]:
    return list(TOTPDevice.objects.devices_for_user(user, confirmed=True))


@login_required
@require_http_methods(["GET", "POST"])
def otp_setup(request: AuthenticatedRequest) -> HttpResponse:
    """Enrol an authenticator app: show the QR code and secret of an unconfirmed device, then
    confirm it with a first code (which also verifies this session)."""
    user = request.user
    if confirmed_devices(user) and request.method == "GET":
        return render(request, "portal/otp_setup.html", {"enabled": True})
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["token"]):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            otp_login(request, device)
            audit.record("otp_enabled", obj=request.user, actor=request.user)
            messages.success(request, _("双因素认证已启用。"))
            return redirect(_next_url(request, reverse("portal:account")))
        form.add_error("token", _wrong_code_message(device))
    qr_svg = segno.make(device.config_url).svg_inline(scale=QR_SCALE)
    secret = base64.b32encode(device.bin_key).decode("ascii")
    return render(request, "portal/otp_setup.html", {
        "enabled": False, "form": form, "qr_svg": qr_svg, "secret": secret,
        "next": _next_url(request, ""),
    })


@login_required
@require_http_methods(["GET", "POST"])
def otp_verify(request: AuthenticatedRequest) -> HttpResponse:
    """Second step of login: a code from the enrolled authenticator app."""
    devices = confirmed_devices(request.user)
    next_url = _next_url(request, reverse("portal:home"))
    if not devices:
        return redirect(f"{reverse('portal:otp_setup')}?{urlencode({'next': next_url})}")
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        token = form.cleaned_data["token"]
        device = next((d for d in devices if d.verify_token(token)), None)
        if device is not None:
            otp_login(request, device)
            audit.record("otp_verified", obj=request.user, actor=request.user)
            return redirect(next_url)
        audit.record("otp_failed", obj=request.user, actor=request.user)
        form.add_error("token", _wrong_code_message(devices[0]))
    return render(request, "portal/otp_verify.html", {"form": form, "next": next_url})
