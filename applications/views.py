"""Filling applications in the browser: 我的申报, starting one, the form section by section,
the attachments, eligibility and filing, and the filed application read back.

Thin: submissions come through the access policy (`get_rw_submission_for_user` to fill one,
`get_submission_for_user` to read it; 404 alike for missing and out of reach), reads through
`applications.selectors`, writes through `applications.services`. A draft is saved as typed,
valid or not, so every save redirects back to the page, which shows the messages beside the
fields from the stored draft (no POST is ever answered with a page that would be lost on reload).
The form's autosave (htmx) posts the same section and gets the status fragment back.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe
from django_htmx.middleware import HtmxDetails

from applications import forms, selectors, services
from applications.definitions import ProgramDefinition, Section
from applications.evidence import evidence_measure
from applications.models import Program, Submission, SubmissionState
from applications.values import form_check, label_of
from portal import access
from portal.models import User
from reviews import services as review_services


class PageRequest(HttpRequest):
    """What these @login_required views receive: a signed-in user, and django-htmx's details."""

    user: User
    htmx: HtmxDetails


PAGE_SIZE = 20
# Tells the form's script that an autosave reached the server and was stored; an answer without it
# (the login page after a session timeout, a refusal) leaves the browser's copy of the edits in place.
SAVED_HEADER = "X-Draft-Saved"


def _own_enterprise_only(request: PageRequest) -> None:
    """Applicants file for their own enterprise only: `?enterprise=` naming any other is 404, exactly
    like an id no row has."""
    requested = request.GET.get("enterprise") or request.POST.get("enterprise")
    if requested and str(requested) != str(getattr(request.user, "enterprise_id", None)):
        raise Http404


def _labels(definition: ProgramDefinition, submission: Submission) -> dict[str, str]:
    variant = definition.variant(submission.variant)
    track = next((item for item in definition.tracks if item.key == submission.track), None)
    return {"variant": label_of(variant.label) if variant else "",
            "track": label_of(track.label) if track else ""}


# --- 我的申报 -----------------------------------------------------------------------------------

@login_required
@require_safe
def submission_list(request: PageRequest) -> HttpResponse:
    user = request.user
    enterprise = None
    if request.GET.get("enterprise"):
        enterprise = access.get_enterprise_for_user(user, request.GET["enterprise"])
    if user.enterprise is not None:
        submissions = access.visible_submissions(user, selectors.submissions_of(user.enterprise))
    else:
        submissions = access.visible_submissions(user).select_related(
            "program", "program_version", "enterprise").order_by("-updated_at", "-id")
    if enterprise is not None:
        submissions = submissions.filter(enterprise=enterprise)
    state = request.GET.get("state", "")
    if state in SubmissionState.values:
        submissions = submissions.filter(state=state)
    program = request.GET.get("program", "")
    if program:
        submissions = submissions.filter(program__code=program)
    page = Paginator(submissions, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = []
    for submission in page.object_list:
        definition = selectors.submission_definition(submission)
        rows.append({"submission": submission, **_labels(definition, submission)})
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "applications/submission_list.html", {
        "page": page, "rows": rows, "query": query.urlencode(), "state": state, "program": program,
        "states": SubmissionState.choices, "programs": Program.objects.order_by("code"),
        "filtered": bool(state or program or enterprise), "enterprise": enterprise,
        "can_file": access.can_file_applications(user),
        # Officials' working papers: each program's summary table and submission list (Excel).
        "program_tables": [program for program in Program.objects.select_related("region").order_by("code")
                           if access.can_download_program_tables(user, program)],
    })


# --- 新建申报 -----------------------------------------------------------------------------------

def _program_choices(enterprise: Any) -> list[dict[str, Any]]:
    choices = []
    for program in selectors.programs_open_to(enterprise):
        definition = selectors.program_definition(program)
        variants = [definition.variant(key) for key in selectors.variants_for(definition, enterprise)]
        choices.append({
            "program": program, "definition": definition,
            "tracks": [(track.key, label_of(track.label)) for track in definition.tracks],
            "variants": [] if definition.tracks else [(v.key, label_of(v.label)) for v in variants if v],
            "closes": dt.date.fromisoformat(definition.closes) if definition.closes else None,
        })
    return choices


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def submission_new(request: PageRequest) -> HttpResponse:
    _own_enterprise_only(request)
    user = request.user
    can_file = access.can_file_applications(user)
    if request.method == "POST" and not can_file:
        raise PermissionDenied(_("只有已通过审核企业的人员可以新建申报"))
    enterprise = user.enterprise if can_file else None
    problems: dict[str, str] = {}
    if request.method == "POST" and enterprise is not None:
        code = request.POST.get("program", "")
        program = next((item for item in selectors.programs_open_to(enterprise) if item.code == code), None)
        if program is None:
            problems[code] = _("该项目当前不接受本单位申报")
            messages.error(request, problems[code])
        else:
            try:
                submission = services.submission_start(
                    program=program, enterprise=enterprise, user=user,
                    variant=request.POST.get("variant", ""), track=request.POST.get("track", ""))
            except services.SubmissionRefused as exc:
                problems[code] = "；".join(exc.messages)
            else:
                messages.success(request, _("已新建申报草稿，可以随时保存，稍后继续填写。"))
                return redirect("applications:submission_detail", submission_id=submission.pk)
    return render(request, "applications/submission_new.html", {
        "can_file": can_file, "choices": _program_choices(enterprise) if enterprise is not None else [],
        "problems": problems, "chosen": request.POST.get("program", ""),
    }, status=400 if problems else 200)


# --- the form, section by section --------------------------------------------------------------

def _sections_for_tabs(definition: ProgramDefinition, applicable: list[str]) -> list[Section]:
    """The sections the applicant sees: those that apply, and the authority's (read-only)."""
    return [section for section in definition.sections
            if section.key in applicable or section.filled_by == "authority"]


def _status_context(request: PageRequest, submission: Submission, status: selectors.SubmissionStatus,
                    current: str) -> dict[str, Any]:
    definition = status.definition
    by_key = {section.key: section for section in status.form.sections}
    tabs = []
    for section in _sections_for_tabs(definition, status.form.applicable_sections):
        tabs.append({"key": section.key, "title": label_of(section.title), "status": by_key.get(section.key),
                     "authority": section.filled_by == "authority", "current": section.key == current})
    attachments_missing = sum(len(kind.problems) for kind in status.attachments)
    return {"submission": submission, "tabs": tabs, "current": current,
            "attachments_missing": attachments_missing, "blocker_count": len(status.blockers),
            "form_complete": status.form.complete, "returned": review_services.latest_return(submission)}


def _section_or_404(definition: ProgramDefinition, key: str) -> Section:
    section = definition.section(key)
    if section is None:
        raise Http404
    return section


def _first_section(status: selectors.SubmissionStatus) -> str:
    tabs = _sections_for_tabs(status.definition, status.form.applicable_sections)
    if not tabs:
        raise Http404
    return tabs[0].key


def _section_needs_figures(section: Section) -> bool:
    return any(getattr(item, "evidence", None) for item in section.items)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def submission_section(request: PageRequest, submission_id: int, section: str) -> HttpResponse:
    submission = access.get_rw_submission_for_user(request.user, submission_id)
    definition = selectors.submission_definition(submission)
    current = _section_or_404(definition, section)
    if not submission.is_editable:
        messages.info(request, _("该申报已提交，不能再修改。"))
        return redirect("applications:submission_detail", submission_id=submission.pk)
    editable = current.filled_by == "applicant"
    if request.method == "POST":
        if not editable:
            raise PermissionDenied(_("这一部分由推荐单位填写"))
        changes = forms.section_changes(current, request.POST)
        adopt = request.POST.get("adopt")
        if adopt:
            changes.update(_adopted(submission, definition, adopt))
        services.submission_save(submission=submission, user=request.user, changes=changes)
        if request.htmx:
            status = selectors.submission_status(submission, with_evidence=_section_needs_figures(current))
            response = render(request, "applications/_autosave.html", {
                **_status_context(request, submission, status, current.key),
                "items": _items(submission, definition, current, status), "saved_at": submission.updated_at,
            })
            response[SAVED_HEADER] = submission.updated_at.isoformat()
            return response
        messages.success(request, _("草稿已保存。"))
        target = request.POST.get("next_section") or current.key
        if definition.section(target) is None:
            target = current.key
        return redirect("applications:submission_section", submission_id=submission.pk, section=target)
    status = selectors.submission_status(submission,
                                         with_evidence=editable and _section_needs_figures(current))
    context = {**_status_context(request, submission, status, current.key), "section": current,
               "section_title": label_of(current.title), "editable": editable,
               "section_help": label_of(current.help) if current.help else "",
               "program": submission.program, **_labels(definition, submission)}
    if editable:
        context["items"] = _items(submission, definition, current, status)
        tabs = context["tabs"]
        keys = [tab["key"] for tab in tabs]
        position = keys.index(current.key) if current.key in keys else -1
        context["next_section"] = keys[position + 1] if 0 <= position < len(keys) - 1 else ""
    else:
        context["read_only"] = forms.section_read_only(current, status.form.values,
                                                       selectors.submission_context(submission))
    return render(request, "applications/submission_section.html", context)


def _items(submission: Submission, definition: ProgramDefinition, section: Section,
           status: selectors.SubmissionStatus) -> list[Any]:
    return forms.section_view(definition, section, submission.data, status.form,
                              selectors.submission_context(submission), status.figures)


def _adopted(submission: Submission, definition: ProgramDefinition, key: str) -> dict[str, Any]:
    """"采用测得值" without the script: the field takes the measured figure offered beside it."""
    item = definition.item(key)
    if item is None or not getattr(item, "evidence", None):
        return {}
    status = selectors.submission_status(submission)
    figure = next((figure for figure in status.figures if figure.field == key), None)
    if figure is None or figure.value is None:
        return {}
    return {key: format(figure.value, "f")}


@login_required
@require_safe
def submission_detail(request: PageRequest, submission_id: int) -> HttpResponse:
    """A draft opens its form (for its enterprise's users); a filed application reads back as filed."""
    submission = access.get_submission_for_user(request.user, submission_id)
    user = request.user
    if submission.is_editable and access.can_change(user, submission.enterprise_id) \
            and getattr(user, "enterprise_id", None) == submission.enterprise_id:
        status = selectors.submission_status(submission, with_evidence=False)
        return redirect("applications:submission_section", submission_id=submission.pk,
                        section=_first_section(status))
    return _filed_view(request, submission)


def _pdf_url(submission: Submission) -> str:
    # The PDF is the documents part's (applications/documents/urls.py); until it lands there is no link.
    try:
        return reverse("applications:submission_pdf", kwargs={"submission_id": submission.pk})
    except NoReverseMatch:
        return ""


def _filed_view(request: PageRequest, submission: Submission) -> HttpResponse:
    definition = selectors.submission_definition(submission)
    context_ = selectors.submission_context(submission)
    filing = submission.filings.order_by("-number").first()
    data = filing.data if filing is not None else submission.data
    check = form_check(definition, data, context=context_)
    sections = [{"title": label_of(section.title), "authority": section.filled_by == "authority",
                 "items": forms.section_read_only(section, check.values, context_)}
                for section in definition.sections
                if section.key in check.applicable_sections or section.filled_by == "authority"]
    rows = list(submission.evidence.filter(filing=filing)) if filing is not None else []
    evidence = []
    today_by_period: dict[dt.date, dict[str, Any]] = {}
    for row in rows:
        # Today's figure for the frozen figure's own period: measured as of the day after that period
        # ends, every period rule (last full year, last twelve months, before/after a date) lands on
        # the same months again, now with whatever data has arrived since.
        as_of = row.period_end + dt.timedelta(days=1)
        if as_of not in today_by_period:
            today_by_period[as_of] = {figure.key: figure for figure in evidence_measure(
                submission.enterprise, definition, values=check.values, today=as_of)}
        now = today_by_period[as_of].get(row.key)
        evidence.append({
            "row": row, "period": forms.period_display(row.period_start, row.period_end),
            "frozen": (forms.number_display(row.value.normalize(), row.unit)
                       if row.value is not None else forms.NO_VALUE),
            "today": (forms.figure_display(now)
                      if now is not None and now.period_end == row.period_end else forms.NO_VALUE),
            "changed": now is not None and now.value is not None and row.value is not None
            and now.value != row.value,
        })
    attachments = list(submission.attachment_files.order_by("kind", "uploaded_at", "id"))
    kinds = {kind.key: label_of(kind.label) for kind in definition.attachments}
    return render(request, "applications/submission_filed.html", {
        "submission": submission, "program": submission.program, **_labels(definition, submission),
        "sections": sections, "evidence": evidence, "filing": filing, "pdf_url": _pdf_url(submission),
        "attachments": [(kinds.get(item.kind, item.kind), item) for item in attachments],
    })


# --- 附件 --------------------------------------------------------------------------------------

@login_required
@require_safe
def submission_attachments(request: PageRequest, submission_id: int) -> HttpResponse:
    submission = access.get_rw_submission_for_user(request.user, submission_id)
    status = selectors.submission_status(submission, with_evidence=False)
    files: dict[str, list[Any]] = {}
    for attachment in submission.attachment_files.order_by("uploaded_at", "id"):
        files.setdefault(attachment.kind, []).append(attachment)
    kinds = [{"status": kind, "files": files.get(kind.kind.key, []),
              "help": label_of(kind.kind.help) if kind.kind.help else "",
              "types": "、".join(kind.kind.types).upper(),
              "accept": ",".join(f".{t}" for t in kind.kind.types)} for kind in status.attachments]
    return render(request, "applications/submission_attachments.html", {
        **_status_context(request, submission, status, "attachments"), "kinds": kinds,
        "program": submission.program, **_labels(status.definition, submission),
        "editable": submission.is_editable,
    })


# --- 资格与提交 ---------------------------------------------------------------------------------

@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def submission_submit(request: PageRequest, submission_id: int) -> HttpResponse:
    submission = access.get_rw_submission_for_user(request.user, submission_id)
    if not submission.is_editable:
        messages.info(request, _("该申报已提交。"))
        return redirect("applications:submission_detail", submission_id=submission.pk)
    refused: list[str] = []
    if request.method == "POST":
        try:
            # Programs with a review workflow file through its one transition service.
            if review_services.applicant_file(submission=submission, user=request.user) is None:
                services.submission_submit(submission=submission, user=request.user)
        except services.SubmissionRefused as exc:
            refused = list(exc.messages)
        except review_services.TransitionRefused as exc:
            refused = exc.problems
        else:
            messages.success(request, _("申报已提交。提交时的测得值已一并封存。"))
            return redirect("applications:submission_detail", submission_id=submission.pk)
    status = selectors.submission_status(submission)
    figures = [{"figure": figure, "display": forms.figure_display(figure),
                "period": forms.period_display(figure.period_start, figure.period_end)
                if figure.value is not None or not figure.why_missing else ""} for figure in status.figures]
    return render(request, "applications/submission_submit.html", {
        **_status_context(request, submission, status, "submit"), "status": status, "figures": figures,
        "refused": refused, "program": submission.program, **_labels(status.definition, submission),
        "today": timezone.localdate(),
    }, status=400 if refused else 200)
