"""What a submission's documents show: the filed content (or a draft's), and values as the forms
write them. Shared by the PDF (pdf.py) and the Excel tables (excel.py)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils import timezone

from applications.definitions import FormField, ProgramDefinition
from applications.models import Attachment, Evidence, Submission, SubmissionFiling
from applications.selectors import submission_context, submission_definition
from applications.values import Context, form_check


def zh_date(value: dt.date | dt.datetime | None) -> str:
    """'2024年5月4日' (a datetime in the site's time zone)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return f"{value.year}年{value.month}月{value.day}日"


def number_text(value: Decimal) -> str:
    """A number as typed on a form: no exponent, no trailing zeros after the point."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _as_date(item: FormField, value: str) -> dt.date | None:
    text = {"date": value, "month": f"{value}-01", "year": f"{value}-01-01"}.get(item.type, value)
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def value_text(item: FormField, value: Any, raw: Any = None) -> str:
    """A cleaned value as the form writes it; what was typed when it did not pass its check."""
    if value is None:
        return "" if raw is None or isinstance(raw, list | dict) else str(raw).strip()
    if isinstance(value, str) and item.type in ("date", "month", "year"):
        value = _as_date(item, value) or value
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, Decimal):
        return number_text(value)
    if isinstance(value, dt.date):
        if item.type == "month":
            return f"{value.year}年{value.month}月"
        if item.type == "year":
            return f"{value.year}年"
        return zh_date(value)
    if item.type in ("choice", "multichoice"):
        labels = {choice.key: choice.label.zh for choice in item.choices or ()}
        picked = value if isinstance(value, list) else [value]
        return "、".join(labels.get(str(key), str(key)) for key in picked)
    return str(value)


@dataclass
class FiledContent:
    """A submission as its documents show it."""

    definition: ProgramDefinition
    data: dict[str, Any]  # as typed
    values: dict[str, Any]  # cleaned, computed fields included
    context: Context
    filing: SubmissionFiling | None  # None for a draft (or a returned one being corrected)
    evidence: list[Evidence]  # the figures frozen with that filing
    attachments: list[Attachment]

    @property
    def is_draft(self) -> bool:
        return self.filing is None


def filed_content(submission: Submission, *, with_attachments: bool = True) -> FiledContent:
    """The last filing of a filed submission (never the edits after it); a draft's current data.
    A returned submission is being corrected: it prints as a draft of the next filing."""
    definition = submission_definition(submission)
    filing = None if submission.is_editable else submission.filings.order_by("-number").first()
    # Conditions are judged as on the day of filing (a `past_only` date stays valid later).
    context = submission_context(submission, today=timezone.localdate(filing.filed_at) if filing else None)
    data = dict(filing.data if filing else submission.data)
    check = form_check(definition, data, context=context)
    evidence = (list(Evidence.objects.filter(submission=submission, filing=filing).order_by("id"))
                if filing else [])
    attachments = (list(Attachment.objects.filter(submission=submission)
                        .order_by("kind", "uploaded_at", "id")) if with_attachments else [])
    return FiledContent(definition=definition, data=data, values=check.values, context=context, filing=filing,
                        evidence=evidence, attachments=attachments)
