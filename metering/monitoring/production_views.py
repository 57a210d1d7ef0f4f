"""Production pages under /metering/: the output (产量与产值) an enterprise enters per month and
product or line, and its base period for the energy saving rate.

They follow the registry pages' rules (metering/registry/views/meters.py): enterprise admins and
staff enter their own enterprise's figures (staff never delete); officials and a park's users read
the enterprises in reach, chosen with ?enterprise=<id>, and get no forms; an id out of reach
answers 404 like a missing one, a write in reach but read-only 403.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from metering.monitoring.models import ProductionRecord
from metering.monitoring.production import (
    base_period_clear,
    base_period_of,
    base_period_set,
    production_record_create,
    production_record_delete,
    production_record_update,
    production_records,
)
from metering.monitoring.production_forms import BasePeriodForm, ProductionFilterForm, ProductionRecordForm
from metering.registry.views.meters import (
    _choose_enterprise,
    _context,
    _delete,
    _form_page,
    _object,
    _page_enterprise,
    _require,
    _save_form,
    _url,
)
from portal.models import Enterprise

PRODUCTION_PAGE_ROWS = 50


@login_required
@require_safe
def production_list(request: HttpRequest) -> HttpResponse:
    enterprise = _page_enterprise(request)
    if enterprise is None:
        return _choose_enterprise(request, _("产量与产值"), "metering:production_list")
    filters = ProductionFilterForm(request.GET or None)
    month, product = None, ""
    if filters.is_valid():
        month, product = filters.cleaned_data["month"], filters.cleaned_data["product"].strip()
    page = Paginator(production_records(enterprise=enterprise, month=month, product=product),
                     PRODUCTION_PAGE_ROWS).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    query["enterprise"] = str(enterprise.pk)
    return render(request, "metering/production_list.html", _context(
        request, enterprise, page=page, filters=filters, query=query.urlencode(),
        filtered=bool(month or product), base_period=base_period_of(enterprise)))


def _production_form_page(request: HttpRequest, enterprise: Enterprise,
                          record: ProductionRecord | None) -> HttpResponse:
    _require(request, enterprise.pk)
    form = ProductionRecordForm(request.POST or None, instance=record, enterprise=enterprise)
    return _form_page(
        request, enterprise, form,
        lambda: (production_record_create(enterprise=enterprise, fields=form.service_fields())
                 if record is None
                 else production_record_update(record=record, fields=form.service_fields())),
        title=_("编辑产量与产值") if record else _("录入产量与产值"),
        back=_url("production_list", enterprise),
        saved_message=lambda saved: _("已保存 %(month)s “%(product)s”的产量与产值。") % {
            "month": f"{saved.month:%Y-%m}", "product": saved.product},
    )


@login_required
def production_create(request: HttpRequest) -> HttpResponse:
    enterprise = _page_enterprise(request)
    if enterprise is None:
        return _choose_enterprise(request, _("录入产量与产值"), "metering:production_create")
    return _production_form_page(request, enterprise, None)


@login_required
def production_edit(request: HttpRequest, pk: int) -> HttpResponse:
    record = _object(request, ProductionRecord.objects.select_related("enterprise"), pk)
    return _production_form_page(request, record.enterprise, record)


@login_required
def production_delete(request: HttpRequest, pk: int) -> HttpResponse:
    return _delete(request, ProductionRecord.objects, pk,
                   lambda record: production_record_delete(record=record), "production_list", _("产量记录"))


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def base_period(request: HttpRequest) -> HttpResponse:
    """The base period: shown to everyone in reach, a form for those who may change it."""
    enterprise = _page_enterprise(request)
    if enterprise is None:
        return _choose_enterprise(request, _("节能基期"), "metering:base_period")
    current = base_period_of(enterprise)
    back = _url("base_period", enterprise)
    form = None
    if request.method == "POST":
        _require(request, enterprise.pk)
        if request.POST.get("action") == "clear":
            base_period_clear(enterprise=enterprise)
            messages.success(request, _("已清除节能基期。"))
            return redirect(back)
        posted = form = BasePeriodForm(request.POST, instance=current, enterprise=enterprise)
        if _save_form(posted, lambda: base_period_set(enterprise=enterprise, fields=posted.service_fields())):
            messages.success(request, _("已保存节能基期。"))
            return redirect(back)
    context = _context(request, enterprise, base_period=current)
    if form is None and context["can_edit"]:
        form = BasePeriodForm(instance=current, enterprise=enterprise)
    context["form"] = form
    return render(request, "metering/base_period.html", context)
