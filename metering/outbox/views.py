"""The uploads page (/metering/uploads/): where the enterprise's figures go and whether they
arrived. Enterprise users see their own; officials and a park's users read the enterprises in
reach (?enterprise=<id>); only those who may change the enterprise resend failed messages."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from metering.outbox.models import OutboxInterval, OutboxMessage, PlatformEndpoint
from metering.outbox.selectors import endpoint_statuses, messages_for_enterprise
from metering.outbox.services import outbox_resend_failed
from metering.registry.views.meters import _choose_enterprise, _context, _page_enterprise
from portal import access
from portal.models import Enterprise

UPLOAD_PAGE_ROWS = 50


def _endpoint_filter(raw: str | None) -> int | None:
    try:
        return int(raw) if raw else None
    except ValueError:
        return None


@login_required
@require_safe
def upload_list(request: HttpRequest) -> HttpResponse:
    enterprise = _page_enterprise(request)
    if enterprise is None:
        return _choose_enterprise(request, _("数据上传"), "metering:upload_list")
    statuses = endpoint_statuses(enterprise)
    status = request.GET.get("status", "")
    status = status if status in OutboxMessage.Status.values else ""
    interval = request.GET.get("interval", "")
    interval = interval if interval in OutboxInterval.values else ""
    endpoint_id = _endpoint_filter(request.GET.get("endpoint"))
    if endpoint_id not in {item.endpoint.pk for item in statuses}:
        endpoint_id = None
    rows = messages_for_enterprise(enterprise, status=status, interval=interval, endpoint_id=endpoint_id)
    page = Paginator(rows, UPLOAD_PAGE_ROWS).get_page(request.GET.get("page"))
    for message in page.object_list:
        completeness = message.payload.get("completeness") if isinstance(message.payload, dict) else None
        message.completeness_percent = (  # type: ignore[attr-defined]
            round(completeness * 100, 3) if isinstance(completeness, int | float) else None)
    query = request.GET.copy()
    query.pop("page", None)
    return render_page(request, enterprise, statuses=statuses, page=page, query=query.urlencode(),
                       status=status, interval=interval, endpoint_id=endpoint_id)


def render_page(request: HttpRequest, enterprise: Enterprise, **extra: Any) -> HttpResponse:
    return render(request, "metering/upload_list.html", _context(
        request, enterprise,
        can_resend=access.can_change(request.user, enterprise.pk),
        status_choices=OutboxMessage.Status.choices,
        interval_choices=OutboxInterval.choices,
        resendable=sum(item.failed + item.retrying for item in extra["statuses"]),
        **extra,
    ))


@login_required
@require_POST
def upload_resend(request: HttpRequest) -> HttpResponse:
    """Resend the enterprise's failed and waiting messages now (all endpoints, or ?endpoint=)."""
    enterprise = _page_enterprise(request)  # 404 out of reach, 403 read-only
    if enterprise is None or not access.can_change(request.user, enterprise.pk):
        raise PermissionDenied
    endpoint = None
    endpoint_id = _endpoint_filter(request.POST.get("endpoint"))
    if endpoint_id is not None:
        endpoint = PlatformEndpoint.objects.filter(pk=endpoint_id).first()
    count = outbox_resend_failed(enterprise=enterprise, endpoint=endpoint, actor=request.user)
    if count:
        messages.success(request, _("已安排重新发送 %(count)d 条报文。") % {"count": count})
    else:
        messages.info(request, _("没有需要重新发送的报文。"))
    return HttpResponseRedirect(f"{reverse('metering:upload_list')}?enterprise={enterprise.pk}")
