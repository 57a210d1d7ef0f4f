"""The application form in the browser: what a section's POST changes, and what each field shows.

A program's form is data (applications/definitions.py), so its pages are not Django `Form`
classes: `section_changes` reads a section's POST into the `changes` that
`services.submission_save` stores as typed, and `section_view` lays out what the template
renders for each field (the typed value, its message, its character count, the measured figure
beside it). Every rule stays where it is: checks in applications/values.py, evidence in
applications/evidence.py; this module only reads and lays out.

POST names: a field's key; `<key>__text` for the text beside a choice "其他，具体为____";
`<table>.<row index>.<column>` for table cells and `<table>.<row index>.__delete` to drop a row of
a free table. Each rendered item sends `__present=<key>`, so an unticked checkbox (or a field the
page did not show) is told apart: only items the page showed are changed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.http import QueryDict
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from applications.definitions import FormField, ProgramDefinition, Section, TableField
from applications.evidence import MeasuredFigure, disagrees
from applications.values import YES, Context, FormCheck, condition_holds, label_of

PRESENT = "__present"
DELETE = "__delete"
ROW_PLACEHOLDER = "__row__"  # the index in the free-table row template the script copies
NO_VALUE = "—"
NUMBER_TYPES = ("integer", "decimal", "money", "percent")
DATE_TYPES = ("date", "month", "year")
TEXT_TYPES = ("text", "email", "phone", "credit_code")
ISO_PATTERNS = {"date": re.compile(r"^\d{4}-\d{2}-\d{2}$"), "month": re.compile(r"^\d{4}-\d{2}$")}


# --- reading a section's POST -------------------------------------------------------------------

def _has_text_choice(item: FormField) -> bool:
    return bool(item.choices) and any(choice.with_text for choice in item.choices or ())


def _cell(item: FormField, post: QueryDict, name: str) -> Any:
    if item.type == "multichoice":
        return post.getlist(name)
    if item.type == "declaration":
        return YES if post.get(name) else ""
    # A browser sends a textarea's line breaks as CRLF; counted as the page counts them (one each).
    return post.get(name, "").replace("\r\n", "\n")


def _is_blank(value: Any) -> bool:
    return value in (None, "", []) or (isinstance(value, str) and not value.strip())


def _table_rows(table: TableField, post: QueryDict) -> list[dict[str, Any]]:
    columns = [column for column in table.columns if column.type != "computed"]
    prefix = f"{table.key}."
    if table.rows is not None:
        indices = list(range(len(table.rows)))
    else:
        indices = sorted({int(part) for name in post if name.startswith(prefix)
                          and (part := name[len(prefix):].split(".", 1)[0]).isdigit()})
    rows: list[dict[str, Any]] = []
    for index in indices:
        if table.rows is None and post.get(f"{prefix}{index}.{DELETE}"):
            continue
        row = {column.key: _cell(column, post, f"{prefix}{index}.{column.key}") for column in columns}
        # A free table's row left wholly empty (the spare row every page offers) is no row at all.
        if table.rows is None and all(_is_blank(value) for value in row.values()):
            continue
        rows.append(row)
    return rows


def section_changes(section: Section, post: QueryDict) -> dict[str, Any]:
    """What the section's POST sets, as typed: only the items the page showed (`__present`)."""
    shown = set(post.getlist(PRESENT))
    changes: dict[str, Any] = {}
    for item in section.items:
        if item.key not in shown:
            continue
        if isinstance(item, TableField):
            changes[item.key] = _table_rows(item, post)
            continue
        if item.type == "computed":
            continue
        changes[item.key] = _cell(item, post, item.key)
        if _has_text_choice(item):
            changes[f"{item.key}__text"] = post.get(f"{item.key}__text", "")
    return changes


# --- how values read ----------------------------------------------------------------------------

def number_display(value: Decimal, unit: str | None = None) -> str:
    """1234.5 → "1,234.5"; with its unit ("1,234.5 万元", "96.9%")."""
    text = f"{value:,f}"
    if not unit:
        return text
    return f"{text}{unit}" if unit == "%" else f"{text} {unit}"


def date_display(value: dt.date, kind: str = "date") -> str:
    if kind == "month":
        return date_format(value, "YEAR_MONTH_FORMAT")
    if kind == "year":
        return _("%(year)s年") % {"year": value.year}
    return date_format(value, "DATE_FORMAT")


def period_display(start: dt.date, end: dt.date) -> str:
    return _("%(start)s 至 %(end)s") % {"start": date_display(start), "end": date_display(end)}


def value_display(item: FormField, value: Any, companion: str = "") -> str:
    """A cleaned value as the filed application reads it."""
    if _is_blank(value):
        return NO_VALUE
    labels = {choice.key: label_of(choice.label) for choice in item.choices or ()}
    if item.type == "choice":
        text = labels.get(str(value), str(value))
        return f"{text}：{companion}" if companion else text
    if item.type == "multichoice":
        text = "、".join(labels.get(str(key), str(key)) for key in value)
        return f"{text}（{companion}）" if companion else text
    if item.type == "boolean":
        return _("是") if value is True else _("否")
    if item.type == "declaration":
        return _("已确认") if value is True else NO_VALUE
    if isinstance(value, dt.date):
        return date_display(value, item.type)
    if isinstance(value, Decimal):
        return number_display(value, "%" if item.type == "percent" else item.unit)
    return str(value)


def figure_display(figure: MeasuredFigure | None) -> str:
    if figure is None or figure.value is None:
        return NO_VALUE
    return number_display(figure.value, figure.unit)


# --- what each field shows ----------------------------------------------------------------------

@dataclass
class ChoiceView:
    key: str
    label: str
    checked: bool
    with_text: bool = False


@dataclass
class EvidenceView:
    """The measured figure beside a field, and whether what was typed disagrees with it."""

    figure: MeasuredFigure
    display: str
    period: str
    adopt_value: str  # what "采用测得值" puts in the field
    tolerance_percent: str
    disagrees: bool
    typed_display: str


@dataclass
class FieldView:
    name: str  # the POST name (a key, or table.row.column)
    item: FormField
    label: str
    help: str
    required: bool
    kind: str  # text, textarea, number, date, choice, multichoice, boolean, declaration, computed
    input_type: str = "text"
    text: str = ""  # the value as typed, for inputs
    error: str = ""
    unit: str = ""
    limit: int | None = None
    count: int = 0
    choices: list[ChoiceView] = field(default_factory=list)
    companion_name: str = ""
    companion_text: str = ""
    display: str = ""  # computed fields: the value computed on the last save
    evidence: EvidenceView | None = None
    placeholder: str = ""

    @property
    def is_table(self) -> bool:
        return False

    @property
    def over(self) -> bool:
        return self.limit is not None and self.count > self.limit

    @property
    def dom_id(self) -> str:
        return "f-" + self.name.replace(".", "-")


@dataclass
class RowView:
    index: int | str
    label: str
    cells: list[FieldView]


@dataclass
class ColumnView:
    label: str
    unit: str
    required: bool


@dataclass
class TableView:
    item: TableField
    label: str
    help: str
    columns: list[ColumnView]
    rows: list[RowView]
    fixed: bool
    template_row: RowView | None
    errors: list[str]
    max_rows: int | None

    @property
    def is_table(self) -> bool:
        return True

    @property
    def name(self) -> str:
        return self.item.key


PLACEHOLDERS = {"date": "2024-06-30", "month": "2024-06", "year": "2024"}


def _text_of(raw: Any) -> str:
    if raw is None:
        return ""
    if isinstance(raw, list):
        return ", ".join(str(part) for part in raw)
    if isinstance(raw, bool):
        return YES if raw else ""
    return str(raw)


def field_view(item: FormField, name: str, *, raw: Any, value: Any, error: str = "", required: bool = False,
               companion: Any = None) -> FieldView:
    """What the page shows for one input: the raw (as typed) value, never a cleaned one, so a
    value that failed its check is shown exactly as it was typed, beside its message."""
    view = FieldView(name=name, item=item, label=label_of(item.label),
                     help=label_of(item.help) if item.help else "", required=required,
                     kind=item.type, text=_text_of(raw), error=error,
                     unit="%" if item.type == "percent" and not item.unit else (item.unit or ""))
    if item.type in TEXT_TYPES:
        view.kind = "text"
    elif item.type == "textarea":
        view.limit = item.max_length
        view.count = len(view.text.strip())
    elif item.type in NUMBER_TYPES:
        view.kind = "number"
    elif item.type in DATE_TYPES:
        view.kind = "date"
        view.placeholder = PLACEHOLDERS[item.type]
        # A browser's date/month picker cannot show text that is not an ISO value, so a value typed
        # wrongly (kept in the draft as typed) is shown in a plain text input beside its message.
        pattern = ISO_PATTERNS.get(item.type)
        if pattern is not None and (not view.text or pattern.match(view.text)):
            view.input_type = item.type
    elif item.type in ("choice", "multichoice"):
        picked = raw if isinstance(raw, list) else ([raw] if raw not in (None, "") else [])
        picked_keys = {str(key) for key in picked}
        view.choices = [ChoiceView(key=choice.key, label=label_of(choice.label),
                                   checked=choice.key in picked_keys, with_text=choice.with_text)
                        for choice in item.choices or ()]
        if _has_text_choice(item):
            view.companion_name = f"{name}__text"
            view.companion_text = _text_of(companion)
    elif item.type == "boolean":
        current = ("yes" if raw in (True, "yes", "true", "on")
                   else "no" if raw in (False, "no", "false") else "")
        view.choices = [ChoiceView(key="yes", label=_("是"), checked=current == "yes"),
                        ChoiceView(key="no", label=_("否"), checked=current == "no")]
    elif item.type == "declaration":
        view.choices = [ChoiceView(key=YES, label=view.label, checked=raw in (True, YES, "true", "on"))]
    elif item.type == "computed":
        view.display = value_display(item, value) if value is not None else NO_VALUE
    return view


def _evidence_view(definition: ProgramDefinition, item: FormField, figure: MeasuredFigure,
                   value: Any) -> EvidenceView:
    spec = definition.evidence_spec(figure.key)
    assert spec is not None
    return EvidenceView(
        figure=figure, display=figure_display(figure),
        period=period_display(figure.period_start, figure.period_end) if figure.value is not None else "",
        adopt_value=format(figure.value, "f") if figure.value is not None else "",
        tolerance_percent=format((spec.tolerance * 100).normalize(), "f"),
        disagrees=disagrees(spec, figure.value, value),
        typed_display=value_display(item, value),
    )


def _item_required(item: FormField, values: Mapping[str, Any], context: Context) -> bool:
    return item.required or (item.required_if is not None
                             and condition_holds(item.required_if, values=values, context=context))


def _table_view(table: TableField, raw: Any, check: FormCheck, context: Context) -> TableView:
    rows_raw = raw if isinstance(raw, list) else []
    cleaned = check.values.get(table.key) or []
    fixed = table.rows is not None
    count = len(table.rows) if table.rows is not None else len(rows_raw)
    rows: list[RowView] = []
    for index in range(count):
        row_raw = rows_raw[index] if index < len(rows_raw) and isinstance(rows_raw[index], Mapping) else {}
        row_values = cleaned[index] if index < len(cleaned) else {}
        cells = [field_view(column, f"{table.key}.{index}.{column.key}", raw=row_raw.get(column.key),
                            value=row_values.get(column.key),
                            error=check.errors.get(f"{table.key}.{index}.{column.key}", ""),
                            required=column.required) for column in table.columns]
        label = label_of(table.rows[index].label) if table.rows is not None else str(index + 1)
        rows.append(RowView(index=index, label=label, cells=cells))
    template_row = None
    if not fixed:
        template_row = RowView(index=ROW_PLACEHOLDER, label="", cells=[
            field_view(column, f"{table.key}.{ROW_PLACEHOLDER}.{column.key}", raw=None, value=None,
                       required=column.required) for column in table.columns])
        # One spare row, so a row can be added without the script; left empty, it is dropped on save.
        if table.max_rows is None or count < table.max_rows:
            rows.append(RowView(index=count, label=str(count + 1), cells=[
                field_view(column, f"{table.key}.{count}.{column.key}", raw=None, value=None,
                           required=column.required) for column in table.columns]))
    errors = [message for path, message in check.errors.items() if path.startswith(f"{table.key}.")]
    return TableView(item=table, label=label_of(table.label), help=label_of(table.help) if table.help else "",
                     columns=[ColumnView(label=label_of(column.label), required=column.required,
                                         unit=column.unit or ("%" if column.type == "percent" else ""))
                              for column in table.columns],
                     rows=rows, fixed=fixed,
                     template_row=template_row, errors=errors, max_rows=table.max_rows)


def section_view(definition: ProgramDefinition, section: Section, data: Mapping[str, Any], check: FormCheck,
                 context: Context, figures: list[MeasuredFigure]) -> list[FieldView | TableView]:
    """Each item of the section the applicant fills now (items whose `applies_if` fails are left
    out), laid out for the template."""
    by_field = {figure.field: figure for figure in figures if figure.field}
    views: list[FieldView | TableView] = []
    for item in section.items:
        if item.applies_if is not None and not condition_holds(item.applies_if, values=check.values,
                                                               context=context):
            continue
        if isinstance(item, TableField):
            views.append(_table_view(item, data.get(item.key), check, context))
            continue
        value = check.values.get(item.key)
        view = field_view(item, item.key, raw=data.get(item.key), value=value,
                          error=check.errors.get(item.key, ""),
                          required=_item_required(item, check.values, context),
                          companion=data.get(f"{item.key}__text"))
        figure = by_field.get(item.key)
        if figure is not None:
            view.evidence = _evidence_view(definition, item, figure, value)
        views.append(view)
    return views


@dataclass
class ReadOnlyItem:
    label: str
    display: str = ""
    columns: list[str] = field(default_factory=list)
    table_rows: list[tuple[str, list[str]]] = field(default_factory=list)


def _column_heading(column: FormField) -> str:
    return label_of(column.label) + (f"（{column.unit}）" if column.unit else "")


def section_read_only(section: Section, values: Mapping[str, Any], context: Context) -> list[ReadOnlyItem]:
    """A section's values as the filed application (or an authority's section) reads them."""
    items: list[ReadOnlyItem] = []
    for item in section.items:
        if item.applies_if is not None and not condition_holds(item.applies_if, values=values,
                                                               context=context):
            continue
        if isinstance(item, TableField):
            rows = values.get(item.key) or []
            labelled = []
            for index, row in enumerate(rows):
                fixed = item.rows is not None and index < len(item.rows)
                label = label_of(item.rows[index].label) if item.rows and fixed else str(index + 1)
                labelled.append((label, [value_display(column, row.get(column.key))
                                         for column in item.columns]))
            items.append(ReadOnlyItem(label=label_of(item.label),
                                      columns=[_column_heading(column) for column in item.columns],
                                      table_rows=labelled))
            continue
        items.append(ReadOnlyItem(label=label_of(item.label),
                                  display=value_display(item, values.get(item.key),
                                                        str(values.get(f"{item.key}__text") or ""))))
    return items
