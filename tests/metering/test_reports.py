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
