"""Login, logout and lockout."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from portal.api.errors import error_body


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
    pass
