"""Alarm pages under /metering/alarms/: the enterprise's alarms, acknowledging one with a note,
and the alarm rule of each meter.

Reach as on every registry page (metering/registry/views/meters.py): the enterprise is the
user's own or `?enterprise=<id>` within reach, objects are fetched through the access policy (404
alike for missing and out of reach), and a write by a caller who only reads the enterprise answers
403. Who acknowledges and sets rules is `portal.access.can_handle_alarms`: officials read only.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from metering.alarms import selectors, services
from metering.alarms.forms import AcknowledgeForm, AlarmFilterForm, AlarmRuleForm
from metering.alarms.models import Alarm, AlarmRule, AlarmStatus
from metering.alarms.rules import PLATFORM_DEFAULTS, effective_rule
from metering.models import Meter
from metering.registry.forms import apply_service_errors
from metering.registry.views.meters import _choose_enterprise, _context, _object, _page_enterprise
from portal.access import can_handle_alarms
from portal.models import Enterprise

ALARM_PAGE_ROWS = 50
RULE_PAGE_ROWS = 100


def _alarm_context(request: HttpRequest, enterprise: Enterprise, **extra: Any) -> dict[str, Any]:
    return _context(request, enterprise, can_handle=can_handle_alarms(request.user, enterprise.pk), **extra)


@login_required
@require_safe
def alarm_list(request: HttpRequest) -> HttpResponse:
    enterprise = _page_enterprise(request)
    if enterprise is None:
        return _choose_enterprise(request, _("告警"), "metering:alarm_list")
    meters = list(
        Meter.objects.filter(enterprise_id=enterprise.pk).order_by("code").values_list("pk", "code")
    )
    form = AlarmFilterForm(request.GET or None, meters=meters)
    status = kind = ""
    meter_id = None
    if form.is_bound and form.is_valid():
        status, kind = form.cleaned_data["status"], form.cleaned_data["kind"]
        meter_id = form.cleaned_data["meter"]
    alarms = selectors.alarms_for_enterprise(
        enterprise.pk, status="" if status in ("", "all") else status, kind=kind, meter_id=meter_id
    )
    if status == "":
        alarms = alarms.exclude(status=AlarmStatus.CLOSED)
    page = Paginator(alarms, ALARM_PAGE_ROWS).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    query["enterprise"] = str(enterprise.pk)
    return render(request, "metering/alarm_list.html", _alarm_context(
        request, enterprise, form=form, page=page, query=query.urlencode(),
        filtered=bool(status or kind or meter_id),
        open_count=selectors.open_alarm_counts(enterprise_ids=[enterprise.pk])[enterprise.pk],
        acknowledge_form=AcknowledgeForm(),
    ))


@login_required
@require_POST
def alarm_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    alarm: Alarm = _object(request, Alarm.objects.select_related("meter", "meter__enterprise"), pk,
                           path="meter__enterprise")
    enterprise = alarm.meter.enterprise
    if not can_handle_alarms(request.user, enterprise.pk):
        raise PermissionDenied
    form = AcknowledgeForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("请填写处理说明后再确认告警。"))
    else:
        try:
            services.alarm_acknowledge(alarm=alarm, user=request.user, note=form.cleaned_data["note"])
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        else:
            messages.success(request, _("已确认告警：%(meter)s %(kind)s。") % {
                "meter": alarm.meter.code, "kind": alarm.get_kind_display()})
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = ""
    return HttpResponseRedirect(back or f"{reverse('metering:alarm_list')}?enterprise={enterprise.pk}")


@login_required
@require_safe
def alarm_rule_list(request: HttpRequest) -> HttpResponse:
    enterprise = _page_enterprise(request)
    if enterprise is None:
        return _choose_enterprise(request, _("告警规则"), "metering:alarm_rule_list")
    meters = Meter.objects.filter(enterprise_id=enterprise.pk).order_by("level", "code")
    page = Paginator(meters, RULE_PAGE_ROWS).get_page(request.GET.get("page"))
    rules = {rule.meter_id: rule for rule in AlarmRule.objects.filter(meter_id__in=[m.pk for m in page])}
    rows = [(meter, effective_rule(rules.get(meter.pk))) for meter in page]
    return render(request, "metering/alarm_rule_list.html", _alarm_context(
        request, enterprise, page=page, rows=rows, query=f"enterprise={enterprise.pk}",
        defaults=PLATFORM_DEFAULTS,
    ))


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def alarm_rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    meter: Meter = _object(request, Meter.objects.select_related("enterprise"), pk)
    enterprise = meter.enterprise
    if not can_handle_alarms(request.user, enterprise.pk):
        raise PermissionDenied
    rule = selectors.rule_for_meter(meter)
    form = AlarmRuleForm(request.POST or None, instance=rule or AlarmRule(meter=meter), unit=meter.unit)
    back = f"{reverse('metering:alarm_rule_list')}?enterprise={enterprise.pk}"
    if request.method == "POST" and form.is_valid():
        try:
            fields = {name: form.cleaned_data[name] for name in services.ALARM_RULE_FIELDS}
            services.alarm_rule_save(meter=meter, fields=fields)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            messages.success(request, _("已保存表计 %(code)s 的告警规则。") % {"code": meter.code})
            return HttpResponseRedirect(back)
    return render(request, "metering/form.html", _alarm_context(
        request, enterprise, form=form, back=back,
        title=_("告警规则：%(code)s %(name)s") % {"code": meter.code, "name": meter.name},
    ))
