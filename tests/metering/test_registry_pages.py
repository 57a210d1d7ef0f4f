"""Registry pages under /metering/ and the registry in the admin, per role and across tenants."""

from __future__ import annotations

import pytest
from django.urls import reverse

from metering.ingest.senders import token_sha256
from metering.models import GatewayToken, Meter, ModbusDevice, MqttMapping, SiteNode
from tests.conftest import login
from tests.metering.registry_factories import (
    gateway_token_for,
    meter_for,
    modbus_device_for,
    modbus_point_for,
    quarantined_message_for,
    site_node_for,
)
from tests.scoping import unscoped

pytestmark = pytest.mark.django_db


def meter_post(**overrides):  # type: ignore[no-untyped-def]
    data = {
        "code": "E-1",
        "name": "总表",
        "level": "1",
        "energy_type": "electricity",
        "unit": "kWh",
        "cumulative": "on",
        "is_active": "on",
        "parent": "",
        "site_node": "",
        "accuracy_class": "",
        "calibrated_on": "",
        "calibration_due_on": "",
        "data_item_code": "",
        "register_max": "",
    }
    data.update(overrides)
    return data


def test_enterprise_admin_manages_meters_through_pages(client, world):
    other = meter_for(world.tenant_b, code="B-ONLY")
    login(client, world.user("a_admin"))
    created = client.post(reverse("metering:meter_create"), meter_post())
    assert created.status_code == 302
    with unscoped():  # what the page stored
        top = Meter.objects.get(enterprise=world.tenant_a, code="E-1")
    child = client.post(
        reverse("metering:meter_create"), meter_post(code="E-2", level="2", parent=str(top.pk))
    )
    assert child.status_code == 302
    listing = client.get(reverse("metering:meter_list")).content.decode()
    assert "E-1" in listing and "E-2" in listing and other.code not in listing
    assert 'data-code="E-2" data-depth="1"' in listing  # shown under its parent

    duplicate = client.post(reverse("metering:meter_create"), meter_post(name="另一个"))
    assert duplicate.status_code == 200 and "本企业已有编号为“E-1”的表计" in duplicate.content.decode()
    foreign_parent = client.post(
        reverse("metering:meter_create"), meter_post(code="E-3", parent=str(other.pk))
    )
    assert foreign_parent.status_code == 200 and "errors-parent" in foreign_parent.content.decode()
    with unscoped():
        assert Meter.objects.filter(enterprise=world.tenant_a).count() == 2
        second = Meter.objects.get(code="E-2")

    edited = client.post(reverse("metering:meter_edit", args=[top.pk]), meter_post(name="新总表"))
    assert edited.status_code == 302
    top.refresh_from_db()
    assert top.name == "新总表"
    deleted = client.post(reverse("metering:meter_delete", args=[second.pk]))
    assert deleted.status_code == 302
    with unscoped():
        assert not Meter.objects.filter(code="E-2").exists()

    # Another tenant's objects answer 404, exactly like missing ones.
    for name in ("metering:meter_edit", "metering:meter_delete"):
        assert client.get(reverse(name, args=[other.pk])).status_code == 404
    assert client.get(f"{reverse('metering:meter_list')}?enterprise={world.tenant_b.pk}").status_code == 404


def test_staff_edits_but_does_not_delete(client, world):
    meter = meter_for(world.tenant_a)
    login(client, world.user("a_staff"))
    assert (
        client.post(
            reverse("metering:meter_edit", args=[meter.pk]), meter_post(code=meter.code, name="改名")
        ).status_code
        == 302
    )
    assert client.post(reverse("metering:meter_delete", args=[meter.pk])).status_code == 403
    with unscoped():
        assert Meter.objects.filter(pk=meter.pk, name="改名").exists()


def test_officials_read_their_region_only(client, world):
    meter = meter_for(world.tenant_a, code="ZZ-1")
    outsider_meter = meter_for(world.outsider)
    login(client, world.user("zhengzhou_reviewer"))
    chooser = client.get(reverse("metering:meter_list"))
    assert chooser.status_code == 200 and world.tenant_a.name in chooser.content.decode()
    assert world.tenant_b.name not in chooser.content.decode()
    listing = client.get(f"{reverse('metering:meter_list')}?enterprise={world.tenant_a.pk}")
    assert listing.status_code == 200 and "ZZ-1" in listing.content.decode()
    assert reverse("metering:meter_edit", args=[meter.pk]) not in listing.content.decode()
    assert client.get(f"{reverse('metering:meter_list')}?enterprise={world.tenant_b.pk}").status_code == 404
    assert client.get(f"{reverse('metering:meter_create')}?enterprise={world.tenant_a.pk}").status_code == 403
    assert client.post(reverse("metering:meter_edit", args=[meter.pk]), meter_post()).status_code == 403
    assert client.get(reverse("metering:meter_edit", args=[outsider_meter.pk])).status_code == 404
    for name in ("device_list", "site_list", "mapping_list", "token_list", "quarantine_list"):
        assert client.get(f"{reverse(f'metering:{name}')}?enterprise={world.tenant_a.pk}").status_code == 200


def test_site_tree(client, world):
    login(client, world.user("a_admin"))
    assert (
        client.post(
            reverse("metering:site_list"), {"kind": "site", "name": "一厂区", "parent": ""}
        ).status_code
        == 302
    )
    with unscoped():
        site = SiteNode.objects.get(enterprise=world.tenant_a, name="一厂区")
    assert (
        client.post(
            reverse("metering:site_list"), {"kind": "workshop", "name": "一车间", "parent": str(site.pk)}
        ).status_code
        == 302
    )
    orphan = client.post(reverse("metering:site_list"), {"kind": "line", "name": "孤立产线", "parent": ""})
    assert orphan.status_code == 200 and "必须有上级节点" in orphan.content.decode()
    refused = client.post(reverse("metering:site_delete", args=[site.pk]), follow=True)
    assert "请先删除" in refused.content.decode()
    with unscoped():
        assert SiteNode.objects.filter(pk=site.pk).exists()
    foreign = site_node_for(world.outsider)
    assert client.get(reverse("metering:site_edit", args=[foreign.pk])).status_code == 404


def points_post(meters, addresses, *, existing=0):  # type: ignore[no-untyped-def]
    data = {
        "points-TOTAL_FORMS": str(len(meters)),
        "points-INITIAL_FORMS": str(existing),
        "points-MIN_NUM_FORMS": "0",
        "points-MAX_NUM_FORMS": "1000",
    }
    for i, (meter, address) in enumerate(zip(meters, addresses, strict=True)):
        data.update(
            {
                f"points-{i}-meter": str(meter.pk),
                f"points-{i}-register_type": "holding",
                f"points-{i}-address": str(address),
                f"points-{i}-data_type": "float32",
                f"points-{i}-byte_order": "ABCD",
                f"points-{i}-scale": "1",
                f"points-{i}-offset": "0",
            }
        )
    return data


def test_devices_and_register_map(client, world):
    meters = [meter_for(world.tenant_a) for _ in range(2)]
    foreign_meter = meter_for(world.tenant_b)
    login(client, world.user("a_staff"))
    created = client.post(
        reverse("metering:device_create"),
        {
            "name": "网关一",
            "protocol": "tcp",
            "host": "10.0.0.9",
            "port": "502",
            "serial_port": "",
            "baudrate": "9600",
            "parity": "N",
            "stopbits": "1",
            "unit_id": "1",
            "timeout_s": "3",
            "retries": "2",
            "backoff_s": "0.5",
            "poll_interval_s": "60",
            "enabled": "on",
        },
    )
    assert created.status_code == 302
    with unscoped():
        device = ModbusDevice.objects.get(enterprise=world.tenant_a, name="网关一")
    detail_url = reverse("metering:device_detail", args=[device.pk])
    assert client.get(detail_url).status_code == 200

    overlap = client.post(detail_url, points_post(meters, [0, 1]))
    assert overlap.status_code == 200 and "重叠" in overlap.content.decode()
    foreign = client.post(detail_url, points_post([meters[0], foreign_meter], [0, 2]))
    assert foreign.status_code == 200
    with unscoped():
        assert device.points.count() == 0

    saved = client.post(detail_url, points_post(meters, [0, 2]))
    assert saved.status_code == 302
    with unscoped():
        assert sorted(device.points.values_list("address", flat=True)) == [0, 2]

    listing = client.get(reverse("metering:device_list")).content.decode()
    assert "网关一" in listing
    outsider_device = modbus_device_for(world.outsider)
    for name in ("device_detail", "device_edit", "device_delete"):
        assert client.get(reverse(f"metering:{name}", args=[outsider_device.pk])).status_code == 404
    assert client.post(reverse("metering:device_delete", args=[device.pk])).status_code == 403


def test_mqtt_mappings(client, world):
    login(client, world.user("a_admin"))
    bad = client.post(
        reverse("metering:mapping_create"),
        {"name": "网关", "topic_pattern": "plant/#/x", "ts_path": "ts", "value_path": "value"},
    )
    assert bad.status_code == 200 and "#" in bad.content.decode()
    good = client.post(
        reverse("metering:mapping_create"),
        {
            "name": "网关",
            "topic_pattern": "plant/{meter}/data",
            "ts_path": "ts",
            "value_path": "v",
            "enabled": "on",
        },
    )
    assert good.status_code == 302
    with unscoped():
        mapping = MqttMapping.objects.get(enterprise=world.tenant_a)
    assert mapping.value_path == "v"
    assert client.post(reverse("metering:mapping_delete", args=[mapping.pk])).status_code == 302
    with unscoped():
        assert not MqttMapping.objects.exists()


def test_gateway_token_is_shown_once_and_revocable(client, world):
    login(client, world.user("a_admin"))
    issued = client.post(reverse("metering:token_list"), {"name": "一号网关"})
    assert issued.status_code == 200 and issued["Cache-Control"] == "no-store"
    with unscoped():
        token = GatewayToken.objects.get(enterprise=world.tenant_a, name="一号网关")
    page = issued.content.decode()
    start = page.index('<code id="plain-token">') + len('<code id="plain-token">')
    plain = page[start : page.index("</code>", start)]
    assert token_sha256(plain) == token.token_sha256
    # The gateway's MQTT user name is shown with the token, and stays in the list.
    username = f"{world.tenant_a.credit_code}.{token.pk}"
    assert f'<code id="issued-mqtt-username">{username}</code>' in page
    again = client.get(reverse("metering:token_list")).content.decode()
    assert plain not in again and token.token_prefix in again
    assert f'<code class="mqtt-username">{username}</code>' in again
    assert client.post(reverse("metering:token_revoke", args=[token.pk])).status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    foreign = gateway_token_for(world.outsider)
    assert client.post(reverse("metering:token_revoke", args=[foreign.pk])).status_code == 404
    login(client, world.user("a_staff"))
    assert client.post(reverse("metering:token_list"), {"name": "x"}).status_code == 403


def test_quarantine_preview_is_escaped(client, world):
    quarantined_message_for(world.tenant_a, payload=b"<script>alert(1)</script>", reason="JSON 格式错误")
    quarantined_message_for(world.tenant_a, payload=b"\xff\xfe\x00binary", reason="UTF-8 解码失败")
    quarantined_message_for(world.outsider, reason="外企的隔离数据")
    login(client, world.user("a_admin"))
    page = client.get(reverse("metering:quarantine_list")).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert "ff fe 00" in page
    assert "外企的隔离数据" not in page


def test_registry_in_the_admin(client, world):
    meter = meter_for(world.tenant_a)
    device = modbus_device_for(world.tenant_a)
    modbus_point_for(world.tenant_a, device=device, meter=meter)
    outsider_meter = meter_for(world.outsider)
    login(client, world.user("zhengzhou_reviewer"))
    assert client.get(reverse("admin:metering_meter_changelist")).status_code == 200
    view = client.get(reverse("admin:metering_meter_change", args=[meter.pk]))
    assert view.status_code == 200 and 'name="_save"' not in view.content.decode()
    assert (
        client.post(reverse("admin:metering_meter_change", args=[meter.pk]), {"name": "x"}).status_code == 403
    )
    assert client.get(reverse("admin:metering_meter_change", args=[outsider_meter.pk])).status_code == 404
    assert client.get(reverse("admin:metering_meter_add")).status_code == 403
    device_page = client.get(reverse("admin:metering_modbusdevice_change", args=[device.pk]))
    assert device_page.status_code == 200 and meter.code in device_page.content.decode()

    login(client, world.user("platform_admin"))
    assert client.get(reverse("admin:metering_modbusdevice_change", args=[device.pk])).status_code == 200
    assert client.get(reverse("admin:metering_meter_change", args=[outsider_meter.pk])).status_code == 200
    assert client.get(reverse("admin:metering_quarantinedmessage_add")).status_code == 403


def test_meter_page_shows_live_readings_and_consumption_with_rollover(client, world):
    import datetime as dt

    from django.utils import timezone

    from metering.ingest.services import ResolvedReading, readings_ingest_resolved
    from portal.access import enterprise_scope

    meter = meter_for(world.tenant_a, code="E-LIVE", register_max=10000.0)
    now = timezone.now().replace(microsecond=0)
    # 9990 → 9998 → (rolls over at 10000) 5 → 12: consumption 8 + 7 + 7 = 22.
    values = [9990.0, 9998.0, 5.0, 12.0]
    rows = [
        ResolvedReading(meter_id=meter.pk, ts=now - dt.timedelta(minutes=15 * (len(values) - i)), value=v)
        for i, v in enumerate(values)
    ]
    with enterprise_scope(world.tenant_a.pk):
        assert readings_ingest_resolved(rows=rows, source="modbus").accepted == 4

    login(client, world.user("a_staff"))
    response = client.get(reverse("metering:meter_detail", kwargs={"pk": meter.pk}))
    assert response.status_code == 200
    body = response.content.decode()
    assert "9998.0" in body and "12.0" in body
    assert response.context["consumption_total"] == pytest.approx(22.0)
    assert [round(i.amount, 6) for i in response.context["intervals"]] == [8.0, 7.0, 7.0]
    assert 'http-equiv="refresh"' in body

    login(client, world.user("b_admin"))
    assert client.get(reverse("metering:meter_detail", kwargs={"pk": meter.pk})).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url_name", "tab"),
    [
        ("metering:meter_list", "表计"),
        ("metering:device_list", "Modbus 设备"),
        ("metering:token_list", "网关令牌"),
        ("metering:meter_import", "导入表计"),
    ],
)
def test_registry_sub_pages_are_tabs_with_the_current_one_marked(client, world, url_name, tab):
    login(client, world.user("a_admin"))
    html = client.get(reverse(url_name), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert '<div class="tabs">' in html
    assert html.count('aria-current="page"') == 1
    current = html.split('aria-current="page">', 1)[1].split("</a>", 1)[0]
    assert current == tab
