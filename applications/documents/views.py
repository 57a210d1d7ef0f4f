"""Document downloads: a submission's PDF, and a program's Excel tables for officials.

Who may read what is the access policy's (portal.access): the PDF goes to whoever may read the
submission (its enterprise's users, drafts included; officials in reach, filed ones only), 404
alike for missing and out of reach. The Excel tables are the authorities' working papers: an
enterprise user, an expert or an official of another region gets 404, as for an unknown program
code, not 403, so the URL tells them nothing about which programs exist or whose they are.
"""

from __future__ import annotations

from urllib.parse import quote

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.utils import timezone

from applications.documents.excel import submission_list_xlsx, summary_table_xlsx
from applications.documents.pdf import UnknownDocument, pdf_file_name, submission_pdf
from applications.models import Program, Submission, SubmissionState
from portal.access import get_program_for_official, get_submission_for_user, visible_submissions

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


SAFE_METHODS = ("GET", "HEAD")


def _refuse_unsafe(request: HttpRequest) -> HttpResponse | None:
    # Checked after the object is found, so anything out of reach answers 404 whatever the
    # method: a 405 must not tell an outsider that a program or submission exists.
    return None if request.method in SAFE_METHODS else HttpResponseNotAllowed(SAFE_METHODS)


@login_required
def submission_pdf_view(request: HttpRequest, submission_id: int) -> HttpResponse:
    submission = get_submission_for_user(request.user, submission_id)
    if refused := _refuse_unsafe(request):
        return refused
    document_key = request.GET.get("document") or None
    try:
        content = submission_pdf(submission, document_key=document_key)
        name = pdf_file_name(submission, document_key=document_key)
    except UnknownDocument:
        raise Http404 from None
    response = HttpResponse(content, content_type="application/pdf")
    ascii_name = f"{submission.program.code}-{submission.pk}.pdf"
    response["Content-Disposition"] = _disposition("inline", name, ascii_name)
    # A filing's document is personal data of its enterprise: never kept by shared caches.
    response["Cache-Control"] = "private, no-store"
    return response


def _disposition(kind: str, name: str, ascii_name: str) -> str:
    """The Chinese file name for today's browsers (RFC 6266 `filename*`), an ASCII one for the rest."""
    return f"{kind}; filename=\"{ascii_name}\"; filename*=utf-8''{quote(name)}"


def _filed_in_reach(request: HttpRequest, program: Program) -> list[Submission]:
    queryset = (visible_submissions(request.user).filter(program=program)
                .exclude(state=SubmissionState.DRAFT)
                .select_related("enterprise__region__parent__parent", "program_version")
                .order_by("enterprise__region__code", "submitted_at", "id"))
    return list(queryset)


def _xlsx(content: bytes, name: str, ascii_name: str) -> HttpResponse:
    response = HttpResponse(content, content_type=XLSX_TYPE)
    response["Content-Disposition"] = _disposition("attachment", name, ascii_name)
    response["Cache-Control"] = "private, no-store"
    return response


def _stamp() -> str:
    return timezone.localdate().strftime("%Y%m%d")


@login_required
def program_summary_table(request: HttpRequest, code: str) -> HttpResponse:
    program = get_program_for_official(request.user, code)
    if refused := _refuse_unsafe(request):
        return refused
    content = summary_table_xlsx(program, _filed_in_reach(request, program))
    return _xlsx(content, f"{program.name}-汇总表-{_stamp()}.xlsx", f"{program.code}-summary-{_stamp()}.xlsx")


@login_required
def program_submission_list(request: HttpRequest, code: str) -> HttpResponse:
    program = get_program_for_official(request.user, code)
    if refused := _refuse_unsafe(request):
        return refused
    content = submission_list_xlsx(program, _filed_in_reach(request, program))
    return _xlsx(content, f"{program.name}-申报列表-{_stamp()}.xlsx",
                 f"{program.code}-submissions-{_stamp()}.xlsx")
