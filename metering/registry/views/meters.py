"""Registry pages under /metering/: the meters and their import, and the helpers every registry
page shares (the site tree, devices, mappings, tokens and quarantine pages are its siblings).

Enterprise admins and staff work on their own enterprise; officials (and a park's users) read
the enterprises in reach, chosen with ?enterprise=<id>; platform admins pick any. Every object
is fetched through the access policy, so an id out of reach answers 404 like a missing one;
in reach but read-only answers 403 on writes, in the shared helpers (`_page_enterprise`,
`_object`) before any view-level role check. Pages that only read answer 405 to a POST.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from metering.models import Meter
from metering.registry import importing, services
from metering.registry.forms import (
    MeterForm,
    MeterImportForm,
    apply_service_errors,
)
from metering.registry.rights import DELETE, WRITE, can_manage_registry
from metering.storage import selectors
from portal import access
from portal.models import Enterprise

# What a browser or client sends to read; anything else is a write.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# --- helpers --------------------------------------------------------------------------------------


def _refuse_write_on_read_only(request: HttpRequest, enterprise_id: int) -> None:
    """A write (any method but GET and HEAD) by a caller who only reads the enterprise (an
    official; a park's user on a member) stops here, whatever the view checks after it."""
    if request.method not in SAFE_METHODS and not access.can_change(request.user, enterprise_id):
        raise PermissionDenied


def _page_enterprise(request: HttpRequest) -> Enterprise | None:
    """The enterprise a list page shows: ?enterprise=<id> within reach, else the user's own."""
    requested = request.GET.get("enterprise")
    user = request.user
    enterprise = None
    if requested:
        enterprise = access.get_enterprise_for_user(user, requested)
    elif user.is_authenticated and user.enterprise_id is not None:
        enterprise = access.get_enterprise_for_user(user, user.enterprise_id)
    if enterprise is not None:
        _refuse_write_on_read_only(request, enterprise.pk)
    return enterprise


def _object(request: HttpRequest, queryset: QuerySet[Any], pk: Any, path: str = "enterprise") -> Any:
    """The row if the caller sees it (else 404); for a write, 403 unless the caller may change it."""
    obj = access.get_object_for_user(request.user, queryset, pk, path=path)
    owner: Any = obj
    for part in path.split("__"):
        owner = getattr(owner, part)
    _refuse_write_on_read_only(request, owner.pk)
    return obj


def _require(request: HttpRequest, enterprise_id: int, right: str = WRITE) -> None:
    if not can_manage_registry(request.user, enterprise_id, right=right):
        raise PermissionDenied


def _url(name: str, enterprise: Enterprise, **kwargs: Any) -> str:
    return f"{reverse(f'metering:{name}', kwargs=kwargs or None)}?enterprise={enterprise.pk}"


def _context(request: HttpRequest, enterprise: Enterprise, **extra: Any) -> dict[str, Any]:
    return {
        "enterprise": enterprise,
        "eq": f"?enterprise={enterprise.pk}",
        "can_edit": can_manage_registry(request.user, enterprise.pk),
        "can_delete": can_manage_registry(request.user, enterprise.pk, right=DELETE),
        **extra,
    }


def _choose_enterprise(request: HttpRequest, title: str, url_name: str) -> HttpResponse:
    enterprises = access.visible_enterprises(request.user).order_by("name")[:500]
    return render(
        request,
        "metering/choose_enterprise.html",
        {"title": title, "enterprises": enterprises, "url_name": url_name},
    )


def _save_form(form: Any, write: Callable[[], Model]) -> Model | None:
    """Run a service write for a valid form; service errors land on the form's fields."""
    if not form.is_valid():
        return None
    try:
        return write()
    except ValidationError as exc:
        apply_service_errors(form, exc)
        return None


def _delete(
    request: HttpRequest,
    queryset: QuerySet[Any],
    pk: int,
    delete: Callable[[Any], None],
    list_name: str,
    label: str,
) -> HttpResponse:
    """Confirm page of a registry row; the POST deletes it through `delete` (a service call)."""
    obj = _object(request, queryset.select_related("enterprise"), pk)
    _require(request, obj.enterprise_id, DELETE)
    back = _url(list_name, obj.enterprise)
    if request.method == "POST":
        try:
            delete(obj)
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
            return HttpResponseRedirect(back)
        messages.success(request, _("已删除%(what)s“%(name)s”。") % {"what": label, "name": obj})
        return HttpResponseRedirect(back)
    return render(
        request,
        "metering/confirm_delete.html",
        {"object": obj, "label": label, "back": back, "enterprise": obj.enterprise},
    )


def _form_page(
    request: HttpRequest,
    enterprise: Enterprise,
    form: Any,
    write: Callable[[], Model],
    *,
    title: str,
    back: str,
    next_url: Callable[[Any], str] | None = None,
    saved_message: Callable[[Any], str] | None = None,
) -> HttpResponse:
    """Create/edit page of a registry row: a valid POST writes through `write` (a service call)
    and goes on to `next_url(saved)`, or back to the list."""
    if request.method == "POST":
        saved = _save_form(form, write)
        if saved is not None:
            if saved_message is not None:
                messages.success(request, saved_message(saved))
            return redirect(next_url(saved) if next_url is not None else back)
    return render(
        request,
        "metering/form.html",
        _context(request, enterprise, form=form, title=title, back=back),
    )


# --- meters ---------------------------------------------------------------------------------------


def _meter_tree(meters: list[Meter]) -> list[tuple[Meter, int]]:
    """Meters in tree order (parent before its children) with their depth, for indentation."""
    ids = {m.pk for m in meters}
    children: dict[int | None, list[Meter]] = {}
    for meter in meters:
        key = meter.parent_id if meter.parent_id in ids else None
        children.setdefault(key, []).append(meter)
    ordered: list[tuple[Meter, int]] = []
    stack = [(m, 0) for m in reversed(children.get(None, []))]
    seen: set[int] = set()
    while stack:
        meter, depth = stack.pop()
        if meter.pk in seen:
            continue
        seen.add(meter.pk)
        ordered.append((meter, depth))
        stack.extend((child, depth + 1) for child in reversed(children.get(meter.pk, [])))
    return ordered


@login_required
@require_safe
def index(request: HttpRequest) -> HttpResponse:
    return redirect(f"{reverse('metering:meter_list')}?{request.GET.urlencode()}")


@login_required
@require_safe
def meter_list(request: HttpRequest) -> HttpResponse:
    enterprise = _page_enterprise(request)
    if enterprise is None:
        return _choose_enterprise(request, _("表计档案"), "metering:meter_list")
    meters = list(
        Meter.objects.filter(enterprise=enterprise)
        .select_related("site_node__parent__parent__parent")
        .order_by("level", "code")
    )
    return render(
        request,
        "metering/meter_list.html",
        _context(request, enterprise, rows=_meter_tree(meters), count=len(meters)),
    )


# What the live page shows: the newest raw readings, and consumption over the last day.
METER_PAGE_READINGS = 48
METER_PAGE_CONSUMPTION_WINDOW = dt.timedelta(hours=24)
METER_PAGE_REFRESH_S = 30


@login_required
@require_safe
def meter_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One meter's live data: its newest readings with their quality, and its consumption."""
    meter = _object(request, Meter.objects.select_related("enterprise", "parent", "site_node"), pk)
    now = timezone.now()
    newest = list(selectors.readings_for_meter(meter).order_by("-ts")[:METER_PAGE_READINGS])
    intervals = selectors.consumption_series(meter, now - METER_PAGE_CONSUMPTION_WINDOW, now)
    return render(
        request,
        "metering/meter_detail.html",
        _context(
            request,
            meter.enterprise,
            meter=meter,
            readings=newest,
            intervals=intervals[-METER_PAGE_READINGS:],
            consumption_total=sum(interval.amount for interval in intervals),
            refresh_s=METER_PAGE_REFRESH_S,
        ),
    )


def _meter_form_page(request: HttpRequest, enterprise: Enterprise, meter: Meter | None) -> HttpResponse:
    _require(request, enterprise.pk)
    form = MeterForm(request.POST or None, instance=meter, enterprise=enterprise)
    return _form_page(
        request,
        enterprise,
        form,
        lambda: (
            services.meter_create(enterprise=enterprise, **form.service_fields())
            if meter is None
            else services.meter_update(meter=meter, **form.service_fields())
        ),
        title=_("编辑表计") if meter else _("新建表计"),
        back=_url("meter_list", enterprise),
        saved_message=lambda saved: _("已保存表计“%(meter)s”。") % {"meter": saved},
    )


@login_required
def meter_create(request: HttpRequest) -> HttpResponse:
    enterprise = _page_enterprise(request)
    if enterprise is None:
        return _choose_enterprise(request, _("新建表计"), "metering:meter_create")
    return _meter_form_page(request, enterprise, None)


@login_required
def meter_edit(request: HttpRequest, pk: int) -> HttpResponse:
    meter = _object(request, Meter.objects.select_related("enterprise"), pk)
    return _meter_form_page(request, meter.enterprise, meter)


@login_required
def meter_delete(request: HttpRequest, pk: int) -> HttpResponse:
    return _delete(
        request, Meter.objects, pk, lambda meter: services.meter_delete(meter=meter), "meter_list", _("表计")
    )


# --- import ---------------------------------------------------------------------------------------


@login_required
def meter_import(request: HttpRequest) -> HttpResponse:
    enterprise = _page_enterprise(request)
    if enterprise is None:
        return _choose_enterprise(request, _("导入表计"), "metering:meter_import")
    _require(request, enterprise.pk)
    form = MeterImportForm(request.POST or None, request.FILES or None)
    report = None
    status = 200
    if request.method == "POST" and form.is_valid():
        report = importing.meters_import(
            actor=request.user, enterprise=enterprise, file=form.cleaned_data["file"]
        )
        if report.ok:
            messages.success(
                request,
                _("导入完成：新建 %(created)d 个，更新 %(updated)d 个表计。")
                % {"created": report.created, "updated": report.updated},
            )
            return redirect(_url("meter_list", enterprise))
        status = 400
    return render(
        request,
        "metering/meter_import.html",
        _context(request, enterprise, form=form, report=report),
        status=status,
    )


@login_required
@require_safe
def meter_import_template_xlsx(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(
        importing.template_xlsx(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = 'attachment; filename="meters-template.xlsx"'
    return response


@login_required
@require_safe
def meter_import_template_csv(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(importing.template_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="meters-template.csv"'
    return response
