"""Officials read an enterprise's data; they never write it (issue 7, point 4).

Reach separates see from change: a municipal reviewer and the provincial officer see tenant_a,
but nothing of it is in their write reach. Every write on tenant_a's registry, through the API
(POST, PUT, PATCH, DELETE) and the pages (meters, devices, sites, mappings, gateway tokens,
imports, the enterprise's own data and staff), is refused, and tenant_a's footprint (every row
it owns and every row pointing at one) and audit trail show no write. A write view that
forgets its role check still finds nothing to change (tests/portal/unguarded_urls.py).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.urls import reverse

from metering.models import Meter
from portal import access
from portal.models import AuditEntry
from tests.conftest import login
from tests.metering.registry_factories import (
    gateway_token_for,
    meter_for,
    modbus_device_for,
    mqtt_mapping_for,
    site_node_for,
)
from tests.tenancy_footprint import footprint, footprint_changes

pytestmark = pytest.mark.django_db

OFFICIALS = ("zhengzhou_reviewer", "henan_officer")
REFUSED = frozenset({403, 404})
IMPORT_CSV = "code,name,level,energy_type,unit\nOFFICIAL-IMPORT-1,官员导入表计,1,electricity,kWh\n".encode()


def _meter_json(**overrides: Any) -> dict[str, Any]:
    return {"code": "OFFICIAL-NEW-1", "name": "官员新建表计", "level": 1, "energy_type": "electricity",
            "unit": "kWh", **overrides}


def _meter_form(**overrides: Any) -> dict[str, Any]:
    return {"code": "OFFICIAL-NEW-2", "name": "官员新建表计", "level": "1", "energy_type": "electricity",
            "unit": "kWh", "cumulative": "on", "is_active": "on", **overrides}


def _device_form(**overrides: Any) -> dict[str, Any]:
    return {"name": "官员新建设备", "protocol": "tcp", "host": "127.0.0.1", "port": "502", "baudrate": "9600",
            "parity": "N", "stopbits": "1", "unit_id": "1", "timeout_s": "3", "retries": "2",
            "backoff_s": "0.5", "poll_interval_s": "60", "enabled": "on", **overrides}


def _writes(world: Any) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, url, request options) of every write on tenant_a's data the product has."""
    a = world.tenant_a
    meter, node, device = meter_for(a), site_node_for(a), modbus_device_for(a)
    mapping, token = mqtt_mapping_for(a), gateway_token_for(a)
    on_a = f"?enterprise={a.pk}"
    point = {"meter": meter.pk, "register_type": "holding", "address": 0, "data_type": "float32",
             "byte_order": "ABCD", "scale": 1.0, "offset": 0.0}
    device_json = {"name": "官员改名设备", "host": "127.0.0.1", "port": 502, "points": [point]}

    def as_json(body: Any) -> dict[str, Any]:
        return {"data": json.dumps(body), "content_type": "application/json"}

    def upload() -> dict[str, Any]:
        return {"file": SimpleUploadedFile("meters.csv", IMPORT_CSV, content_type="text/csv")}

    return [
        # the registry API
        ("POST", "/api/v1/meters/", as_json(_meter_json(enterprise=a.pk))),
        ("PUT", f"/api/v1/meters/{meter.pk}/", as_json(_meter_json(code=meter.code, name="官员改名"))),
        ("PATCH", f"/api/v1/meters/{meter.pk}/", as_json({"name": "官员改名"})),
        ("DELETE", f"/api/v1/meters/{meter.pk}/", {}),
        ("POST", "/api/v1/meters/import/", {"data": {"enterprise": a.pk, **upload()}}),
        ("POST", "/api/v1/modbus/devices/", as_json({**device_json, "enterprise": a.pk})),
        ("PUT", f"/api/v1/modbus/devices/{device.pk}/", as_json(device_json)),
        ("PATCH", f"/api/v1/modbus/devices/{device.pk}/", as_json({"port": 1502})),
        ("DELETE", f"/api/v1/modbus/devices/{device.pk}/", {}),
        ("POST", "/api/v1/gateway-tokens/", as_json({"name": "官员新建网关", "enterprise": a.pk})),
        ("DELETE", f"/api/v1/gateway-tokens/{token.pk}/", {}),
        ("POST", "/api/v1/readings/", as_json({"readings": [
            {"meter": meter.code, "ts": "2026-06-01T08:00:00+08:00", "value": 1.0}]})),
        # the registry pages
        ("POST", reverse("metering:meter_create") + on_a, {"data": _meter_form()}),
        ("POST", reverse("metering:meter_edit", args=[meter.pk]), {"data": _meter_form(code=meter.code)}),
        ("POST", reverse("metering:meter_delete", args=[meter.pk]), {"data": {"post": "yes"}}),
        ("POST", reverse("metering:meter_import") + on_a, {"data": upload()}),
        ("POST", reverse("metering:site_list") + on_a, {"data": {"kind": "site", "name": "官员新建厂区"}}),
        ("POST", reverse("metering:site_edit", args=[node.pk]),
         {"data": {"kind": "site", "name": "官员改名"}}),
        ("POST", reverse("metering:site_delete", args=[node.pk]), {"data": {"post": "yes"}}),
        ("POST", reverse("metering:device_create") + on_a, {"data": _device_form()}),
        ("POST", reverse("metering:device_edit", args=[device.pk]), {"data": _device_form(name="官员改名")}),
        ("POST", reverse("metering:device_detail", args=[device.pk]), {"data": {
            "points-TOTAL_FORMS": "1", "points-INITIAL_FORMS": "0", "points-0-meter": meter.pk,
            "points-0-register_type": "holding", "points-0-address": "0", "points-0-data_type": "float32",
            "points-0-byte_order": "ABCD", "points-0-scale": "1", "points-0-offset": "0"}}),
        ("POST", reverse("metering:device_delete", args=[device.pk]), {"data": {"post": "yes"}}),
        ("POST", reverse("metering:mapping_create") + on_a, {"data": {
            "name": "官员新建映射", "topic_pattern": "x/{meter}/data", "ts_path": "ts", "value_path": "v"}}),
        ("POST", reverse("metering:mapping_edit", args=[mapping.pk]), {"data": {
            "name": "官员改名", "topic_pattern": mapping.topic_pattern, "ts_path": "ts", "value_path": "v"}}),
        ("POST", reverse("metering:mapping_delete", args=[mapping.pk]), {"data": {"post": "yes"}}),
        ("POST", reverse("metering:token_list") + on_a, {"data": {"name": "官员新建网关"}}),
        ("POST", reverse("metering:token_revoke", args=[token.pk]), {}),
        # the enterprise's own data and staff
        ("POST", reverse("portal:enterprise_edit", args=[a.pk]), {"data": {
            "address": "官员改的地址", "contact_name": "官员", "contact_phone": "1"}}),
        ("POST", reverse("portal:enterprise_users", args=[a.pk]), {"data": {
            "username": "official_made_staff", "password1": "Zz-official-2026!",
            "password2": "Zz-official-2026!"}}),
    ]


def _send(client: Client, method: str, url: str, options: dict[str, Any]) -> Any:
    if method == "POST" and "content_type" not in options:
        return client.post(url, options.get("data", {}))
    return client.generic(method, url, **options)


@pytest.mark.parametrize("role", OFFICIALS)
def test_official_writes_on_tenant_data_are_refused_and_change_nothing(world, role):
    writes = _writes(world)
    client = Client()
    login(client, world.user(role))
    # Officials see what they may not change: the writes are refused for rights, not reach.
    assert client.get(reverse("metering:meter_list") + f"?enterprise={world.tenant_a.pk}").status_code == 200
    before = footprint([world.tenant_a.pk])
    last_audit = AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0
    answers = {f"{method} {url}": _send(client, method, url, options).status_code
               for method, url, options in writes}
    assert {where: status for where, status in answers.items() if status not in REFUSED} == {}
    assert footprint_changes(before, footprint([world.tenant_a.pk])) == []
    written = AuditEntry.objects.filter(id__gt=last_audit, enterprise_id_snapshot=world.tenant_a.pk).exclude(
        action__in=("login", "logout"))
    assert list(written.values_list("action", "object_type")) == []


@pytest.mark.parametrize("role", OFFICIALS)
def test_officials_have_no_write_reach(world, role):
    official = world.user(role)
    meter = meter_for(world.tenant_a)
    reach = access.reach_for(official)
    assert reach.can_see(world.tenant_a.pk) and not reach.can_change(world.tenant_a.pk)
    assert reach.changeable_ids == ()
    with access.reach_scope(official):
        assert not access.filter_to_reach(official, Meter.objects.all(), "enterprise", write=True).exists()
        with pytest.raises(Exception) as refused:
            access.get_rw_enterprise_for_user(official, world.tenant_a.pk)
        assert type(refused.value).__name__ == "Http404"
        assert access.get_object_for_user(official, Meter.objects.all(), meter.pk, path="enterprise") == meter


@pytest.mark.parametrize("role", [*OFFICIALS, "park_admin"])
@override_settings(ROOT_URLCONF="tests.portal.unguarded_urls")
def test_a_write_view_that_forgets_its_role_check_still_refuses_readers(world, role):
    """The case the issue names: reach alone keeps officials (and a park's users, on its members)
    from writing, even through a view that checks no role at all."""
    own = {"park_admin": world.outsider}.get(role, world.tenant_a)
    meter = meter_for(own, name="未改名的表计")
    client = Client()
    login(client, world.user(role))
    assert client.get(f"/api/v1/unguarded-meters/{meter.pk}/").status_code == 200  # seen
    api = client.patch(f"/api/v1/unguarded-meters/{meter.pk}/", data=json.dumps({"name": "被改名"}),
                       content_type="application/json")
    page = client.post(f"/unguarded/meters/{meter.pk}/rename/", {"name": "被改名"})
    assert (api.status_code, page.status_code) == (403, 404)
    meter.refresh_from_db()
    assert meter.name == "未改名的表计"
    # The owner still writes through the same views.
    owner = Client()
    login(owner, world.user("outsider_admin" if role == "park_admin" else "a_admin"))
    assert owner.post(f"/unguarded/meters/{meter.pk}/rename/", {"name": "主人改名"}).status_code == 200
    meter.refresh_from_db()
    assert meter.name == "主人改名"
