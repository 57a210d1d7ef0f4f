"""Exports of the reviews: each expert's sheet and the combined score sheet (Excel and PDF), the
Shanghai on-site check record (核查表, seed 001 附表1/附表2, PDF) and a program's results list per
track (Excel).

The figures are the core's: reviews.selectors (submission_scores, checklists_for,
sheet_judgements) and reviews.scoring (sheet_result, combine); nothing here scores again. Who may
export what is decided by the views (reviews/export_views.py); these functions take what the
caller may read. Documents are always in Chinese (they go on file with the program's authority),
laid out as the PDFs of the applications (applications/documents/pdf.py: its fonts, type sizes,
the local-only renderer), with fixed column widths, which keep WeasyPrint fast on CJK text.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet.worksheet import Worksheet

from applications.definitions import Checklist, ChecklistItem, ProgramDefinition
from applications.documents.content import number_text, zh_date
from applications.documents.excel import BORDER, FONT_NAME, ZH_DATETIME_FORMAT
from applications.documents.pdf import (
    FONT_FAMILIES,
    SIZE_SANHAO_PT,
    SIZE_WUHAO_PT,
    SIZE_XIAOSI_PT,
    html_render,
)
from applications.models import Program, Submission, SubmissionState
from applications.selectors import program_definition, submission_definition
from reviews.models import Activity, ScoreItem, ScoreSheet
from reviews.scoring import FAILS, MEETS, NOT_APPLICABLE, CombinedResult, Judgement, SheetResult, sheet_result
from reviews.selectors import (
    ChecklistScores,
    active_assignments,
    checklists_for,
    sheet_judgements,
    submission_scores,
)

VERDICT_TEXT = {MEETS: "符合", FAILS: "不符合", NOT_APPLICABLE: "不适用"}
PASSED_TEXT = {True: "通过", False: "不通过", None: "未完成"}
AGGREGATION_TEXT = {"mean": "平均值", "median": "中位数"}


def _verdict_text(value: str) -> str:
    return _(VERDICT_TEXT[value]) if value in VERDICT_TEXT else ""


def _passed_text(value: bool | None) -> str:
    return _(PASSED_TEXT[value])


def _number(value: Decimal | None) -> str:
    return number_text(value) if value is not None else ""


def _score(value: Decimal | None) -> str:
    # Scores keep their two places (84.00 beside 61.82); points are written as entered.
    return format(value, "f") if value is not None else ""


def judgement_text(item: ChecklistItem, judgement: Judgement | None) -> str:
    """One expert's judgement of one item as written on the sheet."""
    if judgement is None:
        return ""
    if judgement.verdict == NOT_APPLICABLE:
        return _verdict_text(NOT_APPLICABLE)
    if item.mode == "points":
        return _number(judgement.points)
    return _verdict_text(judgement.verdict)


def _category(item: ChecklistItem) -> str:
    return item.category.zh if item.category is not None else ""


def _full_points(item: ChecklistItem) -> str:
    if item.mode != "points" or item.max_points is None:
        return ""
    text = _number(item.max_points)
    return text if item.weight == 1 else f"{text}×{_number(item.weight)}"


# -- one expert's sheet ------------------------------------------------------------------------

@dataclass
class ItemLine:
    category: str
    label: str
    full: str  # the item's maximum (× weight), blank for verdict items
    veto: bool
    judgement: str
    note: str


@dataclass
class SheetView:
    program: str
    enterprise: str
    project: str
    checklist: Checklist
    expert: str
    is_lead: bool
    submitted_at: Any  # datetime or None (a sheet still being filled)
    lines: list[ItemLine]
    result: SheetResult
    conclusion_note: str

    @property
    def submitted(self) -> str:
        return zh_date(self.submitted_at) if self.submitted_at else _("未提交")

    @property
    def conclusion(self) -> str:
        return _passed_text(self.result.passed)


def _checklist_of(submission: Submission, key: str) -> Checklist | None:
    return next((checklist for checklist in submission_definition(submission).checklists
                 if checklist.key == key), None)


def sheet_view(sheet: ScoreSheet) -> SheetView:
    submission = sheet.submission
    checklist = _checklist_of(submission, sheet.checklist)
    if checklist is None:
        raise LookupError(sheet.checklist)
    items = {row.item: row for row in ScoreItem.objects.filter(sheet=sheet)}
    judgements = sheet_judgements(sheet)
    lines = [ItemLine(category=_category(item), label=item.label.zh, full=_full_points(item), veto=item.veto,
                      judgement=judgement_text(item, judgements.get(item.key)),
                      note=items[item.key].note if item.key in items else "")
             for item in checklist.items]
    expert = sheet.assignment.expert
    return SheetView(program=submission.program.name, enterprise=submission.enterprise.name,
                     project=submission.title, checklist=checklist,
                     expert=expert.get_full_name() or expert.username, is_lead=sheet.assignment.is_lead,
                     submitted_at=sheet.submitted_at, lines=lines,
                     result=sheet_result(checklist, judgements), conclusion_note=sheet.conclusion_note)


# -- the combined score sheet ------------------------------------------------------------------

@dataclass
class CombinedLine:
    category: str
    label: str
    full: str
    veto: bool
    judgements: list[str]  # one per sheet, in the sheets' order


@dataclass
class CombinedView:
    checklist: Checklist
    experts: list[str]  # one per submitted sheet
    lines: list[CombinedLine]
    sheet_scores: list[str]
    sheet_conclusions: list[str]
    combined: CombinedResult

    @property
    def aggregation(self) -> str:
        return _(AGGREGATION_TEXT.get(self.combined.aggregation, self.combined.aggregation))

    @property
    def score(self) -> str:
        return _score(self.combined.score)

    @property
    def veto(self) -> str:
        return _("是") if self.combined.vetoed else _("否")

    @property
    def conclusion(self) -> str:
        return _passed_text(self.combined.passed)


def _expert_name(sheet: ScoreSheet) -> str:
    expert = sheet.assignment.expert
    name = expert.get_full_name() or expert.username
    return f"{name}（{_('组长')}）" if sheet.assignment.is_lead else name


def combined_view(scores: ChecklistScores) -> CombinedView:
    checklist = scores.checklist
    judgements = [sheet_judgements(sheet) for sheet, _result in scores.sheets]
    lines = [CombinedLine(category=_category(item), label=item.label.zh, full=_full_points(item),
                          veto=item.veto,
                          judgements=[judgement_text(item, each.get(item.key)) for each in judgements])
             for item in checklist.items]
    return CombinedView(
        checklist=checklist, experts=[_expert_name(sheet) for sheet, _result in scores.sheets], lines=lines,
        sheet_scores=[_score(result.score) for _sheet, result in scores.sheets],
        sheet_conclusions=[_passed_text(result.passed) for _sheet, result in scores.sheets],
        combined=scores.combined)


def combined_views(submission: Submission) -> list[CombinedView]:
    return [combined_view(scores) for scores in submission_scores(submission)]


# -- the on-site check record (核查表) -----------------------------------------------------------

@dataclass
class CheckLine:
    category: str
    label: str
    result: str  # the group's judgement: 符合 / 不符合 / 不适用, with the count when not unanimous


@dataclass
class CheckRecord:
    checklist: Checklist
    lines: list[CheckLine]
    passed: bool | None
    conclusion: str
    notes: list[str]  # the experts' conclusion notes, by name
    date: str


def _group_judgement(item: ChecklistItem, judgements: Sequence[dict[str, Judgement]]) -> str:
    given = [each[item.key] for each in judgements if item.key in each]
    if item.mode == "points":
        return "、".join(judgement_text(item, judgement) for judgement in given)
    counts: dict[str, int] = {}
    for judgement in given:
        if judgement.verdict in VERDICT_TEXT:
            counts[judgement.verdict] = counts.get(judgement.verdict, 0) + 1
    if not counts:
        return ""
    if len(counts) == 1:
        return _verdict_text(next(iter(counts)))
    return "；".join(f"{_verdict_text(verdict)} {count}" for verdict, count in counts.items())


def check_records(submission: Submission) -> list[CheckRecord]:
    records = []
    for scores in submission_scores(submission):
        judgements = [sheet_judgements(sheet) for sheet, _result in scores.sheets]
        submitted = [sheet.submitted_at for sheet, _result in scores.sheets if sheet.submitted_at]
        notes = [f"{_expert_name(sheet)}：{sheet.conclusion_note}" for sheet, _result in scores.sheets
                 if sheet.conclusion_note]
        records.append(CheckRecord(
            checklist=scores.checklist,
            lines=[CheckLine(category=_category(item), label=item.label.zh,
                             result=_group_judgement(item, judgements)) for item in scores.checklist.items],
            # 通过 / 不通过 as seed 001 says; 未完成 while a sheet is missing or incomplete.
            passed=scores.combined.passed, conclusion=_passed_text(scores.combined.passed), notes=notes,
            date=zh_date(max(submitted)) if submitted else ""))
    return records


# -- Excel -------------------------------------------------------------------------------------

HEADER_FONT = Font(name=FONT_NAME, bold=True)
BODY_FONT = Font(name=FONT_NAME)
TITLE_FONT = Font(name=FONT_NAME, bold=True, size=14)
WRAP = Alignment(wrap_text=True, vertical="top")


def _row(sheet: Worksheet, values: Iterable[Any], *, header: bool = False) -> None:
    sheet.append(list(values))
    for cell in sheet[sheet.max_row]:
        cell.font = HEADER_FONT if header else BODY_FONT
        cell.border = BORDER
        cell.alignment = WRAP


def _widths(sheet: Worksheet, widths: Sequence[int]) -> None:
    for index, width in enumerate(widths):
        sheet.column_dimensions[chr(ord("A") + index)].width = width


def _title(sheet: Worksheet, title: str, facts: Sequence[tuple[str, Any]]) -> None:
    sheet.append([title])
    sheet.cell(row=sheet.max_row, column=1).font = TITLE_FONT
    for label, value in facts:
        sheet.append([label, value])
        sheet.cell(row=sheet.max_row, column=1).font = HEADER_FONT
        sheet.cell(row=sheet.max_row, column=2).font = BODY_FONT
        if hasattr(value, "tzinfo"):
            sheet.cell(row=sheet.max_row, column=2).number_format = ZH_DATETIME_FORMAT
    sheet.append([])


def _excel_datetime(value: Any) -> Any:
    # Excel has no time zones: the local (Beijing) time, as the reader expects it.
    from django.utils import timezone

    return timezone.localtime(value).replace(tzinfo=None) if value is not None else _("未提交")


def _workbook_bytes(book: Workbook) -> bytes:
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _sheet_title(text: str) -> str:
    # Excel sheet names: at most 31 characters, none of []:*?/\
    return "".join("_" if char in "[]:*?/\\" else char for char in text)[:31] or "Sheet"


def sheet_xlsx(sheet: ScoreSheet) -> bytes:
    with translation.override("zh-hans"):
        view = sheet_view(sheet)
        book = Workbook()
        ws = book.active
        assert ws is not None
        ws.title = _sheet_title(_("专家评审表"))
        _title(ws, view.checklist.title.zh, [
            (_("项目"), view.program), (_("申报单位"), view.enterprise), (_("申报名称"), view.project),
            (_("评审专家"), view.expert + (f"（{_('组长')}）" if view.is_lead else "")),
            (_("提交时间"), _excel_datetime(view.submitted_at))])
        _row(ws, [_("类别"), _("评审内容"), _("满分"), _("否决项"), _("评审结果"), _("说明")], header=True)
        for line in view.lines:
            _row(ws, [line.category, line.label, line.full, _("是") if line.veto else "", line.judgement,
                      line.note])
        ws.append([])
        _row(ws, [_("得分"), _score(view.result.score)])
        _row(ws, [_("结论"), view.conclusion])
        _row(ws, [_("核查意见"), view.conclusion_note])
        _widths(ws, (14, 60, 8, 8, 12, 40))
        return _workbook_bytes(book)


def combined_xlsx(submission: Submission) -> bytes:
    with translation.override("zh-hans"):
        book = Workbook()
        first = True
        for view in combined_views(submission):
            ws = book.active if first else book.create_sheet()
            assert ws is not None
            first = False
            ws.title = _sheet_title(view.checklist.title.zh)
            _title(ws, _("%(title)s · 评分汇总表") % {"title": view.checklist.title.zh}, [
                (_("项目"), submission.program.name), (_("申报单位"), submission.enterprise.name),
                (_("申报名称"), submission.title)])
            _row(ws, [_("类别"), _("评审内容"), _("满分"), _("否决项"), *view.experts], header=True)
            for line in view.lines:
                _row(ws, [line.category, line.label, line.full, _("是") if line.veto else "",
                          *line.judgements])
            ws.append([])
            _row(ws, ["", _("各专家得分"), "", "", *view.sheet_scores])
            _row(ws, ["", _("各专家结论"), "", "", *view.sheet_conclusions])
            _row(ws, ["", _("综合得分（%(how)s）") % {"how": view.aggregation}, "", "", view.score])
            _row(ws, ["", _("否决项不符合"), "", "", view.veto])
            _row(ws, ["", _("综合结论"), "", "", view.conclusion])
            _widths(ws, (14, 60, 8, 8, *(14 for _expert in view.experts)))
        if first:
            ws = book.active
            assert ws is not None
            ws.append([_("该申报没有适用的评审表")])
        return _workbook_bytes(book)


# -- the results list --------------------------------------------------------------------------

@dataclass
class ResultLine:
    enterprise: str
    project: str
    track: str
    state: str
    decision: str
    prize: str
    score: Decimal | None
    conclusion: str


@dataclass
class TrackResults:
    key: str
    label: str
    lines: list[ResultLine] = field(default_factory=list)


def _activities(submissions: Sequence[Submission]) -> dict[int, list[Activity]]:
    found: dict[int, list[Activity]] = {}
    for activity in Activity.objects.filter(submission__in=submissions).order_by("created_at", "id"):
        found.setdefault(activity.submission_id, []).append(activity)
    return found


def decision_label(submission: Submission, activities: Sequence[Activity]) -> str:
    """The label of the last transition that decided the submission (one with an outcome)."""
    workflow = submission_definition(submission).workflow
    if workflow is None:
        return ""
    for activity in reversed(activities):
        transition = workflow.transition(activity.action)
        if transition is not None and transition.outcome:
            return transition.label.zh
    return ""


def _overall(scores: Sequence[ChecklistScores]) -> str:
    """The experts' conclusion over every checklist: 不通过 when one fails, 通过 when all pass,
    未完成 while one is still open; blank before any sheet came in."""
    judged = [each.combined for each in scores if each.combined.sheets]
    if not judged:
        return ""
    if any(combined.passed is False for combined in judged):
        return _passed_text(False)
    if len(judged) == len(scores) and all(combined.passed for combined in judged):
        return _passed_text(True)
    return _passed_text(None)


def results(program: Program, submissions: Sequence[Submission], *, track: str | None = None
            ) -> list[TrackResults]:
    """The results per track (one group when the program has no tracks) of the given submissions
    (the caller's reach), drafts left out."""
    definition: ProgramDefinition = program_definition(program)
    tracks = [(item.key, item.label.zh) for item in definition.tracks] or [("", "")]
    if track is not None:
        tracks = [(key, label) for key, label in tracks if key == track]
    groups = {key: TrackResults(key=key, label=label) for key, label in tracks}
    filed = [submission for submission in submissions if submission.state != SubmissionState.DRAFT]
    activities = _activities(filed)
    for submission in filed:
        group = groups.get(submission.track if definition.tracks else "")
        if group is None:
            continue
        workflow = submission_definition(submission).workflow
        state = workflow.state(submission.state) if workflow is not None else None
        scores = submission_scores(submission)
        scored = next((each.combined for each in scores if each.combined.score is not None), None)
        decision = decision_label(submission, activities.get(submission.pk, []))
        group.lines.append(ResultLine(
            enterprise=submission.enterprise.name, project=submission.title, track=group.label,
            state=state.label.zh if state is not None else submission.get_state_display(),
            decision=decision, prize=decision if submission.state == SubmissionState.AWARDED else "",
            score=scored.score if scored is not None else None, conclusion=_overall(scores)))
    for group in groups.values():
        # Highest combined score first; unscored entries after, by enterprise.
        group.lines.sort(key=lambda line: (line.score is None, -(line.score or 0), line.enterprise))
    return list(groups.values())


def results_xlsx(program: Program, submissions: Sequence[Submission], *, track: str | None = None) -> bytes:
    with translation.override("zh-hans"):
        book = Workbook()
        for index, group in enumerate(results(program, submissions, track=track)):
            ws = book.active if index == 0 else book.create_sheet()
            assert ws is not None
            ws.title = _sheet_title(group.label or _("评审结果"))
            heading = f"{program.name} · {group.label}" if group.label else program.name
            _title(ws, _("%(program)s评审结果") % {"program": heading}, [])
            _row(ws, [_("序号"), _("企业名称"), _("申报名称"), _("赛道"), _("状态"), _("评审结论"), _("奖项"),
                      _("综合得分"), _("专家评审结论")], header=True)
            for number, line in enumerate(group.lines, start=1):
                _row(ws, [number, line.enterprise, line.project, line.track, line.state, line.decision,
                          line.prize, float(line.score) if line.score is not None else "", line.conclusion])
                ws.cell(row=ws.max_row, column=8).number_format = "0.00"
            if not group.lines:
                ws.append([_("暂无已提交的申报")])
            _widths(ws, (6, 32, 32, 16, 12, 14, 12, 10, 12))
        return _workbook_bytes(book)


# -- PDF ---------------------------------------------------------------------------------------

CSS = {
    "heiti": FONT_FAMILIES["heiti"], "songti": FONT_FAMILIES["songti"], "fangsong": FONT_FAMILIES["fangsong"],
    "sanhao": f"{SIZE_SANHAO_PT}pt", "xiaosi": f"{SIZE_XIAOSI_PT}pt", "wuhao": f"{SIZE_WUHAO_PT}pt",
}


def _pdf(template: str, context: dict[str, Any]) -> bytes:
    with translation.override("zh-hans"):
        html = render_to_string(template, {**context, "css": CSS})
    pdf = html_render(html).write_pdf()
    assert isinstance(pdf, bytes)
    return pdf


def export_html(template: str, context: dict[str, Any]) -> str:
    """The HTML WeasyPrint lays out (the tests read its pages' text)."""
    with translation.override("zh-hans"):
        return render_to_string(template, {**context, "css": CSS})


def sheet_context(sheet: ScoreSheet) -> dict[str, Any]:
    with translation.override("zh-hans"):
        return {"view": sheet_view(sheet)}


def combined_context(submission: Submission) -> dict[str, Any]:
    with translation.override("zh-hans"):
        return {"submission": submission, "views": combined_views(submission)}


def check_context(submission: Submission) -> dict[str, Any]:
    with translation.override("zh-hans"):
        experts = [(assignment.expert.get_full_name() or assignment.expert.username, assignment.is_lead)
                   for assignment in active_assignments(submission)]
        return {"submission": submission, "records": check_records(submission), "experts": experts,
                "seal_rows": max(len(experts), 3)}


SHEET_TEMPLATE = "reviews/pdf/sheet.html"
COMBINED_TEMPLATE = "reviews/pdf/combined.html"
CHECK_TEMPLATE = "reviews/pdf/onsite_check.html"


def sheet_pdf(sheet: ScoreSheet) -> bytes:
    return _pdf(SHEET_TEMPLATE, sheet_context(sheet))


def combined_pdf(submission: Submission) -> bytes:
    return _pdf(COMBINED_TEMPLATE, combined_context(submission))


def check_pdf(submission: Submission) -> bytes:
    return _pdf(CHECK_TEMPLATE, check_context(submission))


def has_checklists(submission: Submission) -> bool:
    return bool(checklists_for(submission))


def file_name(*parts: str, suffix: str) -> str:
    name = "-".join(part for part in parts if part)
    return "".join("_" if char in '\\/:*?"<>|\r\n\t' else char for char in name) + suffix
