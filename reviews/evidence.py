"""Reads for the review pages: the filed form by section, and the measured evidence as frozen at
filing beside today's figure for the same period (what reviewers and experts judge by)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils import timezone

from applications.definitions import ChecklistItem, FormField, TableField
from applications.documents.content import FiledContent, filed_content, value_text
from applications.evidence import MeasuredFigure, evidence_measure
from applications.models import Evidence, Submission
from applications.values import condition_holds, label_of


@dataclass(frozen=True)
class EvidenceLine:
    """One evidence figure: as frozen at filing, and measured again now for the same period."""

    key: str
    label: str
    indicator: str
    unit: str
    period_start: dt.date | None
    period_end: dt.date | None
    frozen: Decimal | None
    today: Decimal | None
    typed: str  # what the applicant typed beside it
    flagged: bool  # the typed value disagreed with the measurement at filing
    why_missing: str = ""

    @property
    def changed(self) -> bool:
        return self.frozen != self.today


def evidence_lines(submission: Submission, content: FiledContent | None = None) -> list[EvidenceLine]:
    """The frozen figures of the latest filing, each with today's measurement of the same period
    (the period is the one of the filing day: a re-measurement, not a newer period)."""
    content = content or filed_content(submission, with_attachments=False)
    filing = content.filing or submission.filings.order_by("-number").first()
    if filing is None:
        return []
    frozen = list(Evidence.objects.filter(submission=submission, filing=filing).order_by("id"))
    filed_on = timezone.localdate(filing.filed_at)
    figures: dict[str, MeasuredFigure] = {
        figure.key: figure
        for figure in evidence_measure(
            submission.enterprise, content.definition, values=content.values, today=filed_on
        )
    }
    lines = []
    for row in frozen:
        now = figures.get(row.key)
        lines.append(
            EvidenceLine(
                key=row.key,
                label=row.label,
                indicator=row.indicator,
                unit=row.unit,
                period_start=row.period_start,
                period_end=row.period_end,
                frozen=row.value,
                today=now.value if now is not None else None,
                typed=row.typed_value,
                flagged=row.flagged,
                why_missing=now.why_missing if now is not None else "",
            )
        )
    return lines


def evidence_for_item(item: ChecklistItem, lines: list[EvidenceLine]) -> list[EvidenceLine]:
    """The lines an item names (by monitoring indicator or by evidence key)."""
    return [line for line in lines if line.indicator in item.evidence or line.key in item.evidence]


@dataclass
class FieldLine:
    label: str
    text: str
    unit: str = ""


@dataclass
class TableLines:
    label: str
    columns: list[str]
    rows: list[tuple[str, list[str]]]


@dataclass
class SectionLines:
    title: str
    by_authority: bool
    items: list[FieldLine | TableLines] = field(default_factory=list)


def _table_lines(table: TableField, value: Any) -> TableLines:
    rows = value if isinstance(value, list) else []
    lines = []
    for index, row in enumerate(rows):
        row = row if isinstance(row, dict) else {}
        label = (
            label_of(table.rows[index].label) if table.rows and index < len(table.rows) else str(index + 1)
        )
        lines.append((label, [value_text(column, row.get(column.key)) for column in table.columns]))
    return TableLines(
        label=label_of(table.label),
        columns=[
            label_of(column.label) + (f"（{column.unit}）" if column.unit else "") for column in table.columns
        ],
        rows=lines,
    )


def filed_sections(content: FiledContent) -> list[SectionLines]:
    """The filed form, section by section, as the forms write the values."""
    sections = []
    for section in content.definition.sections:
        if section.applies_if is not None and not condition_holds(
            section.applies_if, values=content.values, context=content.context
        ):
            continue
        lines = SectionLines(title=label_of(section.title), by_authority=section.filled_by == "authority")
        for item in section.items:
            if item.applies_if is not None and not condition_holds(
                item.applies_if, values=content.values, context=content.context
            ):
                continue
            if isinstance(item, TableField):
                lines.items.append(_table_lines(item, content.values.get(item.key)))
            else:
                assert isinstance(item, FormField)
                text = value_text(item, content.values.get(item.key), content.data.get(item.key))
                extra = content.values.get(f"{item.key}__text") or content.data.get(f"{item.key}__text")
                if extra:
                    text = f"{text}（{extra}）"
                lines.items.append(FieldLine(label=label_of(item.label), text=text, unit=item.unit or ""))
        sections.append(lines)
    return sections
