"""The officials' Excel tables (openpyxl): a program's summary table (Henan 附件2: the city's
recommendation list) and its submission list.

Both take the submissions to list from the caller, who has already narrowed them to the reader's
reach (applications.documents.views); nothing here widens or narrows that list. Each row shows
what was filed (the submission's last filing), under the definition version it was filed with.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from django.utils import timezone, translation
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from applications.definitions import FormField, Label, SummaryColumn, TableField
from applications.documents.content import FiledContent, filed_content, value_text
from applications.models import Program, Submission, SubmissionState
from applications.selectors import program_definition
from portal.models import Enterprise, Region

ZH_DATE_FORMAT = 'yyyy"年"m"月"d"日"'
ZH_DATETIME_FORMAT = 'yyyy"年"m"月"d"日" hh:mm'
HEADER_ROW = 3  # title, the line under it, then the header; data from row 4
MIN_WIDTH_CHARS, MAX_WIDTH_CHARS = 6, 60
FONT_NAME = "宋体"
THIN = Side(style="thin", color="000000")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
# Used when a program declares no summary table: the columns every program has.
DEFAULT_SUMMARY_COLUMNS = (
    SummaryColumn(key="seq", label=Label(zh="序号", en="No."), source="seq"),
    SummaryColumn(key="enterprise", label=Label(zh="企业名称", en="Enterprise"), source="enterprise.name"),
    SummaryColumn(key="county", label=Label(zh="所在县区", en="County"), source="enterprise.county"),
    SummaryColumn(key="industry", label=Label(zh="行业", en="Industry"), source="enterprise.industry"),
    SummaryColumn(key="submitted_at", label=Label(zh="提交时间", en="Submitted"), source="submitted_at"),
    SummaryColumn(key="state", label=Label(zh="状态", en="State"), source="state"),
)


def county_of(region: Region | None) -> str:
    """The district-level (区县) name of a region: itself or the district above it."""
    node = region
    while node is not None:
        if node.level == Region.Level.DISTRICT:
            return node.name
        node = node.parent
    return ""


def _enterprise_value(enterprise: Enterprise, name: str) -> str:
    if name == "county":
        return county_of(enterprise.region)
    if name == "region":
        return enterprise.region.full_name
    return str(getattr(enterprise, name, "") or "")


def _local(moment: dt.datetime | None) -> dt.datetime | None:
    # Excel has no time zones: the site's local time, as officials read it.
    return timezone.localtime(moment).replace(tzinfo=None) if moment else None


def _field_value(content: FiledContent, path: str) -> Any:
    """`key`, or inside a table `table.<row key or index>.<column>`."""
    key, _dot, rest = path.partition(".")
    item = content.definition.item(key)
    if item is None:
        return None
    if isinstance(item, TableField):
        row_key, _dot, column_key = rest.partition(".")
        rows = content.values.get(key) or []
        index = next((number for number, row in enumerate(item.rows or ()) if row.key == row_key), None)
        if index is None and row_key.isdigit():
            index = int(row_key)
        column = next((column for column in item.columns if column.key == column_key), None)
        if index is None or column is None or index >= len(rows):
            return None
        return _cell(column, rows[index].get(column_key))
    return _cell(item, content.values.get(key), content.data.get(key))


def _cell(item: FormField, value: Any, raw: Any = None) -> Any:
    """Numbers stay numbers and dates dates (officials sort and sum them); the rest as text."""
    if isinstance(value, Decimal) and not isinstance(value, bool):
        return value
    if isinstance(value, dt.date) and item.type == "date":
        return value
    return value_text(item, value, raw) or None


def _source_value(column: SummaryColumn, seq: int, submission: Submission, content: FiledContent) -> Any:
    source = column.source
    if source == "seq":
        return seq
    if source == "submitted_at":
        return _local(submission.submitted_at)
    if source == "state":
        return str(SubmissionState(submission.state).label)
    if source.startswith("enterprise."):
        return _enterprise_value(submission.enterprise, source.removeprefix("enterprise.")) or None
    return _field_value(content, source.removeprefix("field:"))


def _display_width(value: Any) -> int:
    if isinstance(value, dt.datetime):
        return 18
    if isinstance(value, dt.date):
        return 12
    text = str(value) if value is not None else ""
    # CJK characters take two columns of Excel's width unit.
    return sum(2 if ord(char) > 0x2E7F else 1 for char in text)


def _sheet(title: str, subtitle: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    workbook = Workbook()
    sheet: Worksheet = workbook.active  # type: ignore[assignment]
    sheet.title = _("汇总表")[:31]
    count = len(header)
    sheet.append([title])
    sheet.append([subtitle])
    sheet.append(list(header))
    for cell_range in (f"A1:{get_column_letter(count)}1", f"A2:{get_column_letter(count)}2"):
        if count > 1:
            sheet.merge_cells(cell_range)
    sheet["A1"].font = Font(name=FONT_NAME, size=16, bold=True)
    sheet["A1"].alignment = Alignment(horizontal="center", vertical="center")
    sheet.row_dimensions[1].height = 30
    sheet["A2"].font = Font(name=FONT_NAME, size=12)
    widths = [_display_width(label) for label in header]
    for cell in sheet[HEADER_ROW]:
        cell.font = Font(name=FONT_NAME, size=11, bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.border = BORDER
    for number, values in enumerate(rows, start=HEADER_ROW + 1):
        sheet.append(list(values))
        for index, (cell, value) in enumerate(zip(sheet[number], values, strict=True)):
            cell.font = Font(name=FONT_NAME, size=11)
            cell.border = BORDER
            cell.alignment = Alignment(vertical="center", wrap_text=True)
            if isinstance(value, dt.datetime):
                cell.number_format = ZH_DATETIME_FORMAT
            elif isinstance(value, dt.date):
                cell.number_format = ZH_DATE_FORMAT
            widths[index] = max(widths[index], _display_width(value))
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = min(max(width + 2, MIN_WIDTH_CHARS),
                                                                      MAX_WIDTH_CHARS)
    sheet.freeze_panes = f"A{HEADER_ROW + 1}"
    sheet.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


def summary_table_xlsx(program: Program, submissions: Iterable[Submission]) -> bytes:
    """The program's summary table (its definition's `summary_table` columns), one row per
    submission given, numbered in the order given, under a title and the recommending
    authority's 推荐单位（盖章）： line (Henan 附件2)."""
    definition = program_definition(program)
    with translation.override("zh-hans"):
        table = definition.summary_table
        columns = list(table.columns) if table else list(DEFAULT_SUMMARY_COLUMNS)
        title = table.title.zh if table else _("%(program)s申报汇总表") % {"program": definition.name}
        rows = []
        for seq, submission in enumerate(submissions, start=1):
            content = filed_content(submission, with_attachments=False)
            rows.append([_source_value(column, seq, submission, content) for column in columns])
        return _sheet(title, _("推荐单位（盖章）："), [column.label.zh for column in columns], rows)


def _variant_label(submission: Submission, content: FiledContent) -> str:
    definition = content.definition
    track = next((item for item in definition.tracks if item.key == submission.track), None)
    variant = definition.variant(submission.variant)
    return "、".join(label.zh for label in (track.label if track else None,
                                           variant.label if variant else None) if label)


def submission_list_xlsx(program: Program, submissions: Iterable[Submission]) -> bytes:
    """The program's submissions: enterprise, credit code, region, variant or track, state, when
    filed, and the key figures (each measured figure frozen with the filing, and whether a typed
    value disagrees with it)."""
    definition = program_definition(program)
    with translation.override("zh-hans"):
        specs = list(definition.evidence)
        header = [_("序号"), _("企业名称"), _("统一社会信用代码"), _("所在地区"), _("申报类型"), _("状态"),
                  _("提交时间"), _("定义版本")]
        header += [f"{spec.label.zh}（{spec.unit}）" if spec.unit else spec.label.zh for spec in specs]
        header.append(_("填报值与测得值不符"))
        rows = []
        for seq, submission in enumerate(submissions, start=1):
            content = filed_content(submission, with_attachments=False)
            enterprise = submission.enterprise
            figures = {row.key: row for row in content.evidence}
            flagged = [row.label for row in content.evidence if row.flagged]
            rows.append([
                seq, enterprise.name, enterprise.credit_code, enterprise.region.full_name,
                _variant_label(submission, content) or None, str(SubmissionState(submission.state).label),
                _local(submission.submitted_at), submission.definition_version,
                *[figures[spec.key].value if spec.key in figures else None for spec in specs],
                "、".join(flagged) or None,
            ])
        generated = timezone.localtime()
        subtitle = _("导出时间：%(date)s %(time)s") % {
            "date": f"{generated.year}年{generated.month}月{generated.day}日",
            "time": generated.strftime("%H:%M")}
        return _sheet(_("%(program)s申报列表") % {"program": definition.name}, subtitle, header, rows)
