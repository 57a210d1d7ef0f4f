"""Gateway token pages: issue and revoke the tokens gateways push and publish with."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from metering.models import GatewayToken
from metering.registry.forms import (
    GatewayTokenForm,
)
from metering.registry.views.meters import (
    _choose_enterprise,
    _context,
    _object,
    _page_enterprise,
    _url,
)

# --- gateway tokens ---------------------------------------------------------------------------------


@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    """Tokens by prefix; a POST issues one and shows its value on this response only, never again."""
    from metering.registry.tokens import can_manage_gateway_tokens, gateway_token_create

    enterprise = _page_enterprise(request)
    if enterprise is None:
        return _choose_enterprise(request, _("网关令牌"), "metering:token_list")
    can_manage = can_manage_gateway_tokens(request.user, enterprise)
    form = GatewayTokenForm(request.POST or None)
    issued = None
    if request.method == "POST":
        if not can_manage:
            raise PermissionDenied
        if form.is_valid():
            token, plain = gateway_token_create(
                actor=request.user, enterprise=enterprise, name=form.cleaned_data["name"]
            )
            issued = {"token": token, "plain": plain}
            form = GatewayTokenForm()
    tokens = (GatewayToken.objects.filter(enterprise=enterprise).select_related("enterprise")
              .order_by("-created_at"))
    response = render(
        request,
        "metering/token_list.html",
        _context(request, enterprise, tokens=tokens, form=form, issued=issued, can_manage=can_manage),
    )
    if issued is not None:
        response["Cache-Control"] = "no-store"  # the plain token must not linger in any cache
    return response


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    from metering.registry.tokens import gateway_token_revoke

    token = _object(request, GatewayToken.objects.select_related("enterprise"), pk)
    gateway_token_revoke(actor=request.user, token=token)  # raises PermissionDenied for read-only callers
    messages.success(request, _("已吊销令牌“%(name)s”。") % {"name": token})
    return redirect(_url("token_list", token.enterprise))
