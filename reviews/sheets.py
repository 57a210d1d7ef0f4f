"""An expert's score sheet, filled item by item: judgements, the conclusion note, photo evidence,
and submitting the sheet once every item is judged.

Only the sheet's own expert writes it, while the submission is accepted or under expert review and
the sheet is not yet submitted (`sheet_refusal`). A judgement is checked against its checklist
item: a verdict item takes meets / does not meet (and not applicable where the item allows it); a
points item takes points from 0 to its maximum (or not applicable). A bad item is reported by its
key and never keeps the good ones from being saved. A submitted sheet is kept as its expert filled
it (reviews.selectors.submission_scores combines the submitted ones).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from applications.attachments import IMAGE_TYPES, content_type_of, display_name
from applications.definitions import Checklist, ChecklistItem
from applications.models import SubmissionState, private_storage
from portal.models import User
from reviews.models import Assignment, ScoreItem, ScoreItemPhoto, ScoreSheet
from reviews.scoring import FAILS, MEETS, NOT_APPLICABLE, SheetResult, sheet_result
from reviews.selectors import checklists_for, sheet_judgements

# The states in which experts work on their sheets (an on-site check may start once accepted).
SHEET_STATES = frozenset({SubmissionState.ACCEPTED, SubmissionState.UNDER_EXPERT_REVIEW})
PHOTO_MAX_BYTES = 20 * 1024 * 1024
PHOTO_PIXELS_MAX = 80_000_000


class SheetRefused(Exception):
    """The sheet may not be written; `problems` say why (nothing was changed)."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass
class SheetSaved:
    """What `sheet_save` did: items saved, and the bad ones by item key with what is wrong."""

    saved: list[str]
    errors: dict[str, str]


def checklist_of(sheet: ScoreSheet) -> Checklist:
    """The checklist the sheet judges (one of those that apply to its submission)."""
    found = next(
        (checklist for checklist in checklists_for(sheet.submission) if checklist.key == sheet.checklist),
        None,
    )
    if found is None:
        raise SheetRefused([_("该申报没有核查表“%(key)s”") % {"key": sheet.checklist}])
    return found


def sheet_for(assignment: Assignment, checklist_key: str) -> ScoreSheet:
    """The expert's sheet for one checklist of the assigned submission, made when first needed."""
    if assignment.withdrawn_at is not None:
        raise SheetRefused([_("该专家分配已撤回")])
    if assignment.submission.state not in SHEET_STATES:
        raise SheetRefused([_("申报当前状态（%(state)s）下不能填写评审表") % {
            "state": assignment.submission.get_state_display()}])
    if not any(checklist.key == checklist_key for checklist in checklists_for(assignment.submission)):
        raise SheetRefused([_("该申报没有核查表“%(key)s”") % {"key": checklist_key}])
    sheet, _created = ScoreSheet.objects.get_or_create(
        assignment=assignment, checklist=checklist_key, defaults={"submission": assignment.submission}
    )
    return sheet


def sheet_refusal(sheet: ScoreSheet, actor: object) -> list[str]:
    """Why `actor` may not write the sheet now (empty when they may)."""
    assignment = sheet.assignment
    if not isinstance(actor, User) or assignment.expert_id != actor.pk:
        return [_("只有该评审表的专家本人可以填写")]
    if assignment.withdrawn_at is not None:
        return [_("该专家分配已撤回")]
    if sheet.submitted_at is not None:
        return [
            _("评审表已于 %(when)s 提交，不能再修改")
            % {"when": f"{timezone.localtime(sheet.submitted_at):%Y年%-m月%-d日 %H:%M}"}
        ]
    if sheet.submission.state not in SHEET_STATES:
        return [
            _("申报当前状态（%(state)s）下不能填写评审表") % {"state": sheet.submission.get_state_display()}
        ]
    return []


def _points(raw: Any) -> Decimal | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ValueError(_("得分“%(raw)s”不是数字") % {"raw": raw}) from None
    if not value.is_finite():
        raise ValueError(_("得分“%(raw)s”不是数字") % {"raw": raw})
    return value


def judgement_clean(item: ChecklistItem, judgement: Mapping[str, Any]) -> tuple[str, Decimal | None, str]:
    """(verdict, points, note) for one item, or ValueError saying what is wrong."""
    verdict = str(judgement.get("verdict") or "").strip()
    note = str(judgement.get("note") or "").strip()
    points = _points(judgement.get("points"))
    if verdict == NOT_APPLICABLE:
        if not item.allow_na:
            raise ValueError(_("该项不允许选择“不适用”"))
        return NOT_APPLICABLE, None, note
    if item.mode == "points":
        if verdict:
            raise ValueError(_("计分项请填写得分（或选择“不适用”）"))
        assert item.max_points is not None
        if points is not None and not Decimal(0) <= points <= item.max_points:
            raise ValueError(
                _("得分须在 0 至 %(most)s 分之间，填写的是 %(points)s 分")
                % {"most": f"{item.max_points.normalize():f}", "points": f"{points.normalize():f}"}
            )
        if points is not None and points.as_tuple().exponent < -2:  # type: ignore[operator]
            raise ValueError(_("得分最多保留两位小数"))
        return "", points, note
    if points is not None:
        raise ValueError(_("该项只需判定是否符合，不填得分"))
    if verdict not in ("", MEETS, FAILS):
        raise ValueError(_("结论“%(verdict)s”无效，请选择符合、不符合或不适用") % {"verdict": verdict})
    return verdict, None, note


def sheet_save(
    sheet: ScoreSheet,
    judgements: Mapping[str, Mapping[str, Any]],
    *,
    actor: object,
    conclusion_note: str | None = None,
) -> SheetSaved:
    """Save the expert's judgements ({item key: {verdict, points, note}}); each bad item is left as
    it was and reported by key, the good ones are saved. Refused whole (SheetRefused) when the
    actor may not write the sheet now."""
    with transaction.atomic():
        locked = (
            ScoreSheet.objects.select_for_update().select_related("assignment", "submission").get(pk=sheet.pk)
        )
        problems = sheet_refusal(locked, actor)
        if problems:
            raise SheetRefused(problems)
        items = {item.key: item for item in checklist_of(locked).items}
        existing = {row.item: row for row in locked.items.all()}
        saved, errors = [], {}
        for key, judgement in judgements.items():
            item = items.get(key)
            if item is None:
                errors[key] = _("核查表中没有此项")
                continue
            try:
                verdict, points, note = judgement_clean(item, judgement)
            except ValueError as exc:
                errors[key] = str(exc)
                continue
            row = existing.get(key)
            if row is None and not (verdict or points is not None or note):
                continue  # an item left blank stays without a row
            row = row or ScoreItem(sheet=locked, item=key)
            if row.pk is not None and (row.verdict, row.points, row.note) == (verdict, points, note):
                continue
            row.verdict, row.points, row.note = verdict, points, note
            row.save()
            saved.append(key)
        fields = ["updated_at"]
        if conclusion_note is not None:
            locked.conclusion_note = conclusion_note.strip()
            fields.append("conclusion_note")
        locked.updated_at = timezone.now()
        locked.save(update_fields=fields)
    sheet.refresh_from_db()
    return SheetSaved(saved=saved, errors=errors)


def sheet_status(sheet: ScoreSheet) -> SheetResult:
    return sheet_result(checklist_of(sheet), sheet_judgements(sheet))


def sheet_submit(sheet: ScoreSheet, *, actor: object) -> ScoreSheet:
    """Submit the sheet: refused while any applicable item is unjudged. Kept unchanged afterwards."""
    with transaction.atomic():
        locked = (
            ScoreSheet.objects.select_for_update().select_related("assignment", "submission").get(pk=sheet.pk)
        )
        problems = sheet_refusal(locked, actor)
        if problems:
            raise SheetRefused(problems)
        checklist = checklist_of(locked)
        result = sheet_result(checklist, sheet_judgements(locked))
        if not result.complete:
            labels = {item.key: item.label.zh for item in checklist.items}
            raise SheetRefused(
                [
                    _("还有 %(count)s 项未评判：%(items)s")
                    % {
                        "count": len(result.unjudged),
                        "items": "、".join(labels[key] for key in result.unjudged),
                    }
                ]
            )
        locked.submitted_at = timezone.now()
        locked.save(update_fields=["submitted_at"])
    sheet.refresh_from_db()
    return sheet


def _image_check(upload: UploadedFile, name: str) -> None:
    try:
        upload.seek(0)
        with Image.open(upload) as probe:
            width, height = probe.size
            if width * height > PHOTO_PIXELS_MAX:
                raise ValidationError(
                    _("照片“%(name)s”像素过多（%(width)s × %(height)s），请缩小后上传")
                    % {"name": name, "width": width, "height": height}
                )
            probe.verify()
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise ValidationError(
            _("照片“%(name)s”已损坏或不完整，无法打开（%(error)s）")
            % {"name": name, "error": type(exc).__name__}
        ) from exc
    finally:
        upload.seek(0)


def photo_add(sheet: ScoreSheet, item_key: str, upload: UploadedFile, *, actor: object) -> ScoreItemPhoto:
    """Attach a photo (JPEG or PNG, by its content) to one item of the sheet."""
    name = display_name(upload.name)
    with transaction.atomic():
        locked = (
            ScoreSheet.objects.select_for_update().select_related("assignment", "submission").get(pk=sheet.pk)
        )
        problems = sheet_refusal(locked, actor)
        if problems:
            raise SheetRefused(problems)
        if item_key not in {item.key for item in checklist_of(locked).items}:
            raise SheetRefused([_("核查表中没有此项：%(key)s") % {"key": item_key}])
        if not upload.size:
            raise ValidationError(_("“%(name)s”是空文件") % {"name": name})
        if upload.size > PHOTO_MAX_BYTES:
            raise ValidationError(
                _("照片“%(name)s”超过 %(most)s MB 的上限")
                % {"name": name, "most": PHOTO_MAX_BYTES // (1024 * 1024)}
            )
        content_type, description = content_type_of(upload)
        if content_type not in IMAGE_TYPES:
            raise ValidationError(
                _("“%(name)s”的内容是 %(what)s（%(mime)s），照片只接受 JPG 或 PNG")
                % {"name": name, "what": description.split(",")[0], "mime": content_type}
            )
        _image_check(upload, name)
        row, _created = ScoreItem.objects.get_or_create(sheet=locked, item=item_key)
        photo = ScoreItemPhoto(item=row, original_name=name, content_type=content_type)
        photo.file.save(name, upload, save=False)
        try:
            photo.save()
        except BaseException:
            private_storage().delete(photo.file.name or "")
            raise
    return photo
