"""What changed between two filings of a submission: fields, table rows and cells, attachments.

Reviewers who returned an application see exactly what the applicant changed since the version
they returned (`resubmission_diff`): the filing the return acted on (the latest one filed before
the return) against the latest filing. Values are compared as filed (the cleaned values of each
filing) and shown as the forms write them.

Attachments are matched by content (sha256): a file present in both is unchanged, even renamed.
Of the rest, a removed and an added file of the same kind count as that kind's file replaced
(paired by name first, then in order); what is left over was added or removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

from applications.definitions import FormField, ProgramDefinition, TableField
from applications.documents.content import value_text
from applications.models import Submission, SubmissionFiling, SubmissionState
from applications.selectors import submission_definition
from applications.values import label_of
from reviews.models import Activity

NUMBER_TYPES = frozenset({"integer", "decimal", "money", "percent", "computed"})


@dataclass(frozen=True)
class FieldChange:
    section: str
    key: str
    label: str
    before: str
    after: str


@dataclass(frozen=True)
class CellChange:
    column: str
    before: str
    after: str


@dataclass(frozen=True)
class RowChange:
    label: str
    change: str  # "added" | "removed" | "changed"
    cells: list[CellChange]


@dataclass(frozen=True)
class TableChange:
    section: str
    key: str
    label: str
    rows: list[RowChange]


@dataclass(frozen=True)
class AttachmentChange:
    kind: str  # the kind's label
    change: str  # "added" | "removed" | "replaced"
    before: str  # file name ("" when added)
    after: str  # file name ("" when removed)


@dataclass
class FilingDiff:
    old_number: int
    new_number: int
    fields: list[FieldChange] = field(default_factory=list)
    tables: list[TableChange] = field(default_factory=list)
    attachments: list[AttachmentChange] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.fields or self.tables or self.attachments)


def _same(item: FormField, before: Any, after: Any) -> bool:
    if before in (None, "", []) and after in (None, "", []):
        return True
    if item.type in NUMBER_TYPES and before is not None and after is not None:
        try:
            return Decimal(str(before)) == Decimal(str(after))
        except InvalidOperation:
            pass
    if isinstance(before, list) and isinstance(after, list):
        return sorted(map(str, before)) == sorted(map(str, after))
    return bool(before == after)


def _text(item: FormField, value: Any, extra: Any = None) -> str:
    text = value_text(item, value)
    if extra:
        text = f"{text}（{extra}）" if text else str(extra)
    return text


def _table_rows(value: Any) -> list[dict[str, Any]]:
    return [row if isinstance(row, dict) else {} for row in value] if isinstance(value, list) else []


def _table_change(section: str, table: TableField, before: Any, after: Any) -> TableChange | None:
    old_rows, new_rows = _table_rows(before), _table_rows(after)
    rows = []
    for index in range(max(len(old_rows), len(new_rows))):
        if table.rows and index < len(table.rows):
            label = label_of(table.rows[index].label)
        else:
            label = _("第 %(n)s 行") % {"n": index + 1}
        old = old_rows[index] if index < len(old_rows) else None
        new = new_rows[index] if index < len(new_rows) else None
        cells = []
        for column in table.columns:
            was = (old or {}).get(column.key)
            now = (new or {}).get(column.key)
            if old is None or new is None or not _same(column, was, now):
                cells.append(
                    CellChange(
                        column=label_of(column.label),
                        before=_text(column, was) if old else "",
                        after=_text(column, now) if new else "",
                    )
                )
        if old is None:
            rows.append(RowChange(label=label, change="added", cells=cells))
        elif new is None:
            rows.append(RowChange(label=label, change="removed", cells=cells))
        elif cells:
            rows.append(RowChange(label=label, change="changed", cells=cells))
    if not rows:
        return None
    return TableChange(section=section, key=table.key, label=label_of(table.label), rows=rows)


def _attachment_changes(
    definition: ProgramDefinition, old: list[dict[str, Any]], new: list[dict[str, Any]]
) -> list[AttachmentChange]:
    def label(kind: str) -> str:
        found = definition.attachment_kind(kind)
        return label_of(found.label) if found is not None else kind

    old_left = [
        entry for entry in old if not any(other.get("sha256") == entry.get("sha256") for other in new)
    ]
    new_left = [
        entry for entry in new if not any(other.get("sha256") == entry.get("sha256") for other in old)
    ]
    changes: list[AttachmentChange] = []
    kinds = list(dict.fromkeys([entry.get("kind", "") for entry in old_left + new_left]))
    for kind in kinds:
        removed = [entry for entry in old_left if entry.get("kind") == kind]
        added = [entry for entry in new_left if entry.get("kind") == kind]
        pairs = []
        for entry in list(removed):  # same name, new content first
            twin = next((other for other in added if other.get("name") == entry.get("name")), None)
            if twin is not None:
                pairs.append((entry, twin))
                removed.remove(entry)
                added.remove(twin)
        while removed and added:
            pairs.append((removed.pop(0), added.pop(0)))
        changes += [
            AttachmentChange(
                kind=label(kind),
                change="replaced",
                before=str(was.get("name", "")),
                after=str(now.get("name", "")),
            )
            for was, now in pairs
        ]
        changes += [
            AttachmentChange(kind=label(kind), change="removed", before=str(entry.get("name", "")), after="")
            for entry in removed
        ]
        changes += [
            AttachmentChange(kind=label(kind), change="added", before="", after=str(entry.get("name", "")))
            for entry in added
        ]
    return changes


def filing_diff(old: SubmissionFiling, new: SubmissionFiling, definition: ProgramDefinition) -> FilingDiff:
    """Fields, tables and attachments that differ from `old` to `new`, in the form's order."""
    diff = FilingDiff(old_number=old.number, new_number=new.number)
    before, after = old.values or {}, new.values or {}
    for section in definition.sections:
        for item in section.items:
            if isinstance(item, TableField):
                change = _table_change(
                    label_of(section.title), item, before.get(item.key), after.get(item.key)
                )
                if change is not None:
                    diff.tables.append(change)
                continue
            text_key = f"{item.key}__text"
            was, now = before.get(item.key), after.get(item.key)
            was_text, now_text = before.get(text_key), after.get(text_key)
            if _same(item, was, now) and (was_text or "") == (now_text or ""):
                continue
            diff.fields.append(
                FieldChange(
                    section=label_of(section.title),
                    key=item.key,
                    label=label_of(item.label),
                    before=_text(item, was, was_text),
                    after=_text(item, now, now_text),
                )
            )
    diff.attachments = _attachment_changes(
        definition, list(old.attachments or []), list(new.attachments or [])
    )
    return diff


@dataclass(frozen=True)
class Resubmission:
    returned: Activity  # the return the applicant answered
    old: SubmissionFiling  # the filing that return acted on
    new: SubmissionFiling  # the latest filing
    diff: FilingDiff


def resubmission_diff(submission: Submission) -> Resubmission | None:
    """What changed since the latest return, once the applicant has filed again (else None)."""
    returned = (
        Activity.objects.filter(submission=submission, to_state=SubmissionState.RETURNED)
        .order_by("-created_at", "-id")
        .first()
    )
    if returned is None:
        return None
    filings = SubmissionFiling.objects.filter(submission=submission)
    old = filings.filter(filed_at__lte=returned.created_at).order_by("-number").first()
    new = filings.order_by("-number").first()
    if old is None or new is None or new.number <= old.number:
        return None
    return Resubmission(
        returned=returned, old=old, new=new, diff=filing_diff(old, new, submission_definition(submission))
    )
