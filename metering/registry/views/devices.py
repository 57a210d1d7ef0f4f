"""Modbus device pages: devices and their register maps."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from metering.models import ModbusDevice
from metering.registry import services
from metering.registry.forms import (
    ModbusDeviceForm,
    ModbusPointFormSet,
)
from metering.registry.views.meters import (
    _choose_enterprise,
    _context,
    _delete,
    _form_page,
    _object,
    _page_enterprise,
    _require,
    _url,
)
from portal.models import Enterprise

# --- Modbus devices ---------------------------------------------------------------------------------


@login_required
@require_safe
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
