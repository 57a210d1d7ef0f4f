"""The registry API: /api/v1/meters/ and /api/v1/modbus/devices/, per role and across tenants."""

from __future__ import annotations

import datetime as dt

import pytest
from rest_framework.test import APIClient

from metering.models import Meter, ModbusDevice, ModbusPoint, Reading
from portal.models import AuditEntry
from tests.conftest import login
from tests.metering.registry_factories import meter_for, modbus_device_for, modbus_point_for, site_node_for
from tests.scoping import unscoped

pytestmark = pytest.mark.django_db

METERS = "/api/v1/meters/"
DEVICES = "/api/v1/modbus/devices/"


def client_for(world, key: str) -> APIClient:  # type: ignore[no-untyped-def]
    client = APIClient()
    login(client, world.user(key))
    return client


def fields_of(response) -> dict:  # type: ignore[no-untyped-def]
    return response.json()["error"]["fields"]


def meter_body(**overrides):  # type: ignore[no-untyped-def]
    return {
        "code": "E-100",
        "name": "总进线电能表",
        "level": 1,
        "energy_type": "electricity",
        "unit": "kWh",
        "cumulative": True,
        **overrides,
    }


# --- reads ----------------------------------------------------------------------------------------


def test_list_shows_only_meters_in_reach(world):
    a, b, out = meter_for(world.tenant_a), meter_for(world.tenant_b), meter_for(world.outsider)

    def codes(key: str) -> set[str]:
        response = client_for(world, key).get(METERS)
        assert response.status_code == 200
        return {row["code"] for row in response.json()["results"]}

    assert codes("a_admin") == {a.code}
    assert codes("zhengzhou_reviewer") == {a.code}
    assert codes("henan_officer") == {a.code, b.code}
    assert codes("platform_admin") >= {a.code, b.code, out.code}
    assert codes("expert") == set()


def test_retrieve_out_of_reach_is_404_like_missing(world):
    out = meter_for(world.outsider)
    client = client_for(world, "a_admin")
    assert client.get(f"{METERS}{out.pk}/").status_code == 404
    assert client.get(f"{METERS}999999/").status_code == 404
    assert client_for(world, "henan_officer").get(f"{METERS}{out.pk}/").status_code == 404


def test_retrieve_fields(world):
    node = site_node_for(world.tenant_a, name="一厂区")
    parent = meter_for(world.tenant_a, level=1)
    meter = meter_for(
        world.tenant_a,
        level=2,
        parent=parent,
        site_node=node,
        accuracy_class="0.5S",
        calibrated_on=dt.date(2024, 3, 1),
        calibration_due_on=dt.date(2025, 3, 1),
        data_item_code="DL-01",
    )
    body = client_for(world, "zhengzhou_reviewer").get(f"{METERS}{meter.pk}/").json()
    assert body["enterprise"] == world.tenant_a.pk
    assert body["parent"] == parent.pk
    assert body["site_node"] == node.pk and body["site_path"] == "一厂区"
    assert body["calibration_due_on"] == "2025-03-01"
    assert body["energy_type"] == "electricity" and body["level"] == 2
    assert "last_reading_at" in body and body["is_active"] is True


def test_filters(world):
    meter_for(world.tenant_a, code="E-1", level=1, energy_type="electricity")
    meter_for(world.tenant_a, code="G-1", level=2, energy_type="natural_gas")
    meter_for(world.tenant_b, code="E-1", level=1)
    client = client_for(world, "henan_officer")

    def codes(query: str) -> list[tuple[int, str]]:
        response = client.get(f"{METERS}?{query}")
        assert response.status_code == 200, response.content
        return sorted((row["enterprise"], row["code"]) for row in response.json()["results"])

    assert codes("level=2") == [(world.tenant_a.pk, "G-1")]
    assert codes("energy_type=natural_gas") == [(world.tenant_a.pk, "G-1")]
    assert codes("code=E-1") == [(world.tenant_a.pk, "E-1"), (world.tenant_b.pk, "E-1")]
    assert codes(f"enterprise={world.tenant_b.pk}") == [(world.tenant_b.pk, "E-1")]
    # An enterprise out of reach answers 404, exactly like an unknown one.
    outsider = client.get(f"{METERS}?enterprise={world.outsider.pk}")
    unknown = client.get(f"{METERS}?enterprise=2147480000")
    assert outsider.status_code == unknown.status_code == 404
    assert outsider.json() == unknown.json()


# --- writes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["a_admin", "a_staff"])
def test_enterprise_users_create_in_their_own_enterprise(world, key):
    response = client_for(world, key).post(METERS, meter_body(), format="json")
    assert response.status_code == 201, response.content
    with unscoped():  # what the request stored
        meter = Meter.objects.get(pk=response.json()["id"])
    assert meter.enterprise_id == world.tenant_a.pk
    assert AuditEntry.objects.filter(
        action="create", object_type="metering.Meter", object_id=str(meter.pk), channel=AuditEntry.Channel.API
    ).exists()


@pytest.mark.parametrize("key", ["zhengzhou_reviewer", "henan_officer", "expert"])
def test_officials_and_experts_cannot_create(world, key):
    response = client_for(world, key).post(METERS, meter_body(enterprise=world.tenant_a.pk), format="json")
    assert response.status_code == 403
    with unscoped():
        assert not Meter.objects.exists()


def test_foreign_enterprise_is_a_field_error_and_nothing_is_written(world):
    for enterprise_id in (world.outsider.pk, world.tenant_b.pk, 999999):
        response = client_for(world, "a_admin").post(
            METERS, meter_body(enterprise=enterprise_id), format="json"
        )
        assert response.status_code == 400
        assert fields_of(response)["enterprise"] == ["不存在。"]
    with unscoped():
        assert not Meter.objects.exists()


def test_foreign_parent_and_site_node_are_field_errors(world):
    foreign_parent = meter_for(world.outsider)
    foreign_node = site_node_for(world.tenant_b)
    response = client_for(world, "a_admin").post(
        METERS, meter_body(parent=foreign_parent.pk, site_node=foreign_node.pk), format="json"
    )
    assert response.status_code == 400
    fields = fields_of(response)
    assert fields["parent"] == ["不存在。"] and fields["site_node"] == ["不存在。"]
    missing = client_for(world, "a_admin").post(METERS, meter_body(parent=999999), format="json")
    assert fields_of(missing)["parent"] == ["不存在。"]
    with unscoped():
        assert not Meter.objects.filter(enterprise=world.tenant_a).exists()


def test_own_parent_and_site_node_are_accepted(world):
    parent = meter_for(world.tenant_a, level=1)
    node = site_node_for(world.tenant_a)
    response = client_for(world, "a_staff").post(
        METERS, meter_body(code="E-2", level=2, parent=parent.pk, site_node=node.pk), format="json"
    )
    assert response.status_code == 201, response.content
    with unscoped():
        meter = Meter.objects.get(code="E-2")
    assert meter.parent_id == parent.pk and meter.site_node_id == node.pk


def test_platform_admin_creates_for_any_enterprise_but_must_name_it(world):
    client = client_for(world, "platform_admin")
    response = client.post(METERS, meter_body(enterprise=world.outsider.pk), format="json")
    assert response.status_code == 201, response.content
    with unscoped():
        assert Meter.objects.get(code="E-100").enterprise_id == world.outsider.pk
    assert "enterprise" in fields_of(client.post(METERS, meter_body(code="X"), format="json"))


def test_duplicate_code_in_the_same_enterprise_is_refused_but_fine_elsewhere(world):
    meter_for(world.tenant_a, code="E-100")
    response = client_for(world, "a_admin").post(METERS, meter_body(), format="json")
    assert response.status_code == 400
    assert "E-100" in fields_of(response)["code"][0]
    assert client_for(world, "b_admin").post(METERS, meter_body(), format="json").status_code == 201
    with unscoped():  # one in each enterprise
        assert Meter.objects.filter(code="E-100").count() == 2


def test_update_rights(world):
    meter = meter_for(world.tenant_a, name="旧名称")
    url = f"{METERS}{meter.pk}/"
    assert client_for(world, "a_staff").patch(url, {"name": "新名称"}, format="json").status_code == 200
    meter.refresh_from_db()
    assert meter.name == "新名称"
    assert client_for(world, "zhengzhou_reviewer").patch(url, {"name": "x"}, format="json").status_code == 403
    assert client_for(world, "b_admin").patch(url, {"name": "x"}, format="json").status_code == 404
    assert client_for(world, "outsider_admin").put(url, meter_body(), format="json").status_code == 404
    meter.refresh_from_db()
    assert meter.name == "新名称"


def test_update_cannot_move_a_meter_to_another_enterprise_or_make_a_cycle(world):
    top = meter_for(world.tenant_a, level=1)
    child = meter_for(world.tenant_a, level=1, parent=top)
    client = client_for(world, "a_admin")
    moved = client.patch(f"{METERS}{top.pk}/", {"enterprise": world.tenant_b.pk}, format="json")
    assert moved.status_code == 400 and "enterprise" in fields_of(moved)
    cycle = client.patch(f"{METERS}{top.pk}/", {"parent": child.pk}, format="json")
    assert cycle.status_code == 400 and "parent" in fields_of(cycle)
    top.refresh_from_db()
    assert top.enterprise_id == world.tenant_a.pk and top.parent_id is None


def test_delete_rights_and_meters_with_readings_are_kept(world):
    meter = meter_for(world.tenant_a)
    url = f"{METERS}{meter.pk}/"
    assert client_for(world, "a_staff").delete(url).status_code == 403
    assert client_for(world, "henan_officer").delete(url).status_code == 403
    assert client_for(world, "b_admin").delete(url).status_code == 404
    with unscoped():  # test setup
        Reading.objects.create(meter=meter, ts=dt.datetime(2025, 1, 1, tzinfo=dt.UTC), value=1.0,
                               source="manual")
    kept = client_for(world, "a_admin").delete(url)
    assert kept.status_code == 400 and "读数" in kept.json()["error"]["message"] + str(kept.json())
    with unscoped():
        assert Meter.objects.filter(pk=meter.pk).exists()
    spare = meter_for(world.tenant_a)
    assert client_for(world, "a_admin").delete(f"{METERS}{spare.pk}/").status_code == 204
    with unscoped():
        assert not Meter.objects.filter(pk=spare.pk).exists()


# --- Modbus devices ---------------------------------------------------------------------------------


def device_body(meters, **overrides):  # type: ignore[no-untyped-def]
    points = [
        {
            "meter": m.pk,
            "register_type": "holding",
            "address": 10 * i,
            "data_type": "float32",
            "byte_order": "ABCD",
            "scale": 1.0,
            "offset": 0.0,
        }
        for i, m in enumerate(meters)
    ]
    return {
        "name": "配电房网关",
        "protocol": "tcp",
        "host": "10.0.0.5",
        "port": 502,
        "unit_id": 1,
        "timeout_s": 2.0,
        "poll_interval_s": 60,
        "points": points,
        **overrides,
    }


def test_device_create_with_points(world):
    meters = [meter_for(world.tenant_a) for _ in range(3)]
    response = client_for(world, "a_admin").post(DEVICES, device_body(meters), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["enterprise"] == world.tenant_a.pk and body["status"] == "unknown"
    assert [p["address"] for p in body["points"]] == [0, 10, 20]
    assert body["success_rate"] is None
    with unscoped():
        device = ModbusDevice.objects.get(pk=body["id"])
        assert device.points.count() == 3


def test_point_meter_of_another_tenant_is_a_field_error_at_its_index(world):
    meters = [meter_for(world.tenant_a), meter_for(world.tenant_a), meter_for(world.outsider)]
    response = client_for(world, "a_admin").post(DEVICES, device_body(meters), format="json")
    assert response.status_code == 400
    assert fields_of(response) == {"points[2].meter": ["不存在。"]}
    with unscoped():
        assert not ModbusDevice.objects.exists() and not ModbusPoint.objects.exists()


def test_overlapping_registers_are_refused_naming_the_points(world):
    meters = [meter_for(world.tenant_a) for _ in range(3)]
    body = device_body(meters)
    body["points"][2]["address"] = 11  # float32 at 10 occupies 10–11
    response = client_for(world, "a_admin").post(DEVICES, body, format="json")
    assert response.status_code == 400
    message = " ".join(fields_of(response)["points"])
    assert "points[1]" in message and "points[2]" in message
    # Same address on another register type does not overlap.
    body["points"][2]["register_type"] = "input"
    assert client_for(world, "a_admin").post(DEVICES, body, format="json").status_code == 201


def test_invalid_point_field_is_reported_flat(world):
    body = device_body([meter_for(world.tenant_a)])
    body["points"][0]["register_type"] = "coil"
    response = client_for(world, "a_admin").post(DEVICES, body, format="json")
    assert response.status_code == 400
    assert "points[0].register_type" in fields_of(response)


def test_device_update_replaces_points_and_keeps_state_read_only(world):
    first, second = meter_for(world.tenant_a), meter_for(world.tenant_a)
    device = modbus_device_for(world.tenant_a)
    modbus_point_for(world.tenant_a, device=device, meter=first, address=0)
    body = device_body([second], name=device.name, status="online", consecutive_failures=7)
    response = client_for(world, "a_staff").put(f"{DEVICES}{device.pk}/", body, format="json")
    assert response.status_code == 200, response.content
    device.refresh_from_db()
    with unscoped():
        assert [p.meter_id for p in device.points.all()] == [second.pk]
    assert device.status == "unknown" and device.consecutive_failures == 0
    # PATCH without points leaves the register map alone.
    assert (
        client_for(world, "a_staff")
        .patch(f"{DEVICES}{device.pk}/", {"poll_interval_s": 30}, format="json")
        .status_code
        == 200
    )
    with unscoped():
        assert device.points.count() == 1


def test_device_rights_across_tenants_and_roles(world):
    device = modbus_device_for(world.tenant_a)
    url = f"{DEVICES}{device.pk}/"
    assert client_for(world, "zhengzhou_reviewer").get(url).status_code == 200
    assert (
        client_for(world, "zhengzhou_reviewer").patch(url, {"port": 1502}, format="json").status_code == 403
    )
    assert client_for(world, "b_admin").get(url).status_code == 404
    assert client_for(world, "a_staff").delete(url).status_code == 403
    assert client_for(world, "a_admin").delete(url).status_code == 204
    with unscoped():
        assert not ModbusDevice.objects.filter(pk=device.pk).exists()


def test_device_enterprise_of_another_tenant_is_a_field_error(world):
    response = client_for(world, "a_admin").post(
        DEVICES, device_body([], enterprise=world.tenant_b.pk), format="json"
    )
    assert response.status_code == 400 and fields_of(response)["enterprise"] == ["不存在。"]
    with unscoped():
        assert not ModbusDevice.objects.exists()


def test_overlap_sweep_catches_a_wide_point_covering_several_later_ones():
    from django.core.exceptions import ValidationError

    from metering.registry.services import modbus_points_validate

    device = ModbusDevice(enterprise_id=1)
    points = [
        ModbusPoint(register_type="holding", address=0, data_type="int64"),  # 0–3
        ModbusPoint(register_type="holding", address=1, data_type="uint16"),  # 1
        ModbusPoint(register_type="holding", address=3, data_type="int16"),  # 3
        ModbusPoint(register_type="input", address=0, data_type="float64"),  # other table
    ]
    with pytest.raises(ValidationError) as caught:
        modbus_points_validate(device=device, points=points)
    overlaps = caught.value.message_dict["points"]
    assert len(overlaps) == 2
    assert any("points[0] 与 points[1]" in m for m in overlaps)
    assert any("points[0] 与 points[2]" in m for m in overlaps)
