"""Review export downloads. Reach is the access policy's: the submission is looked up through
`get_submission_for_user` (404 alike for missing and out of reach), then the export rule
(`can_export_reviews` / `can_export_sheet` / `can_export_program_results`) decides; a reader in
reach who may not export gets 404 too, as the program tables do (applications/documents/views.py):
for them the export does not exist."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed

from applications.documents.views import XLSX_TYPE, _disposition
from applications.models import Submission, SubmissionState
from portal.access import (
    can_export_program_results,
    can_export_reviews,
    can_export_sheet,
    get_program_for_official,
    get_submission_for_user,
    visible_submissions,
)
from reviews import exports
from reviews.models import ScoreSheet

PDF_TYPE = "application/pdf"
SAFE_METHODS = ("GET", "HEAD")


def _refuse_unsafe(request: HttpRequest) -> HttpResponse | None:
    # Checked once the object is found (as applications/documents/views.py does): out of reach
    # answers 404 whatever the method, so a 405 never tells an outsider that something exists.
    return None if request.method in SAFE_METHODS else HttpResponseNotAllowed(SAFE_METHODS)


def _download(content: bytes, content_type: str, name: str, ascii_name: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    kind = "inline" if content_type == PDF_TYPE else "attachment"
    response["Content-Disposition"] = _disposition(kind, name, ascii_name)
    # Judgements of experts about an enterprise: never kept by shared caches.
    response["Cache-Control"] = "private, no-store"
    return response


def _exportable(request: HttpRequest, submission_id: int) -> Submission:
    submission = get_submission_for_user(request.user, submission_id)
    if not can_export_reviews(request.user, submission):
        raise Http404
    return submission


def _sheet(request: HttpRequest, submission_id: int, sheet_id: int) -> ScoreSheet:
    submission = get_submission_for_user(request.user, submission_id)
    sheet = (ScoreSheet.objects.filter(submission=submission, pk=sheet_id)
             .select_related("assignment__expert", "submission__program", "submission__enterprise",
                             "submission__program_version").first())
    if sheet is None or not can_export_sheet(request.user, submission, sheet.assignment):
        raise Http404
    # Others read a sheet once its expert submitted it; until then it is the expert's draft.
    if sheet.submitted_at is None and sheet.assignment.expert_id != request.user.pk:
        raise Http404
    return sheet


def _sheet_name(sheet: ScoreSheet, suffix: str) -> tuple[str, str]:
    expert = sheet.assignment.expert
    name = exports.file_name(sheet.submission.program.name, sheet.submission.enterprise.name, sheet.checklist,
                             expert.get_full_name() or expert.username, suffix=suffix)
    return name, f"sheet-{sheet.submission_id}-{sheet.pk}{suffix}"


@login_required
def sheet_xlsx(request: HttpRequest, submission_id: int, sheet_id: int) -> HttpResponse:
    sheet = _sheet(request, submission_id, sheet_id)
    if refused := _refuse_unsafe(request):
        return refused
    return _download(exports.sheet_xlsx(sheet), XLSX_TYPE, *_sheet_name(sheet, ".xlsx"))


@login_required
def sheet_pdf(request: HttpRequest, submission_id: int, sheet_id: int) -> HttpResponse:
    sheet = _sheet(request, submission_id, sheet_id)
    if refused := _refuse_unsafe(request):
        return refused
    return _download(exports.sheet_pdf(sheet), PDF_TYPE, *_sheet_name(sheet, ".pdf"))


def _names(submission: Submission, what: str, ascii_what: str, suffix: str) -> tuple[str, str]:
    return (exports.file_name(submission.program.name, submission.enterprise.name, what, suffix=suffix),
            f"{ascii_what}-{submission.pk}{suffix}")


@login_required
def scores_xlsx(request: HttpRequest, submission_id: int) -> HttpResponse:
    submission = _exportable(request, submission_id)
    if refused := _refuse_unsafe(request):
        return refused
    return _download(exports.combined_xlsx(submission), XLSX_TYPE,
                     *_names(submission, "评分汇总表", "scores", ".xlsx"))


@login_required
def scores_pdf(request: HttpRequest, submission_id: int) -> HttpResponse:
    submission = _exportable(request, submission_id)
    if refused := _refuse_unsafe(request):
        return refused
    return _download(exports.combined_pdf(submission), PDF_TYPE,
                     *_names(submission, "评分汇总表", "scores", ".pdf"))


@login_required
def onsite_check_pdf(request: HttpRequest, submission_id: int) -> HttpResponse:
    submission = _exportable(request, submission_id)
    if refused := _refuse_unsafe(request):
        return refused
    return _download(exports.check_pdf(submission), PDF_TYPE,
                     *_names(submission, "现场核查记录", "onsite-check", ".pdf"))


@login_required
def results_xlsx(request: HttpRequest, code: str) -> HttpResponse:
    program = get_program_for_official(request.user, code)
    if not can_export_program_results(request.user, program):
        raise Http404
    if refused := _refuse_unsafe(request):
        return refused
    track = request.GET.get("track") or None
    submissions = list(visible_submissions(request.user).filter(program=program)
                       .exclude(state=SubmissionState.DRAFT)
                       .select_related("enterprise", "program", "program_version").order_by("id"))
    name = exports.file_name(program.name, track or "", "评审结果", suffix=".xlsx")
    return _download(exports.results_xlsx(program, submissions, track=track), XLSX_TYPE, name,
                     f"{program.code}-results.xlsx")
