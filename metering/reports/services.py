"""Writes of reports: export jobs (create, run) and the files of report tables.

An export job is created by a person (audited), queued after commit, and run by a worker that
claims it with a row lock, so two workers never write one file. The worker counts the rows, writes
them to a temporary file while it moves the job's progress, then stores the file in the private
exports storage. A job that fails says why, in words its requester can act on.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from metering.reports.models import ExportFormat, ExportJob
from metering.reports.series import SeriesQuery, series_columns, series_meters, series_row_count, series_rows
from metering.reports.tables import ReportTable
from metering.reports.writers import csv_lines, write_csv, write_xlsx
from portal.models import Enterprise

logger = logging.getLogger(__name__)

# Progress is written every this many rows: often enough for a bar that moves (a year of 15-minute
# data of one meter is 35,040 rows), rarely enough that the updates cost nothing next to the rows.
PROGRESS_EVERY_ROWS = 2000
# A running job whose progress has not moved for this long lost its worker: it may be claimed again.
EXPORT_JOB_LEASE_S = 900
CONTENT_TYPES: dict[str, str] = {
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class ExportError(Exception):
    """An export that cannot be written, with the reason its requester is shown."""


def _actor(user: Any) -> Any:
    return user if user is not None and getattr(user, "is_authenticated", False) else None


@transaction.atomic
def export_job_create(*, actor: Any, enterprise: Enterprise, query: SeriesQuery,
                      file_format: str) -> ExportJob:
    """Queue the export of `query` (meters of `enterprise`) as `file_format`; it runs after commit."""
    meters = series_meters(enterprise, query.meter_ids)
    if len(meters) != len(set(query.meter_ids)):
        raise ValidationError({"meters": _("请选择本企业的表计。")})
    if query.end < query.start:
        raise ValidationError({"end": _("结束日期不能早于开始日期。")})
    job = ExportJob(enterprise=enterprise, requested_by=_actor(actor), kind=ExportJob.Kind.METER_SERIES,
                    file_format=file_format, title=query.title(meters)[:300], query=query.as_json())
    job.full_clean(exclude=["file"])
    job.save()
    job_id, enterprise_id = job.pk, enterprise.pk
    transaction.on_commit(lambda: queue_export_job(job_id=job_id, enterprise_id=enterprise_id))
    return job


def queue_export_job(*, job_id: int, enterprise_id: int) -> None:
    """Send the job to a worker. A broker that cannot take it fails the job with that reason, rather
    than leaving it queued with no one to run it."""
    from metering.reports.tasks import run_export_job

    try:
        run_export_job.delay(job_id, enterprise_id=enterprise_id)
    except Exception:
        logger.warning("could not queue export job %s", job_id, exc_info=True)
        _fail(job_id, _("无法提交到后台任务队列（任务服务不可用），请稍后重新导出。"))


def _claim(job_id: int) -> ExportJob | None:
    """The job, now running, if it is queued or its worker was lost; None if another worker has it
    or it has finished."""
    now = timezone.now()
    with transaction.atomic():
        job = ExportJob.objects.select_for_update(of=("self",)).filter(pk=job_id).first()
        if job is None:
            return None
        lost = job.state == ExportJob.State.RUNNING and (
            job.heartbeat_at is None or job.heartbeat_at < now - timedelta(seconds=EXPORT_JOB_LEASE_S))
        if job.state != ExportJob.State.QUEUED and not lost:
            return None
        job.state = ExportJob.State.RUNNING
        job.started_at = job.heartbeat_at = now
        job.attempts += 1
        job.progress, job.rows_written, job.error = 0, 0, ""
        job.save()
    return job


def _fail(job_id: int, reason: str) -> None:
    job = ExportJob.objects.filter(pk=job_id).first()
    if job is None or job.finished:
        return
    job.state = ExportJob.State.FAILED
    job.error = reason
    job.finished_at = timezone.now()
    job.save()


def _progress(job_id: int, total: int) -> Any:
    def record(written: int) -> None:
        # Never 100 before the file is stored: 100 means it can be downloaded.
        percent = min(99, written * 100 // total) if total else 99
        # Only the unaudited counters (signals.UNAUDITED_FIELDS): telemetry of the run.
        ExportJob.objects.filter(pk=job_id).update(progress=percent, rows_written=written,
                                                   heartbeat_at=timezone.now())
    return record


def _write_series(job: ExportJob, query: SeriesQuery, path: Path, total: int) -> int:
    meters = series_meters(job.enterprise, query.meter_ids)
    columns = series_columns(query.interval)
    rows = series_rows(query, meters)
    # No title lines above the header: a data export is read by tools (a spreadsheet's filter, pandas)
    # as a plain table; what it holds is in the job's title and the file's name.
    on_progress = _progress(job.pk, total)
    if job.file_format == ExportFormat.XLSX:
        with path.open("wb") as out:
            return write_xlsx(out, columns, rows, sheet_title=_("表计数据"), on_progress=on_progress,
                              progress_every=PROGRESS_EVERY_ROWS)
    with path.open("w", encoding="utf-8-sig", newline="") as text:
        return write_csv(text, columns, rows, on_progress=on_progress, progress_every=PROGRESS_EVERY_ROWS)


def export_job_run(*, job_id: int) -> ExportJob | None:
    """Write the job's file, moving its progress as rows are written. Returns the finished job, or
    None when there was nothing to run (another worker has it, or it is done). A database error is
    raised for the task to retry (the job goes back to the queue); anything else fails the job with
    its reason."""
    job = _claim(job_id)
    if job is None:
        return None
    try:
        try:
            query = SeriesQuery.from_json(job.query)
        except (KeyError, TypeError, ValueError) as exc:
            raise ExportError(_("导出条件无法识别（%(error)s），请重新选择后导出。") % {
                "error": exc}) from exc
        meters = series_meters(job.enterprise, query.meter_ids)
        if len(meters) != len(set(query.meter_ids)):
            raise ExportError(_("所选表计中有的已被删除，请重新选择表计后导出。"))
        total = series_row_count(query, meters)
        job.rows_total = total
        job.save(update_fields=["rows_total"])
        suffix = f".{job.file_format}"
        with tempfile.TemporaryDirectory(prefix="nengtan-export-") as folder:
            path = Path(folder) / f"export{suffix}"
            written = _write_series(job, query, path, total)
            file_name = f"{query.file_stem()}{suffix}"
            with path.open("rb") as stored:
                job.file.save(file_name, File(stored), save=False)
        job.refresh_from_db(fields=["heartbeat_at"])
        job.state = ExportJob.State.DONE
        job.progress, job.rows_written = 100, written
        job.file_name = file_name
        job.finished_at = timezone.now()
        job.save()
        return job
    except DatabaseError:
        try:
            ExportJob.objects.filter(pk=job_id).update(heartbeat_at=None)  # claimable again at once
        except DatabaseError:
            logger.warning("could not release export job %s", job_id, exc_info=True)
        raise
    except ExportError as exc:
        _fail(job_id, str(exc))
    except OSError as exc:
        logger.exception("export job %s could not write its file", job_id)
        _fail(job_id, _("导出文件无法写入（%(error)s），请联系平台管理员检查存储空间。") % {
            "error": exc.strerror or exc})
    except Exception as exc:
        logger.exception("export job %s failed", job_id)
        _fail(job_id, _("导出失败：%(error)s。请重新导出；如仍失败请联系平台管理员。") % {
            "error": f"{type(exc).__name__}: {exc}"})
    return ExportJob.objects.filter(pk=job_id).first()


# --- report tables as files (small: written at once, in the request) -------------------------------


@dataclass(frozen=True)
class ReportFile:
    content: bytes
    content_type: str
    file_name: str


def _table_rows(table: ReportTable) -> Iterator[list[Any]]:
    for row in [*table.rows, *table.totals]:
        yield [row.get(column.key) for column in table.columns]


def _table_text(table: ReportTable) -> tuple[list[str], list[str]]:
    preamble = [str(table.title), _("单位：%(name)s") % {"name": table.subject},
                _("统计期：%(period)s") % {"period": table.period.label}]
    footer = [*table.notes, _("制表时间：%(when)s") % {
        "when": timezone.localtime().strftime("%Y-%m-%d %H:%M")}]
    return preamble, footer


def report_file(table: ReportTable, file_format: str) -> ReportFile:
    import io

    preamble, footer = _table_text(table)
    name = f"report-{table.code}-{table.period.slug}.{file_format}"
    if file_format == ExportFormat.XLSX:
        buffer = io.BytesIO()
        write_xlsx(buffer, table.columns, _table_rows(table), sheet_title=str(table.title),
                   preamble=preamble, footer=footer)
        return ReportFile(buffer.getvalue(), CONTENT_TYPES[ExportFormat.XLSX], name)
    text = "".join(csv_lines(table.columns, _table_rows(table), preamble=preamble, footer=footer))
    return ReportFile(text.encode("utf-8"), CONTENT_TYPES[ExportFormat.CSV], name)
