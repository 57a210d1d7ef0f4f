"""Reports and exports (metering/reports), on PostgreSQL, with readings written through the real
ingest service and rollups from the real recompute; files read back with csv and openpyxl."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from metering.monitoring.tasks import recompute_rollups
from metering.reports import services
from metering.reports.forms import default_period
from metering.reports.models import ExportJob
from metering.reports.series import ROLLUP_COLUMNS, SeriesQuery
from metering.reports.tables import NUMBER, PERCENT, Column
from metering.reports.tasks import run_export_job
from metering.reports.writers import write_xlsx
from portal.models import AuditEntry
from tests.conftest import login
from tests.metering.test_ingest import make_meter
from tests.metering.test_rollups import ingest
from tests.scoping import unscoped
from tests.test_browser import browser  # noqa: F401  (the headless Chromium fixture)

pytestmark = pytest.mark.django_db

CST = dt.timezone(dt.timedelta(hours=8))
DAY1 = dt.datetime(2025, 3, 10, tzinfo=CST)
STEP_KWH = 2.5
QUARTERS_PER_DAY = 96


@pytest.fixture(autouse=True)
def private_exports(settings, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """Export files in a folder of this test's own, outside MEDIA_ROOT (as in production)."""
    folder = tmp_path / "exports"
    settings.STORAGES = {**settings.STORAGES, "exports": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(folder), "base_url": "/no-public-url/"}}}
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return folder


def client_for(world: Any, key: str) -> Client:
    client = Client()
    login(client, world.user(key))
    return client


def two_days_of_quarter_hours(world: Any, code: str = "E-EXP-1") -> Any:
    """A cumulative kWh register read every 15 minutes for two days (and once just before): each day
    consumes 96 × 2.5 = 240 kWh, in 96 of 96 slots."""
    meter = make_meter(world.tenant_a, code)
    points = [(DAY1 - dt.timedelta(minutes=15), 1000.0)]
    points += [(DAY1 + dt.timedelta(minutes=15 * i), 1000.0 + (i + 1) * STEP_KWH)
               for i in range(2 * QUARTERS_PER_DAY)]
    ingest(world.tenant_a.pk, code, points)
    assert recompute_rollups() == 1
    return meter


def export_fields(meter: Any, **extra: Any) -> dict[str, Any]:
    return {"meters": [meter.pk], "interval": "day", "start": "2025-03-10", "end": "2025-03-11",
            "file_format": "csv", **extra}


def job_of(pk: int) -> ExportJob:
    with unscoped():  # inspecting what the worker stored
        return ExportJob.objects.get(pk=pk)


def csv_rows(content: bytes) -> list[list[str]]:
    assert content.startswith("\ufeff".encode()), "CSV for spreadsheets starts with a UTF-8 BOM"
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# --- meter data: export jobs ---------------------------------------------------------------------------


def test_an_export_job_writes_the_day_buckets_and_is_served_only_in_reach(world, private_exports) -> None:  # type: ignore[no-untyped-def]
    meter = two_days_of_quarter_hours(world)
    admin = client_for(world, "a_admin")

    response = admin.post(f"{reverse('metering:report_export')}?enterprise={world.tenant_a.pk}",
                          export_fields(meter))
    assert response.status_code == 302
    job = job_of(int(response["Location"].rstrip("/").rsplit("/", 1)[-1]))
    assert (job.state, job.progress, job.requested_by, job.enterprise_id) == (
        "queued", 0, world.user("a_admin"), world.tenant_a.pk)
    assert AuditEntry.objects.filter(object_type="reports.ExportJob", object_id=str(job.pk),
                                     action="create").exists()

    assert run_export_job(job.pk, enterprise_id=world.tenant_a.pk) == "done"

    job = job_of(job.pk)
    assert (job.state, job.progress, job.rows_total, job.rows_written, job.error) == ("done", 100, 2, 2, "")
    stored = Path(job.file.path)
    assert stored.is_relative_to(private_exports) and not stored.is_relative_to(settings.MEDIA_ROOT)

    download = admin.get(reverse("metering:export_job_download", kwargs={"pk": job.pk}))
    assert download.status_code == 200
    assert "attachment" in download["Content-Disposition"]
    rows = csv_rows(body(download))
    assert rows[0] == [str(column.label) for column in ROLLUP_COLUMNS]
    assert rows[1:] == [
        [meter.code, meter.name, "电力", f"2025-03-{day}T00:00:00+08:00", "240.0", "kWh", "96", "96",
         "100.00%", "正常"] for day in ("10", "11")
    ]

    status = admin.get(reverse("metering:export_job_status", kwargs={"pk": job.pk})).json()
    assert status["state"] == "done" and status["progress"] == 100 and status["finished"]
    assert status["download_url"] == reverse("metering:export_job_download", kwargs={"pk": job.pk})

    # Zhengzhou's reviewer reads tenant A: the file too. Tenant B and the outsider's admin do not
    # see it at all: 404, as for an id no job has.
    assert client_for(world, "zhengzhou_reviewer").get(
        reverse("metering:export_job_download", kwargs={"pk": job.pk})).status_code == 200
    for key in ("b_admin", "outsider_admin", "luoyang_reviewer", "expert"):
        other = client_for(world, key)
        for name in ("export_job_download", "export_job_status", "export_job_detail"):
            answer = other.get(reverse(f"metering:{name}", kwargs={"pk": job.pk}))
            assert answer.status_code == 404, (key, name)
    assert admin.get(reverse("metering:export_job_download", kwargs={"pk": 2_147_480_000})).status_code == 404
    # Not anywhere public: MEDIA_URL serves nothing of it.
    assert Client().get(f"{settings.MEDIA_URL}{job.file.name}").status_code == 404


def test_progress_moves_as_rows_are_written_and_reaches_100(world, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    meter = two_days_of_quarter_hours(world)
    seen: list[tuple[int, int]] = []
    original = services._progress

    def watching(job_id: int, total: int) -> Any:
        record = original(job_id, total)

        def wrapped(written: int) -> None:
            record(written)
            stored = job_of(job_id)
            seen.append((stored.progress, stored.rows_written))
        return wrapped

    monkeypatch.setattr(services, "PROGRESS_EVERY_ROWS", 48)
    monkeypatch.setattr(services, "_progress", watching)
    with unscoped():
        job = ExportJob.objects.create(
            enterprise=world.tenant_a, kind="meter_series", file_format="xlsx", title="原始读数导出",
            query=SeriesQuery((meter.pk,), "raw", DAY1.date(), dt.date(2025, 3, 11)).as_json())

    run_export_job(job.pk, enterprise_id=world.tenant_a.pk)

    # 192 readings in the two days (the one before them is not in the period), every 48 rows.
    assert seen == [(25, 48), (50, 96), (75, 144), (99, 192)]
    job = job_of(job.pk)
    assert (job.state, job.progress, job.rows_written) == ("done", 100, 192)
    with job.file.open("rb") as handle:
        sheet = load_workbook(io.BytesIO(handle.read()), read_only=True).worksheets[0]
        rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:5] == ("表计编号", "表计名称", "能源种类", "时间（北京时间）", "读数")
    assert len(rows) == 1 + 192
    assert rows[1][3] == dt.datetime(2025, 3, 10, 0, 0) and rows[1][4] == 1002.5
    assert rows[-1][3] == dt.datetime(2025, 3, 11, 23, 45) and rows[-1][4] == 1000.0 + 192 * STEP_KWH


def test_a_failed_job_says_why_and_serves_no_file(world) -> None:  # type: ignore[no-untyped-def]
    meter = make_meter(world.tenant_a, "E-GONE")
    with unscoped():
        job = ExportJob.objects.create(
            enterprise=world.tenant_a, kind="meter_series", file_format="csv", title="已删除表计的导出",
            query=SeriesQuery((meter.pk, 2_147_480_001), "day", DAY1.date(), DAY1.date()).as_json())

    assert run_export_job(job.pk, enterprise_id=world.tenant_a.pk) == "failed"

    job = job_of(job.pk)
    assert job.state == "failed" and "已被删除" in job.error and job.finished_at is not None
    admin = client_for(world, "a_admin")
    status = admin.get(reverse("metering:export_job_status", kwargs={"pk": job.pk})).json()
    assert status["state"] == "failed" and status["error"] == job.error and status["download_url"] is None
    assert admin.get(reverse("metering:export_job_download", kwargs={"pk": job.pk})).status_code == 404
    page = admin.get(reverse("metering:export_job_detail", kwargs={"pk": job.pk})).content.decode()
    assert job.error in page and "失败原因" in page


def test_a_finished_job_is_not_run_twice(world) -> None:  # type: ignore[no-untyped-def]
    meter = two_days_of_quarter_hours(world)
    with unscoped():
        job = ExportJob.objects.create(enterprise=world.tenant_a, kind="meter_series", file_format="csv",
                                       title="一次导出", query=SeriesQuery((meter.pk,), "day", DAY1.date(),
                                                                        DAY1.date()).as_json())
    assert run_export_job(job.pk, enterprise_id=world.tenant_a.pk) == "done"
    first = job_of(job.pk).file.name
    assert run_export_job(job.pk, enterprise_id=world.tenant_a.pk) is None  # nothing to claim
    assert job_of(job.pk).file.name == first and job_of(job.pk).attempts == 1


def test_queued_through_celery_the_job_runs_after_commit(world, django_capture_on_commit_callbacks) -> None:  # type: ignore[no-untyped-def]
    from portal.celery import app

    meter = two_days_of_quarter_hours(world)
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True  # the worker is this process (as in the embedded default)
    try:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            response = client_for(world, "a_staff").post(reverse("metering:report_export"),
                                                         export_fields(meter, file_format="xlsx"))
    finally:
        app.conf.task_always_eager = previous
    assert response.status_code == 302 and len(callbacks) == 1
    with unscoped():
        job = ExportJob.objects.get(enterprise=world.tenant_a)
    assert (job.state, job.progress, job.file_format) == ("done", 100, "xlsx")
    with job.file.open("rb") as handle:
        rows = list(load_workbook(io.BytesIO(handle.read())).active.iter_rows(values_only=True))
    assert [row[3:9] for row in rows[1:]] == [
        (dt.datetime(2025, 3, 10), 240.0, "kWh", 96, 96, 1.0),
        (dt.datetime(2025, 3, 11), 240.0, "kWh", 96, 96, 1.0),
    ]


def test_officials_download_directly_but_may_not_queue_jobs(world) -> None:  # type: ignore[no-untyped-def]
    meter = two_days_of_quarter_hours(world)
    reviewer = client_for(world, "zhengzhou_reviewer")
    url = f"{reverse('metering:report_export')}?enterprise={world.tenant_a.pk}"

    assert reviewer.post(url, export_fields(meter)).status_code == 403
    with unscoped():
        assert not ExportJob.objects.exists()

    query = {"enterprise": world.tenant_a.pk, "meters": meter.pk, "interval": "hour",
             "start": "2025-03-10", "end": "2025-03-10"}
    page = reviewer.get(reverse("metering:report_export"), query)
    assert page.status_code == 200 and page.context["count"] == 24
    download = reviewer.get(reverse("metering:report_export"), {**query, "format": "csv"})
    assert download.status_code == 200 and download.streaming
    rows = csv_rows(body(download))
    assert len(rows) == 1 + 24
    # Each hour holds four quarter-hour intervals of 2.5 kWh; hour buckets sum to the day's 240.
    assert {row[4] for row in rows[1:]} == {"10.0"}
    assert sum(float(row[4]) for row in rows[1:]) == 240.0
    assert {(row[6], row[7]) for row in rows[1:]} == {("4", "4")}

    # The outsider's meter is not in tenant A's form: naming it is refused like any invalid choice.
    other = make_meter(world.outsider, "E-OUTSIDER-EXP")
    refused = reviewer.get(reverse("metering:report_export"), {**query, "meters": other.pk, "format": "csv"})
    assert refused.status_code == 200 and not refused.streaming and "meters" in refused.context["form"].errors


def test_a_query_above_the_direct_limit_asks_for_a_background_export(world, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from metering.reports import views

    meter = two_days_of_quarter_hours(world)
    monkeypatch.setattr(views, "DIRECT_EXPORT_MAX_ROWS", 100)
    response = client_for(world, "a_admin").get(reverse("metering:report_export"), {
        "meters": meter.pk, "interval": "raw", "start": "2025-03-10", "end": "2025-03-11", "format": "xlsx"})
    assert response.status_code == 200 and response.context["count"] == 192
    assert "超过直接下载上限" in response.content.decode()
    assert len(response.context["preview"]["rows"]) == 20


def test_an_excel_export_continues_on_a_new_sheet_past_the_row_limit() -> None:
    columns = (Column("n", "序号", NUMBER, 0), Column("share", "占比（%）", PERCENT, 2))
    out = io.BytesIO()
    written = write_xlsx(out, columns, ([Decimal(i), Decimal(i) / 100] for i in range(5)), sheet_title="测试",
                         max_rows_per_sheet=2)
    assert written == 5
    book = load_workbook(io.BytesIO(out.getvalue()))
    assert book.sheetnames == ["测试", "测试 (2)", "测试 (3)"]
    assert [list(s.iter_rows(values_only=True)) for s in book.worksheets] == [
        [("序号", "占比（%）"), (0, 0), (1, 0.01)], [("序号", "占比（%）"), (2, 0.02), (3, 0.03)],
        [("序号", "占比（%）"), (4, 0.04)]]
    assert book.worksheets[0]["B3"].number_format == "0.00%"


# --- the report tables ------------------------------------------------------------------------------

MARCH = dt.datetime(2025, 3, 1, tzinfo=CST)
APRIL = dt.datetime(2025, 4, 1, tzinfo=CST)
FEBRUARY = dt.datetime(2025, 2, 1, tzinfo=CST)
MARCH_2024 = dt.datetime(2024, 3, 1, tzinfo=CST)
APRIL_2024 = dt.datetime(2024, 4, 1, tzinfo=CST)
QUARTER = dt.timedelta(minutes=15)
COMMON_TABLE = "GB/T 2589 折标准煤系数"


def consume(enterprise: Any, code: str, start: dt.datetime, end: dt.datetime, amount: float,
            first: float = 0.0, *, read_before: bool = True) -> None:
    """A register reading `first` just before `start` (unless that reading is already there) and
    `first + amount` in the last quarter before `end`: `amount` consumed within [start, end).
    Rollups recomputed, as the task would."""
    points = [(start - QUARTER, first)] if read_before else []
    ingest(enterprise.pk, code, [*points, (end - QUARTER, first + amount)])
    recompute_rollups()


def production(enterprise: Any, month: dt.date, product: str, quantity: str, unit: str = "t",
               output_value: str | None = None, site_node: Any = None) -> None:
    from metering.monitoring.production import production_record_create
    from portal.access import enterprise_scope

    with enterprise_scope(enterprise.pk):
        production_record_create(enterprise=enterprise, fields={
            "month": month, "product": product, "quantity": Decimal(quantity), "unit": unit,
            "output_value_wan_yuan": Decimal(output_value) if output_value is not None else None,
            "site_node": site_node})


def report_page(client: Client, name: str, enterprise: Any, **query: Any) -> Any:
    response = client.get(reverse(f"metering:{name}"), {"enterprise": enterprise.pk, **query})
    assert response.status_code == 200
    return response


def steel_with_electricity_and_gas(world: Any) -> None:
    """March 2025: 1,000,000 kWh and 10,000 m³ of (gas-field) natural gas; March 2024: 800,000 kWh."""
    make_meter(world.tenant_a, "E-RPT")
    make_meter(world.tenant_a, "G-RPT", energy_type="natural_gas", unit="m³")
    consume(world.tenant_a, "E-RPT", MARCH_2024, APRIL_2024, 800_000.0)
    consume(world.tenant_a, "E-RPT", MARCH, APRIL, 1_000_000.0, first=800_000.0)
    consume(world.tenant_a, "G-RPT", MARCH, APRIL, 10_000.0, first=100.0)


def test_the_energy_statistics_table_of_a_month(world) -> None:  # type: ignore[no-untyped-def]
    steel_with_electricity_and_gas(world)
    page = report_page(client_for(world, "a_staff"), "report_energy", world.tenant_a, month="2025-03")
    table = page.context["table"]
    rows = {row["energy_type"]: row for row in table.rows}

    # 1,000,000 kWh × 0.1229 kgce/kWh = 122.9 tce; 10,000 m³ × 1.2143 kgce/m³ = 12.143 tce.
    electricity, gas = rows["electricity"], rows["natural_gas"]
    assert (electricity["quantity"], electricity["unit"], electricity["tce"]) == (Decimal(1_000_000), "kWh",
                                                                                 Decimal("122.9"))
    assert electricity["coefficient"] == Decimal("0.1229") and gas["coefficient"] == Decimal("1.2143")
    assert (gas["quantity"], gas["unit"], gas["tce"]) == (Decimal(10_000), "m³", Decimal("12.143"))
    assert table.totals[0]["tce"] == Decimal("135.043")
    assert electricity["share"] == Decimal("122.9") / Decimal("135.043")
    # Last March: 800,000 kWh = 98.32 tce; 1,000,000 ÷ 800,000 − 1 = +25 %. No gas then: no base.
    assert electricity["last_year_tce"] == Decimal("98.32") and electricity["change"] == Decimal("0.25")
    assert gas["last_year_tce"] is None and gas["change"] is None
    assert any(COMMON_TABLE in label for label in table.factor_sets)

    text = page.content.decode()
    for shown in ("能耗统计分析表", "2025年3月", "1,000,000.00", "0.1229", "122.900", "12.143", "135.043",
                  "91.01%", "100.00%", "98.320", "+25.00%", COMMON_TABLE, "tCO₂"):
        assert shown in text, shown

    csv_file = client_for(world, "a_staff").get(reverse("metering:report_energy"), {
        "enterprise": world.tenant_a.pk, "month": "2025-03", "format": "csv"})
    assert csv_file["Content-Disposition"] == 'attachment; filename="report-energy-2025-03.csv"'
    lines = csv_rows(csv_file.content)
    assert lines[:3] == [["能耗统计分析表"], [f"单位：{world.tenant_a.name}"], ["统计期：2025年3月"]]
    assert lines[3] == ["能源品种", "计量单位", "消费量（实物量）", "折标系数（kgce/计量单位）",
                        "折标准煤（tce）", "占综合能耗比例（%）", "上年同期（tce）", "同比增减（%）"]
    by_name = {line[0]: line for line in lines[4:]}
    assert by_name["电力"] == ["电力", "kWh", "1000000.00", "0.1229", "122.900", "91.01%", "98.320", "25.00%"]
    assert by_name["天然气"] == ["天然气", "m³", "10000.00", "1.2143", "12.143", "8.99%", "", ""]
    assert by_name["综合能耗（当量值）"][4:6] == ["135.043", "100.00%"]
    assert any(COMMON_TABLE in line[0] for line in lines if line)

    workbook = client_for(world, "a_staff").get(reverse("metering:report_energy"), {
        "enterprise": world.tenant_a.pk, "month": "2025-03", "format": "xlsx"})
    sheet = load_workbook(io.BytesIO(workbook.content)).active
    values = {row[0].value: row for row in sheet.iter_rows(min_row=5) if row[0].value}
    assert values["电力"][4].value == 122.9 and values["天然气"][4].value == 12.143
    assert values["电力"][5].value == pytest.approx(0.9101) and values["电力"][5].number_format == "0.00%"
    assert values["综合能耗（当量值）"][4].value == 135.043


def test_the_energy_statistics_table_of_a_year_and_its_empty_state(world) -> None:  # type: ignore[no-untyped-def]
    steel_with_electricity_and_gas(world)
    client = client_for(world, "a_admin")
    year = report_page(client, "report_energy", world.tenant_a, period="year", year="2025").context["table"]
    assert year.period.label == "2025年" and year.totals[0]["tce"] == Decimal("135.043")
    # The whole of 2024 held last March only.
    assert {row["energy_type"]: row["last_year_tce"] for row in year.rows}["electricity"] == Decimal("98.32")

    empty = report_page(client, "report_energy", world.tenant_a, month="2025-01")
    assert empty.context["table"].empty
    assert "没有能耗数据" in empty.content.decode() and "请确认表计已接入" in empty.content.decode()

    wrong = report_page(client, "report_energy", world.tenant_a, month="2025-13")
    assert wrong.context["table"] is None and "月份格式" in wrong.content.decode()


def test_the_unit_product_table_against_last_year(world) -> None:  # type: ignore[no-untyped-def]
    steel_with_electricity_and_gas(world)
    production(world.tenant_a, dt.date(2025, 3, 1), "热轧钢卷", "1000", output_value="5000")
    production(world.tenant_a, dt.date(2024, 3, 1), "热轧钢卷", "800", output_value="4000")

    page = report_page(client_for(world, "a_admin"), "report_products", world.tenant_a, month="2025-03")
    (row,) = page.context["table"].rows
    # One product, made by the whole works: 135.043 tce ÷ 1000 t = 135.043 kgce/t; last March
    # 98.32 tce ÷ 800 t = 122.9 kgce/t; 135.043 ÷ 122.9 − 1 = +9.88 %.
    assert (row["product"], row["output"], row["unit"], row["tce"]) == (
        "热轧钢卷", Decimal(1000), "t", Decimal("135.043"))
    assert row["unit_consumption"] == Decimal("135.043")
    assert row["last_year_unit_consumption"] == Decimal("122.9")
    assert round(row["change"], 6) == round(Decimal("135.043") / Decimal("122.9") - 1, 6)
    text = page.content.decode()
    assert "单位产品能耗统计表" in text and "135.043" in text and "+9.88%" in text and "kgce/产量单位" in text

    empty = report_page(client_for(world, "a_admin"), "report_products", world.tenant_a, month="2025-02")
    assert empty.context["table"].empty and "没有填报产品产量" in empty.content.decode()


def test_the_workshop_table_compares_with_the_previous_month_and_ranks(world) -> None:  # type: ignore[no-untyped-def]
    from metering.models import SiteNode

    with unscoped():  # test setup
        site = SiteNode.objects.create(enterprise=world.tenant_a, kind="site", name="郑州厂区")
        rolling = SiteNode.objects.create(enterprise=world.tenant_a, kind="workshop", name="轧钢车间",
                                          parent=site)
        SiteNode.objects.create(enterprise=world.tenant_a, kind="workshop", name="机修车间", parent=site)
    make_meter(world.tenant_a, "E-ROLL", level=2, site_node=rolling)
    consume(world.tenant_a, "E-ROLL", FEBRUARY, MARCH, 500_000.0)
    consume(world.tenant_a, "E-ROLL", MARCH, APRIL, 400_000.0, first=500_000.0, read_before=False)
    production(world.tenant_a, dt.date(2025, 2, 1), "热轧钢卷", "500", site_node=rolling)
    production(world.tenant_a, dt.date(2025, 3, 1), "热轧钢卷", "500", site_node=rolling)

    page = report_page(client_for(world, "zhengzhou_reviewer"), "report_workshops", world.tenant_a,
                       month="2025-03")
    rows = {row["node"]: row for row in page.context["table"].rows}
    # March: 400,000 kWh = 49.16 tce ÷ 500 t = 98.32 kgce/t; February 61.45 tce ÷ 500 t = 122.9 kgce/t.
    rolling_row = rows["轧钢车间"]
    assert (rolling_row["tce"], rolling_row["output"], rolling_row["unit"]) == (
        Decimal("49.16"), Decimal(500), "t")
    assert rolling_row["unit_consumption"] == Decimal("98.32")
    assert rolling_row["previous_unit_consumption"] == Decimal("122.9")
    assert rolling_row["change"] == Decimal("-0.2") and rolling_row["rank"] == 1
    assert rolling_row["previous_tce"] == Decimal("61.45")
    idle = rows["机修车间"]
    assert idle["unit_consumption"] is None and idle["rank"] is None
    text = page.content.decode()
    assert "车间或班组绩效考核统计表" in text and "−20.00%" in text and "上期：2025年2月" in text


def test_the_park_output_value_table(world) -> None:  # type: ignore[no-untyped-def]
    make_meter(world.outsider, "E-MEMBER")
    make_meter(world.park, "E-PUBLIC")
    consume(world.outsider, "E-MEMBER", MARCH_2024, APRIL_2024, 1_000_000.0)
    consume(world.outsider, "E-MEMBER", MARCH, APRIL, 1_000_000.0, first=1_000_000.0)
    consume(world.park, "E-PUBLIC", MARCH, APRIL, 100_000.0)
    production(world.outsider, dt.date(2024, 3, 1), "数据服务", "1", unit="项", output_value="1600")
    production(world.outsider, dt.date(2025, 3, 1), "数据服务", "1", unit="项", output_value="2000")

    page = report_page(client_for(world, "park_admin"), "report_park", world.park, month="2025-03")
    table = page.context["table"]
    rows = {row["member"]: row for row in table.rows}
    member = rows[world.outsider.name]
    # 122.9 tce ÷ 2000 万元 = 0.06145 tce/万元; last March 122.9 ÷ 1600 = 0.0768125; −20 %.
    assert (member["output_value"], member["tce"]) == (Decimal(2000), Decimal("122.9"))
    assert member["intensity"] == Decimal("0.06145") and member["last_year_intensity"] == Decimal("0.0768125")
    assert member["change"] == Decimal("-0.2")
    public = rows["园区公共区域"]
    assert public["tce"] == Decimal("12.29") and public["intensity"] is None
    (total,) = table.totals
    # The park: 135.19 tce ÷ 2000 万元 = 0.067595; last March 122.9 ÷ 1600; 0.067595 ÷ 0.0768125 − 1 = −12 %.
    assert total["tce"] == Decimal("135.19") and total["intensity"] == Decimal("0.067595")
    assert round(total["change"], 9) == Decimal("-0.12")
    text = page.content.decode()
    assert "园区万元产值能耗统计表" in text and "0.0615" in text and "−12.00%" in text

    # A month with nothing measured or entered: the empty state says where the data comes from.
    empty = report_page(client_for(world, "park_admin"), "report_park", world.park, month="2025-01")
    assert empty.context["table"].empty and "园区还没有成员企业或公共区域的能耗数据" in empty.content.decode()

    # An enterprise that is not a park has no such table, and the tab is not offered.
    other = report_page(client_for(world, "a_admin"), "report_park", world.tenant_a)
    assert other.context["table"].empty and "不是园区" in other.content.decode()
    assert reverse("metering:report_park") not in other.content.decode().split("report-tabs", 1)[1].split(
        "</nav>", 1)[0]


def test_report_pages_answer_404_for_an_enterprise_out_of_reach(world) -> None:  # type: ignore[no-untyped-def]
    client = client_for(world, "a_admin")
    for name in ("report_energy", "report_products", "report_workshops", "report_park", "report_export",
                 "export_job_list"):
        for enterprise_id in (world.outsider.pk, world.tenant_b.pk, 2_147_480_000):
            response = client.get(reverse(f"metering:{name}"), {"enterprise": enterprise_id, "format": "csv"})
            assert response.status_code == 404, (name, enterprise_id)


# --- the progress page in a real browser --------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_progress_page_updates_until_the_file_can_be_downloaded(world, live_server, browser) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.factories import TEST_PASSWORD

    meter = two_days_of_quarter_hours(world)
    with unscoped():
        job = ExportJob.objects.create(enterprise=world.tenant_a, kind="meter_series", file_format="csv",
                                       title="浏览器进度测试导出", query=SeriesQuery(
                                           (meter.pk,), "15min", DAY1.date(), dt.date(2025, 3, 11)).as_json())
    browser.get(f"{live_server.url}/accounts/login/")
    form = browser.find_element(By.ID, "login-form")
    form.find_element(By.NAME, "username").send_keys(world.user("a_admin").username)
    form.find_element(By.NAME, "password").send_keys(TEST_PASSWORD)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 30).until(lambda driver: "/accounts/login/" not in driver.current_url)

    browser.get(f"{live_server.url}{reverse('metering:export_job_detail', kwargs={'pk': job.pk})}")
    assert browser.find_element(By.ID, "job-state").text == "排队中"
    assert browser.find_element(By.ID, "job-progress").get_attribute("value") == "0"
    assert not browser.find_element(By.ID, "job-download").is_displayed()

    # The worker runs while the page is open: the page polls and follows it without a reload.
    assert run_export_job(job.pk, enterprise_id=world.tenant_a.pk) == "done"
    WebDriverWait(browser, 30).until(lambda driver: driver.find_element(By.ID, "job-download").is_displayed())
    assert browser.find_element(By.ID, "job-progress").get_attribute("value") == "100"
    assert browser.find_element(By.ID, "job-state").text == "已完成"
    assert browser.find_element(By.ID, "job-percent").text == "100%"
    assert browser.find_element(By.ID, "job-rows").text == "已写入 192 / 192 行"
    link = browser.find_element(By.ID, "job-download-link").get_attribute("href")
    assert link.endswith(reverse("metering:export_job_download", kwargs={"pk": job.pk}))


def test_an_official_picks_the_enterprise_and_the_tables_print(world) -> None:  # type: ignore[no-untyped-def]
    reviewer = client_for(world, "zhengzhou_reviewer")
    choose = reviewer.get(reverse("metering:report_energy"))
    text = choose.content.decode()
    assert choose.status_code == 200 and world.tenant_a.name in text
    assert world.tenant_b.name not in text and world.outsider.name not in text
    assert f"{reverse('metering:report_energy')}?enterprise={world.tenant_a.pk}" in text

    page = report_page(reviewer, "report_energy", world.tenant_a)
    assert page.context["table"].period == default_period()
    assert "css/reports.css" in page.content.decode()
    css = (Path(settings.BASE_DIR) / "static/css/reports.css").read_text(encoding="utf-8")
    assert "@media print" in css and ".no-print" in css and "table-header-group" in css
