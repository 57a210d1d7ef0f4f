"""Report pages under /metering/reports/: the four report tables, the meter-data export and its
background jobs.

Which enterprise: `?enterprise=<id>` within reach, else the user's own (the registry pages' helper,
so an id out of reach answers 404 exactly like an unknown one). Reports and direct downloads are
reads, open to everyone who sees the enterprise; queuing an export job writes a row of the
enterprise's, so it is for those who may change it (a reader's POST is refused there too). Jobs
and their files are fetched through the access policy: out of reach is 404.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from metering.monitoring.factor_sets import FactorError
from metering.registry.views.meters import _choose_enterprise, _context, _page_enterprise
from metering.reports import tables
from metering.reports.formatting import page_cell
from metering.reports.forms import PeriodForm, SeriesExportForm, default_period
from metering.reports.models import ExportFormat, ExportJob
from metering.reports.series import SeriesQuery, series_columns, series_meters, series_row_count, series_rows
from metering.reports.services import CONTENT_TYPES, export_job_create, report_file
from metering.reports.writers import csv_lines, write_xlsx
from portal import access
from portal.models import Enterprise

# Up to this many rows a query downloads at once, in the request (CSV streamed row by row, Excel
# through a temporary file); beyond it, an export job writes the file in the background.
DIRECT_EXPORT_MAX_ROWS = 50_000
PREVIEW_ROWS = 20
JOB_LIST_PAGE_ROWS = 25
FILE_FORMATS = frozenset(ExportFormat.values)


def _file_format(request: HttpRequest) -> str | None:
    requested = request.GET.get("format", "")
    return requested if requested in FILE_FORMATS else None


def _report_context(request: HttpRequest, enterprise: Enterprise, **extra: Any) -> dict[str, Any]:
    return _context(request, enterprise, is_park=enterprise.kind == Enterprise.Kind.PARK,
                    can_queue=access.can_change(request.user, enterprise.pk), **extra)


def _build_table(request: HttpRequest, code: str, enterprise: Enterprise,
                 period: tables.ReportPeriod) -> tables.ReportTable:
    if code == "energy":
        return tables.energy_statistics_table(enterprise, period)
    if code == "products":
        return tables.unit_product_table(enterprise, period)
    if code == "workshops":
        return tables.workshop_table(enterprise, period)
    # The members the caller may see (a park's own users see all of them).
    members = list(access.visible_enterprises(request.user).filter(park_id=enterprise.pk).order_by("name"))
    return tables.park_output_value_table(enterprise, period, members)


def _report(request: HttpRequest, code: str) -> HttpResponse:
    title, _builder = tables.REPORTS[code]
    enterprise = _page_enterprise(request)
    if enterprise is None:
        return _choose_enterprise(request, str(title), f"metering:report_{code}")
    data = request.GET.copy()
    if not data.get("month") and not data.get("year"):
        data["month"] = default_period().slug  # no period given: last month, shown in the form
    form = PeriodForm(data)
    period = form.cleaned_data["report_period"] if form.is_valid() else None
    table = error = None
    if period is not None:
        try:
            table = _build_table(request, code, enterprise, period)
        except FactorError as exc:
            error = _("无法计算：%(error)s。请平台管理员在“系数集”中补充相应系数后再生成报表。") % {
                "error": exc}
    file_format = _file_format(request)
    if table is not None and file_format is not None:
        document = report_file(table, file_format)
        response = HttpResponse(document.content, content_type=document.content_type)
        response["Content-Disposition"] = f'attachment; filename="{document.file_name}"'
        return response
    rows = []
    if table is not None:
        for row in [*table.rows, *table.totals]:
            rows.append([(page_cell(row.get(column.key), column), column.kind) for column in table.columns])
    query = request.GET.copy()
    query["enterprise"] = str(enterprise.pk)
    query.pop("format", None)
    return render(request, "metering/reports/report.html", _report_context(
        request, enterprise, code=code, title=title, form=form, table=table, rows=rows,
        totals_from=len(table.rows) if table is not None else 0, error=error,
        download_query=query.urlencode()))


@login_required
@require_safe
def report_energy(request: HttpRequest) -> HttpResponse:
    return _report(request, "energy")


@login_required
@require_safe
def report_products(request: HttpRequest) -> HttpResponse:
    return _report(request, "products")


@login_required
@require_safe
def report_workshops(request: HttpRequest) -> HttpResponse:
    return _report(request, "workshops")


@login_required
@require_safe
def report_park(request: HttpRequest) -> HttpResponse:
    return _report(request, "park")


# --- meter data export ------------------------------------------------------------------------------


def _direct_download(enterprise: Enterprise, query: SeriesQuery, file_format: str) -> HttpResponseBase:
    meters = series_meters(enterprise, query.meter_ids)
    columns = series_columns(query.interval)
    name = f"{query.file_stem()}.{file_format}"
    if file_format == ExportFormat.CSV:
        def stream() -> Any:
            # The response is iterated after the view (and the edge's scope) returned: the rows are
            # read inside the enterprise's own scope, which the caller was checked against above.
            with access.enterprise_scope(enterprise.pk):
                yield from csv_lines(columns, series_rows(query, meters))

        response: HttpResponseBase = StreamingHttpResponse(
            stream(), content_type=CONTENT_TYPES[ExportFormat.CSV])
    else:
        spool = tempfile.TemporaryFile()
        write_xlsx(spool, columns, series_rows(query, meters), sheet_title=_("表计数据"))
        spool.seek(0)
        response = FileResponse(spool, content_type=CONTENT_TYPES[ExportFormat.XLSX])
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def report_export(request: HttpRequest) -> HttpResponseBase:
    enterprise = _page_enterprise(request)  # a POST by a reader is refused (403) here
    if enterprise is None:
        return _choose_enterprise(request, _("数据导出"), "metering:report_export")
    posted = request.method == "POST"
    last_month = default_period()
    first, following = last_month.bounds()
    form = SeriesExportForm(request.POST if posted else (request.GET if "meters" in request.GET else None),
                            enterprise=enterprise, initial={
                                "start": first.date(), "end": (following - dt.timedelta(days=1)).date()})
    count = preview = None
    if form.is_valid():
        query = form.series_query()
        if posted:
            try:
                job = export_job_create(actor=request.user, enterprise=enterprise, query=query,
                                        file_format=form.cleaned_data["file_format"] or ExportFormat.XLSX)
            except ValidationError as exc:
                for message in exc.messages:
                    form.add_error(None, message)
            else:
                messages.success(request, _("导出任务已提交，完成后可在此页下载。"))
                return HttpResponseRedirect(reverse("metering:export_job_detail", kwargs={"pk": job.pk}))
        else:
            meters = series_meters(enterprise, query.meter_ids)
            count = series_row_count(query, meters)
            file_format = _file_format(request)
            if file_format is not None and count <= DIRECT_EXPORT_MAX_ROWS:
                return _direct_download(enterprise, query, file_format)
            if file_format is not None:
                form.add_error(None, _("共 %(count)s 行，超过直接下载上限 %(limit)s 行：请提交后台导出。") % {
                    "count": f"{count:,}", "limit": f"{DIRECT_EXPORT_MAX_ROWS:,}"})
            columns = series_columns(query.interval)
            preview = {"columns": columns, "rows": [
                [page_cell(value, column) for value, column in zip(row, columns, strict=True)]
                for _index, row in zip(range(PREVIEW_ROWS), series_rows(query, meters), strict=False)]}
    query_string = request.GET.copy()
    query_string["enterprise"] = str(enterprise.pk)
    query_string.pop("format", None)
    has_meters = form.fields["meters"].queryset.exists()  # type: ignore[attr-defined]
    return render(request, "metering/reports/export.html", _report_context(
        request, enterprise, form=form, count=count, preview=preview, has_meters=has_meters,
        direct_limit=DIRECT_EXPORT_MAX_ROWS, direct_limit_text=f"{DIRECT_EXPORT_MAX_ROWS:,}",
        count_text=f"{count:,}" if count is not None else "", download_query=query_string.urlencode(),
        recent_jobs=ExportJob.objects.filter(enterprise_id=enterprise.pk)[:5]))


# --- export jobs -------------------------------------------------------------------------------------


def _job(request: HttpRequest, pk: int) -> ExportJob:
    return access.get_object_for_user(request.user, ExportJob.objects.select_related("enterprise"), pk,
                                      path="enterprise")


@login_required
@require_safe
def export_job_list(request: HttpRequest) -> HttpResponse:
    enterprise = _page_enterprise(request)
    if enterprise is None:
        return _choose_enterprise(request, _("导出任务"), "metering:export_job_list")
    jobs = ExportJob.objects.filter(enterprise_id=enterprise.pk).select_related("requested_by")
    page = Paginator(jobs, JOB_LIST_PAGE_ROWS).get_page(request.GET.get("page"))
    return render(request, "metering/reports/job_list.html", _report_context(request, enterprise, page=page))


@login_required
@require_safe
def export_job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = _job(request, pk)
    return render(request, "metering/reports/job_detail.html",
                  _report_context(request, job.enterprise, job=job))


@login_required
@require_safe
def export_job_status(request: HttpRequest, pk: int) -> JsonResponse:
    job = _job(request, pk)
    status = job.status()
    status["download_url"] = (reverse("metering:export_job_download", kwargs={"pk": job.pk})
                              if job.state == ExportJob.State.DONE else None)
    return JsonResponse(status)


@login_required
@require_safe
def export_job_download(request: HttpRequest, pk: int) -> FileResponse:
    job = _job(request, pk)
    if job.state != ExportJob.State.DONE or not job.file:
        raise Http404
    try:
        handle = job.file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    name = job.file_name or (job.file.name or "export").rsplit("/", 1)[-1]
    return FileResponse(handle, as_attachment=True, filename=name,
                        content_type=CONTENT_TYPES.get(job.file_format, "application/octet-stream"))
