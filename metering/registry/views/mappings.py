"""MQTT mapping pages: per-enterprise topic and payload mappings."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from metering.models import MqttMapping
from metering.registry import services
from metering.registry.forms import (
    MqttMappingForm,
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

# --- MQTT mappings ----------------------------------------------------------------------------------


@login_required
@require_safe
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
