"""The production pages (/metering/production/, /metering/base-period/): entering output per month
and product or line, the base period, who may do what, and the audit trail."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client

from metering.monitoring.models import BasePeriod, ProductionRecord
from portal.models import AuditEntry
from tests.conftest import login
from tests.metering.registry_factories import site_node_for
from tests.scoping import unscoped
from tests.tenancy_indicators import production_record_for

pytestmark = pytest.mark.django_db

LIST = "/metering/production/"
NEW = "/metering/production/new/"
BASE = "/metering/base-period/"


def client_for(world, key: str) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    login(client, world.user(key))
    return client


def record_body(**overrides: str) -> dict[str, str]:
    return {"month": "2025-03", "site_node": "", "product": "热轧钢卷", "quantity": "1200.5", "unit": "t",
            "output_value_wan_yuan": "860", "note": "", **overrides}


def records_of(enterprise) -> list[ProductionRecord]:  # type: ignore[no-untyped-def]
    with unscoped():  # inspecting what the page stored
        return list(ProductionRecord.objects.filter(enterprise=enterprise).order_by("id"))


def test_the_empty_list_says_what_to_do_and_sits_under_the_metering_tabs(world) -> None:  # type: ignore[no-untyped-def]
    page = client_for(world, "a_staff").get(LIST)
    text = page.content.decode()
    assert page.status_code == 200
    assert "还没有录入产量与产值" in text and 'href="/metering/production/new/?enterprise=' in text
    assert 'aria-current="page">产量与产值</a>' in text  # the tab of the metering navigation
    assert "节能基期：" in text and "未设置" in text


def test_staff_enter_a_month_of_output_which_is_listed_with_units_and_audited(world) -> None:  # type: ignore[no-untyped-def]
    client = client_for(world, "a_staff")
    line = site_node_for(world.tenant_a, kind="line", name="一号产线")
    response = client.post(NEW, record_body(site_node=str(line.pk)))
    assert response.status_code == 302, response.content.decode()[:2000]
    [record] = records_of(world.tenant_a)
    stored = (record.month, record.quantity, record.unit, record.output_value_wan_yuan, record.site_node_id)
    assert stored == (dt.date(2025, 3, 1), Decimal("1200.5"), "t", Decimal(860), line.pk)
    text = client.get(LIST).content.decode()
    assert "2025年3月" in text and "1200.5 t" in text and "860 万元" in text and "一号产线" in text
    with unscoped():
        entry = AuditEntry.objects.get(object_type="monitoring.ProductionRecord", object_id=str(record.pk))
    assert entry.actor == world.user("a_staff") and entry.enterprise_id_snapshot == world.tenant_a.pk

    # Edit it; the same product in the same month and line a second time is refused with a reason.
    edit = client.post(f"/metering/production/{record.pk}/edit/", record_body(site_node=str(line.pk),
                                                                               quantity="1300"))
    assert edit.status_code == 302
    assert records_of(world.tenant_a)[0].quantity == Decimal(1300)
    again = client.post(NEW, record_body(site_node=str(line.pk)))
    assert again.status_code == 200 and "已有此产品的记录" in again.content.decode()
    assert len(records_of(world.tenant_a)) == 1


def test_bad_input_names_the_field(world) -> None:  # type: ignore[no-untyped-def]
    client = client_for(world, "a_staff")
    response = client.post(NEW, record_body(quantity="-3", month="2025-13"))
    text = response.content.decode()
    assert response.status_code == 200 and records_of(world.tenant_a) == []
    assert "月份" in text and "产量" in text and "errorlist" in text
    # Another enterprise's workshop is not among the choices.
    foreign = site_node_for(world.outsider, kind="workshop", name="外企车间")
    refused = client.post(NEW, record_body(site_node=str(foreign.pk)))
    assert refused.status_code == 200 and records_of(world.tenant_a) == []


def test_the_list_filters_by_month_and_product_and_paginates(world) -> None:  # type: ignore[no-untyped-def]
    for number in range(55):
        production_record_for(world.tenant_a, month=dt.date(2024, 1 + number % 12, 1),
                              product=f"产品{number:02d}")
    production_record_for(world.tenant_a, month=dt.date(2025, 3, 1), product="冷轧板")
    client = client_for(world, "a_staff")
    first = client.get(LIST).content.decode()
    assert "第 1 / 2 页" in first and "下一页" in first
    assert "第 2 / 2 页" in client.get(LIST, {"page": 2}).content.decode()
    march = client.get(LIST, {"month": "2025-03"}).content.decode()
    assert "冷轧板" in march and "产品00" not in march
    by_name = client.get(LIST, {"product": "产品07"}).content.decode()
    assert "产品07" in by_name and "产品08" not in by_name and "冷轧板" not in by_name
    assert "没有符合条件的记录" in client.get(LIST, {"product": "不存在"}).content.decode()


def test_staff_do_not_delete_and_admins_do(world) -> None:  # type: ignore[no-untyped-def]
    record = production_record_for(world.tenant_a)
    url = f"/metering/production/{record.pk}/delete/"
    assert client_for(world, "a_staff").post(url).status_code == 403
    admin = client_for(world, "a_admin")
    assert admin.get(url).status_code == 200
    assert admin.post(url).status_code == 302
    assert records_of(world.tenant_a) == []


def test_officials_read_without_forms_and_are_refused_writes(world) -> None:  # type: ignore[no-untyped-def]
    record = production_record_for(world.tenant_a, product="钢坯")
    officer = client_for(world, "henan_officer")
    page = officer.get(LIST, {"enterprise": world.tenant_a.pk})
    text = page.content.decode()
    assert page.status_code == 200 and "钢坯" in text and "/metering/production/new/" not in text
    assert officer.post(f"{NEW}?enterprise={world.tenant_a.pk}", record_body()).status_code == 403
    assert officer.post(f"/metering/production/{record.pk}/edit/", record_body()).status_code == 403
    base = officer.get(BASE, {"enterprise": world.tenant_a.pk})
    assert base.status_code == 200 and "base-period-form" not in base.content.decode()
    assert officer.post(f"{BASE}?enterprise={world.tenant_a.pk}",
                        {"start_month": "2023-01", "end_month": "2023-12"}).status_code == 403
    # Out of reach: 404, as for a missing record.
    assert client_for(world, "b_admin").get(f"/metering/production/{record.pk}/edit/").status_code == 404
    assert client_for(world, "b_admin").get(LIST, {"enterprise": world.tenant_a.pk}).status_code == 404
    assert len(records_of(world.tenant_a)) == 1


def test_the_base_period_is_set_changed_and_cleared(world) -> None:  # type: ignore[no-untyped-def]
    client = client_for(world, "a_admin")
    assert "未设置" in client.get(BASE).content.decode()
    saved = client.post(BASE, {"start_month": "2023-01", "end_month": "2023-12", "note": "改造前一年"})
    assert saved.status_code == 302
    with unscoped():
        base = BasePeriod.objects.get(enterprise=world.tenant_a)
    assert (base.start_month, base.end_month, base.note) == (
        dt.date(2023, 1, 1), dt.date(2023, 12, 1), "改造前一年")
    assert "2023年1月–2023年12月" in client.get(LIST).content.decode()
    wrong = client.post(BASE, {"start_month": "2023-12", "end_month": "2023-01"})
    assert wrong.status_code == 200 and "不能早于起始月" in wrong.content.decode()
    assert client.post(BASE, {"action": "clear"}).status_code == 302
    with unscoped():
        assert not BasePeriod.objects.filter(enterprise=world.tenant_a).exists()
        assert AuditEntry.objects.filter(object_type="monitoring.BasePeriod", action="delete").exists()
