"""Registry pages under /metering/: meters, site tree, Modbus devices, MQTT mappings, gateway
tokens, quarantine, import.

Enterprise admins and staff work on their own enterprise; officials (and a park's users) read
the enterprises in reach, chosen with ?enterprise=<id>; platform admins pick any. Every object
is fetched through the access policy, so an id out of reach answers 404 like a missing one;
in reach but read-only answers 403 on writes.
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
from django.views.decorators.http import require_POST

from metering import importing, selectors, services
from metering.forms import (
    GatewayTokenForm,
    MeterForm,
    MeterImportForm,
    ModbusDeviceForm,
    ModbusPointFormSet,
    MqttMappingForm,
    SiteNodeForm,
    apply_service_errors,
    payload_preview,
)
from metering.models import GatewayToken, Meter, ModbusDevice, MqttMapping, QuarantinedMessage, SiteNode
from metering.rights import DELETE, WRITE, can_manage_registry
from portal import access
from portal.models import Enterprise

QUARANTINE_PAGE_ROWS = 200  # newest first; older rows stay in the admin


# --- helpers --------------------------------------------------------------------------------------


def _page_enterprise(request: HttpRequest) -> Enterprise | None:
    """The enterprise a list page shows: ?enterprise=<id> within reach, else the user's own."""
    requested = request.GET.get("enterprise")
    if requested:
        return access.get_enterprise_for_user(request.user, requested)
    user = request.user
    if user.is_authenticated and user.enterprise_id is not None:
        return access.get_enterprise_for_user(user, user.enterprise_id)
    return None


def _object(request: HttpRequest, queryset: QuerySet[Any], pk: Any, path: str = "enterprise") -> Any:
    return access.get_object_for_user(request.user, queryset, pk, path=path)


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
def index(request: HttpRequest) -> HttpResponse:
    return redirect(f"{reverse('metering:meter_list')}?{request.GET.urlencode()}")


@login_required
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
def meter_import_template_xlsx(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(
        importing.template_xlsx(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = 'attachment; filename="meters-template.xlsx"'
    return response


@login_required
def meter_import_template_csv(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(importing.template_csv(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="meters-template.csv"'
    return response


# --- site tree ------------------------------------------------------------------------------------


@login_required
def site_list(request: HttpRequest) -> HttpResponse:
    enterprise = _page_enterprise(request)
    if enterprise is None:
        return _choose_enterprise(request, _("厂区结构"), "metering:site_list")
    form = SiteNodeForm(request.POST or None, enterprise=enterprise)
    if request.method == "POST":
        _require(request, enterprise.pk)
        saved = _save_form(
            form, lambda: services.site_node_create(enterprise=enterprise, **form.service_fields())
        )
        if saved is not None:
            messages.success(request, _("已添加“%(node)s”。") % {"node": saved})
            return redirect(_url("site_list", enterprise))
    nodes = list(SiteNode.objects.filter(enterprise=enterprise).select_related("parent__parent__parent"))
    rows = sorted(((services.site_node_path(node), node) for node in nodes), key=lambda row: row[0])
    return render(
        request,
        "metering/site_list.html",
        _context(request, enterprise, form=form, rows=[(node, path.count("/")) for path, node in rows]),
    )


@login_required
def site_edit(request: HttpRequest, pk: int) -> HttpResponse:
    node = _object(request, SiteNode.objects.select_related("enterprise"), pk)
    _require(request, node.enterprise_id)
    form = SiteNodeForm(request.POST or None, instance=node, enterprise=node.enterprise)
    return _form_page(
        request,
        node.enterprise,
        form,
        lambda: services.site_node_update(node=node, **form.service_fields()),
        title=_("编辑厂区结构"),
        back=_url("site_list", node.enterprise),
    )


@login_required
def site_delete(request: HttpRequest, pk: int) -> HttpResponse:
    return _delete(
        request,
        SiteNode.objects,
        pk,
        lambda node: services.site_node_delete(node=node),
        "site_list",
        _("节点"),
    )


# --- Modbus devices ---------------------------------------------------------------------------------


@login_required
def device_list(request: HttpRequest) -> HttpResponse:
    enterprise = _page_enterprise(request)
    if enterprise is None:
        return _choose_enterprise(request, _("Modbus 设备"), "metering:device_list")
    devices = ModbusDevice.objects.filter(enterprise=enterprise).prefetch_related("points").order_by("name")
    return render(request, "metering/device_list.html", _context(request, enterprise, devices=devices))


def _device_form_page(
    request: HttpRequest, enterprise: Enterprise, device: ModbusDevice | None
) -> HttpResponse:
    _require(request, enterprise.pk)
    form = ModbusDeviceForm(request.POST or None, instance=device, enterprise=enterprise)
    return _form_page(
        request,
        enterprise,
        form,
        lambda: (
            services.modbus_device_create(enterprise=enterprise, **form.service_fields())
            if device is None
            else services.modbus_device_update(device=device, **form.service_fields())
        ),
        title=_("编辑设备") if device else _("新建 Modbus 设备"),
        back=_url("device_list", enterprise),
        next_url=lambda saved: reverse("metering:device_detail", kwargs={"pk": saved.pk}),
    )


@login_required
def device_create(request: HttpRequest) -> HttpResponse:
    enterprise = _page_enterprise(request)
    if enterprise is None:
        return _choose_enterprise(request, _("新建 Modbus 设备"), "metering:device_create")
    return _device_form_page(request, enterprise, None)


@login_required
def device_edit(request: HttpRequest, pk: int) -> HttpResponse:
    device = _object(request, ModbusDevice.objects.select_related("enterprise"), pk)
    return _device_form_page(request, device.enterprise, device)


@login_required
def device_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The device's state and its register map; POST replaces the whole map (one formset)."""
    device = _object(request, ModbusDevice.objects.select_related("enterprise"), pk)
    if request.method == "POST":
        _require(request, device.enterprise_id)
    formset = ModbusPointFormSet(
        request.POST or None,
        instance=device,
        prefix="points",
        queryset=device.points.select_related("meter").order_by("register_type", "address"),
    )
    if request.method == "POST" and formset.is_valid():
        try:
            services.modbus_points_replace(device=device, points=formset.point_values())
        except ValidationError as exc:
            # The service's verdict on the whole map shows where the formset's own errors do
            # (the errors a formset's clean() raises land in this private attribute too).
            formset._non_form_errors = formset.error_class(exc.messages)  # type: ignore[attr-defined]
        else:
            messages.success(request, _("已保存点位表。"))
            return redirect(reverse("metering:device_detail", kwargs={"pk": device.pk}))
    return render(
        request,
        "metering/device_detail.html",
        _context(request, device.enterprise, device=device, formset=formset),
    )


@login_required
def device_delete(request: HttpRequest, pk: int) -> HttpResponse:
    return _delete(
        request,
        ModbusDevice.objects,
        pk,
        lambda device: services.modbus_device_delete(device=device),
        "device_list",
        _("设备"),
    )


# --- MQTT mappings ----------------------------------------------------------------------------------


@login_required
def mapping_list(request: HttpRequest) -> HttpResponse:
    enterprise = _page_enterprise(request)
    if enterprise is None:
        return _choose_enterprise(request, _("MQTT 映射"), "metering:mapping_list")
    mappings = MqttMapping.objects.filter(enterprise=enterprise).order_by("name")
    return render(request, "metering/mapping_list.html", _context(request, enterprise, mappings=mappings))


def _mapping_form_page(
    request: HttpRequest, enterprise: Enterprise, mapping: MqttMapping | None
) -> HttpResponse:
    _require(request, enterprise.pk)
    form = MqttMappingForm(request.POST or None, instance=mapping, enterprise=enterprise)
    return _form_page(
        request,
        enterprise,
        form,
        lambda: (
            services.mqtt_mapping_create(enterprise=enterprise, **form.service_fields())
            if mapping is None
            else services.mqtt_mapping_update(mapping=mapping, **form.service_fields())
        ),
        title=_("编辑 MQTT 映射") if mapping else _("新建 MQTT 映射"),
        back=_url("mapping_list", enterprise),
    )


@login_required
def mapping_create(request: HttpRequest) -> HttpResponse:
    enterprise = _page_enterprise(request)
    if enterprise is None:
        return _choose_enterprise(request, _("新建 MQTT 映射"), "metering:mapping_create")
    return _mapping_form_page(request, enterprise, None)


@login_required
def mapping_edit(request: HttpRequest, pk: int) -> HttpResponse:
    mapping = _object(request, MqttMapping.objects.select_related("enterprise"), pk)
    return _mapping_form_page(request, mapping.enterprise, mapping)


@login_required
def mapping_delete(request: HttpRequest, pk: int) -> HttpResponse:
    return _delete(
        request,
        MqttMapping.objects,
        pk,
        lambda mapping: services.mqtt_mapping_delete(mapping=mapping),
        "mapping_list",
        _("映射"),
    )


# --- gateway tokens ---------------------------------------------------------------------------------


@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    """Tokens by prefix; a POST issues one and shows its value on this response only, never again."""
    from metering.tokens import can_manage_gateway_tokens, gateway_token_create

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
    from metering.tokens import gateway_token_revoke

    token = _object(request, GatewayToken.objects.select_related("enterprise"), pk)
    gateway_token_revoke(actor=request.user, token=token)  # raises PermissionDenied for read-only callers
    messages.success(request, _("已吊销令牌“%(name)s”。") % {"name": token})
    return redirect(_url("token_list", token.enterprise))


# --- quarantine -------------------------------------------------------------------------------------


@login_required
def quarantine_list(request: HttpRequest) -> HttpResponse:
    enterprise = _page_enterprise(request)
    if enterprise is None:
        return _choose_enterprise(request, _("隔离数据"), "metering:quarantine_list")
    rows = [
        (message, *payload_preview(message.payload))
        for message in QuarantinedMessage.objects.filter(enterprise=enterprise).order_by(
            "-received_at", "-id"
        )[:QUARANTINE_PAGE_ROWS]
    ]
    return render(request, "metering/quarantine_list.html", _context(request, enterprise, rows=rows))
