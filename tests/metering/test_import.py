"""Bulk meter import: all or nothing, with a per-row report; CSV and XLSX; page and API."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook, load_workbook
from rest_framework.test import APIClient

from metering.models import Meter, SiteNode
from metering.registry.importing import COLUMNS, meters_import
from portal.access import reach_scope
from tests.conftest import login
from tests.metering.registry_factories import meter_for
from tests.scoping import unscoped

pytestmark = pytest.mark.django_db

HEADERS_ZH = [
    "编号",
    "名称",
    "级别",
    "能源种类",
    "单位",
    "累计",
    "上级表计",
    "安装位置",
    "准确度等级",
    "检定日期",
    "下次检定日期",
    "数据项编码",
    "IT负载",
]
GOOD_ROWS = [
    # The child comes first: a parent may be any row of the file, in any order.
    [
        "M-101",
        "一车间电能表",
        "2",
        "电力",
        "kWh",
        "是",
        "M-001",
        "一厂区/一车间",
        "0.5S",
        "2024-03-01",
        "2025-03-01",
        "DL-0101",
    ],
    [
        "M-001",
        "总进线电能表",
        "1",
        "electricity",
        "kWh",
        "true",
        "",
        "一厂区",
        "0.5S",
        "2024/03/01",
        "",
        "DL-0001",
    ],
    ["G-001", "天然气总表", "一级", "天然气", "m³", "否", "", "", "", "", "", ""],
]


def csv_file(rows, headers=HEADERS_ZH, name="meters.csv") -> SimpleUploadedFile:  # type: ignore[no-untyped-def]
    import csv

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(headers)
    writer.writerows(rows)
    return SimpleUploadedFile(name, buffer.getvalue().encode("utf-8-sig"), content_type="text/csv")


def xlsx_file(rows, headers=HEADERS_ZH, name="meters.xlsx") -> SimpleUploadedFile:  # type: ignore[no-untyped-def]
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return SimpleUploadedFile(
        name,
        buffer.getvalue(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


def test_good_csv_imports_every_row_with_parents_and_site_tree(world):
    admin = world.user("a_admin")
    with reach_scope(admin):  # the import page and API run it in the actor's scope
        report = meters_import(actor=admin, enterprise=world.tenant_a, file=csv_file(GOOD_ROWS))
        assert report.ok, report.as_dict()
        assert (report.created, report.updated) == (3, 0)
        child = Meter.objects.get(enterprise=world.tenant_a, code="M-101")
        assert child.parent.code == "M-001" and child.level == 2
        assert child.site_node.name == "一车间" and child.site_node.kind == SiteNode.Kind.WORKSHOP
        assert child.site_node.parent.name == "一厂区" and child.site_node.parent.kind == SiteNode.Kind.SITE
        assert child.calibration_due_on == dt.date(2025, 3, 1)
        assert Meter.objects.get(code="M-001").calibrated_on == dt.date(2024, 3, 1)
        gas = Meter.objects.get(code="G-001")
        assert gas.energy_type == "natural_gas" and gas.cumulative is False and gas.level == 1
        # The site node "一厂区" was created once and reused.
        assert SiteNode.objects.filter(enterprise=world.tenant_a, name="一厂区").count() == 1


def test_good_xlsx_with_english_headers_and_native_cells_imports_and_updates_existing(world):
    existing = meter_for(world.tenant_a, code="M-001", name="旧名称")
    headers = [english for _chinese, english in COLUMNS.values()]
    rows = [
        [
            "M-001",
            "总进线电能表",
            1,
            "electricity",
            "kWh",
            True,
            None,
            "一厂区",
            "0.5S",
            dt.datetime(2024, 3, 1),
            dt.datetime(2025, 3, 1),
            1001,
        ],
        ["S-001", "蒸汽流量计", 2, "蒸汽", "t", "是", "M-001", None, None, None, None, None],
    ]
    with reach_scope(world.user("a_admin")):  # the import page and API run it in the actor's scope
        report = meters_import(
            actor=world.user("a_admin"), enterprise=world.tenant_a, file=xlsx_file(rows, headers)
        )
        assert report.ok, report.as_dict()
        assert (report.created, report.updated) == (1, 1)
        existing.refresh_from_db()
        assert existing.name == "总进线电能表" and existing.data_item_code == "1001"
        assert existing.calibrated_on == dt.date(2024, 3, 1)
        steam = Meter.objects.get(code="S-001")
        assert steam.energy_type == "steam" and steam.parent_id == existing.pk


def test_one_file_with_bad_rows_imports_nothing_and_reports_each_row(world):
    meter_for(world.tenant_a, code="KEEP", name="原有表计")
    rows = [
        GOOD_ROWS[1],  # row 2: fine
        ["B-1", "级别错误", "4", "电力", "kWh", "是", "", "", "", "", "", ""],  # row 3: bad level
        ["B-2", "上级不存在", "2", "电力", "kWh", "是", "NOPE", "", "", "", "", ""],  # row 4: unknown parent
        ["M-001", "编号重复", "1", "电力", "kWh", "是", "", "", "", "", "", ""],  # row 5: duplicate code
        ["B-3", "日期错误", "3", "电力", "kWh", "是", "", "", "", "2024-13-45", "", ""],  # row 6: bad date
        ["KEEP", "改名", "1", "电力", "kWh", "是", "", "新厂区", "", "", "", ""],  # row 7: fine (an update)
    ]
    with reach_scope(world.user("a_admin")):  # the import page and API run it in the actor's scope
        for upload in (csv_file(rows), xlsx_file(rows)):
            report = meters_import(actor=world.user("a_admin"), enterprise=world.tenant_a, file=upload)
            assert not report.ok
            assert (report.created, report.updated) == (0, 0)
            by_row = {(e.row, e.column) for e in report.errors}
            assert (3, "级别") in by_row
            assert (4, "上级表计") in by_row
            assert (5, "编号") in by_row
            assert (6, "检定日期") in by_row
            messages = {e.row: e.message for e in report.errors}
            assert "第 2 行" in messages[5]
            # Nothing was written: not the good rows, not the update, not the site tree.
            assert list(Meter.objects.filter(enterprise=world.tenant_a).values_list("code", "name")) == [
                ("KEEP", "原有表计")
            ]
            assert not SiteNode.objects.filter(enterprise=world.tenant_a).exists()


def test_unknown_parent_is_reported_when_the_rest_of_the_file_is_valid(world):
    with reach_scope(world.user("a_admin")):  # the import page and API run it in the actor's scope
        rows = [GOOD_ROWS[1], ["B-2", "上级不存在", "2", "电力", "kWh", "是", "NOPE", "", "", "", "", ""]]
        report = meters_import(actor=world.user("a_admin"), enterprise=world.tenant_a, file=csv_file(rows))
        assert [(e.row, e.column) for e in report.errors] == [(3, "上级表计")]
        assert "NOPE" in report.errors[0].message
        assert not Meter.objects.filter(enterprise=world.tenant_a).exists()


def test_parent_of_another_tenant_is_unknown(world):
    with reach_scope(world.user("a_admin")):  # the import page and API run it in the actor's scope
        meter_for(world.tenant_b, code="FOREIGN")
        rows = [["B-2", "外企上级", "2", "电力", "kWh", "是", "FOREIGN", "", "", "", "", ""]]
        report = meters_import(actor=world.user("a_admin"), enterprise=world.tenant_a, file=csv_file(rows))
        assert [(e.row, e.column) for e in report.errors] == [(2, "上级表计")]
        assert not Meter.objects.filter(enterprise=world.tenant_a).exists()


def test_rejected_files(world):
    actor, enterprise = world.user("a_admin"), world.tenant_a
    with reach_scope(actor):
        wrong_type = SimpleUploadedFile(
            "meters.xls", b"\xd0\xcf\x11\xe0", content_type="application/vnd.ms-excel"
        )
        assert ".xlsx" in meters_import(actor=actor, enterprise=enterprise, file=wrong_type).errors[0].message
        too_big = SimpleUploadedFile("meters.csv", b"a" * (5 * 1024 * 1024 + 1), content_type="text/csv")
        assert "5 MB" in meters_import(actor=actor, enterprise=enterprise, file=too_big).errors[0].message
        fake_xlsx = SimpleUploadedFile("meters.xlsx", b"not a zip", content_type="application/octet-stream")
        assert meters_import(actor=actor, enterprise=enterprise, file=fake_xlsx).errors
        missing_column = csv_file([["X", "名称"]], headers=["编号", "名称"])
        report = meters_import(actor=actor, enterprise=enterprise, file=missing_column)
        assert {e.column for e in report.errors} >= {"级别", "能源种类", "单位"}
    with unscoped():
        assert not Meter.objects.exists()


def test_api_import_reports_and_writes_all_or_nothing(world):
    client = APIClient()
    login(client, world.user("a_staff"))
    bad = client.post(
        "/api/v1/meters/import/", {"file": csv_file([["B-1", "x", "9", "电力", "kWh"]])}, format="multipart"
    )
    assert bad.status_code == 400
    body = bad.json()
    assert body["created"] == 0 and body["errors"][0]["row"] == 2 and body["errors"][0]["column"] == "级别"
    assert body["error"]["status"] == 400
    good = client.post("/api/v1/meters/import/", {"file": xlsx_file(GOOD_ROWS)}, format="multipart")
    assert good.status_code == 200, good.content
    assert good.json() == {"created": 3, "updated": 0, "errors": []}
    foreign = client.post(
        "/api/v1/meters/import/",
        {"file": csv_file(GOOD_ROWS), "enterprise": world.outsider.pk},
        format="multipart",
    )
    assert foreign.status_code == 400 and "enterprise" in foreign.json()["error"]["fields"]
    with unscoped():
        assert not Meter.objects.filter(enterprise=world.outsider).exists()
    officer = APIClient()
    login(officer, world.user("henan_officer"))
    assert (
        officer.post(
            "/api/v1/meters/import/",
            {"file": csv_file(GOOD_ROWS), "enterprise": world.tenant_a.pk},
            format="multipart",
        ).status_code
        == 403
    )


def test_page_import_and_templates(client, world):
    login(client, world.user("a_admin"))
    page = client.get("/metering/meters/import/")
    assert page.status_code == 200
    bad = client.post("/metering/meters/import/", {"file": csv_file([["B-1", "x", "9", "电力", "kWh"]])})
    assert bad.status_code == 400
    assert "级别必须是" in bad.content.decode()
    with unscoped():
        assert not Meter.objects.exists()
    good = client.post("/metering/meters/import/", {"file": csv_file(GOOD_ROWS)})
    assert good.status_code == 302
    with unscoped():
        assert Meter.objects.filter(enterprise=world.tenant_a).count() == 3

    xlsx = client.get("/metering/meters/import/template.xlsx")
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content), read_only=True).worksheets[0]
    assert [c for c in next(sheet.iter_rows(values_only=True))] == HEADERS_ZH
    csv_template = client.get("/metering/meters/import/template.csv")
    assert csv_template.content.startswith("\ufeff编号,名称".encode())
    # The templates themselves import cleanly (into another enterprise).
    template_upload = SimpleUploadedFile("template.xlsx", xlsx.content)
    with reach_scope(world.user("b_admin")):
        report = meters_import(actor=world.user("b_admin"), enterprise=world.tenant_b, file=template_upload)
    assert report.ok and report.created == 2, report.as_dict()


def test_officials_cannot_use_the_import_page(client, world):
    login(client, world.user("zhengzhou_reviewer"))
    assert client.get(f"/metering/meters/import/?enterprise={world.tenant_a.pk}").status_code == 403
    assert client.get(f"/metering/meters/import/?enterprise={world.outsider.pk}").status_code == 404


def test_a_data_center_marks_its_it_load_meters_in_the_import(world):
    admin = world.user("outsider_admin")
    rows = [["DC-IT-1", "机柜列头柜", "2", "电力", "kWh", "是", "", "", "", "", "", "", "是"],
            ["DC-CRAC", "精密空调", "2", "电力", "kWh", "是", "", "", "", "", "", "", ""]]
    with reach_scope(admin):
        report = meters_import(actor=admin, enterprise=world.outsider, file=csv_file(rows))
        assert report.ok, report.as_dict()
        flags = dict(Meter.objects.filter(enterprise=world.outsider).values_list("code", "is_it_load"))
    assert flags == {"DC-IT-1": True, "DC-CRAC": False}
