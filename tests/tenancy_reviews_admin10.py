"""Out-of-reach entries for the reviews admin (reviews/admin.py): the outsider's submission
(a Shanghai program with a district first review and an on-site checklist), under expert review
by an expert of the walk's own (not the world's `expert`, whose reach must stay empty), with a
started sheet and a photo. Its change/history pages come from OUT_OF_REACH_MODELS; the pages
under it (a transition, the checklist, a photo) from OUT_OF_REACH.

The submission waits for the experts, so no role of the walk (the Xuhui reviewer reads it) has a
transition to take on it: the walk's footprint stays as built."""

from __future__ import annotations

import io
from typing import Any

from django.core.files.base import ContentFile
from django.utils import timezone
from django_scopes import scopes_disabled
from PIL import Image

from applications.models import Program, Submission, SubmissionState
from applications.services import program_load, submission_start
from portal.models import Role, User
from reviews.models import Assignment, ScoreItem, ScoreItemPhoto, ScoreSheet
from tests.factories import small_definition
from tests.tenancy_objects import out_of_reach, out_of_reach_model

WALK_PROGRAM_CODE = "walk_admin10_shanghai"


def _label(zh: str, en: str) -> dict[str, str]:
    return {"zh": zh, "en": en}


def walk_definition() -> dict[str, Any]:
    return small_definition(
        WALK_PROGRAM_CODE,
        "310000",
        workflow={
            "first_review_level": "district",
            "states": [
                {"key": key, "label": _label(key, key)}
                for key in ("draft", "submitted", "under_expert_review", "passed")
            ],
            "transitions": [
                {
                    "key": "submit",
                    "label": _label("提交", "Submit"),
                    "sources": ["draft"],
                    "target": "submitted",
                    "actors": ["applicant"],
                },
                {
                    "key": "send_to_experts",
                    "label": _label("送专家评审", "To experts"),
                    "sources": ["submitted"],
                    "target": "under_expert_review",
                    "actors": ["first_reviewer"],
                },
                {
                    "key": "conclude",
                    "label": _label("专家组结论", "Conclude"),
                    "sources": ["under_expert_review"],
                    "target": "passed",
                    "actors": ["lead_expert"],
                    "needs_reason": True,
                },
            ],
        },
        checklists=[
            {
                "key": "walk_onsite",
                "title": _label("巡检现场核查表", "Walk checklist"),
                "items": [
                    {"key": "walk_meters", "label": _label("计量器具", "Meters"), "evidence": ["total_tce"]}
                ],
            }
        ],
    )


def _program() -> Program:
    with scopes_disabled():  # test setup
        program = Program.objects.filter(code=WALK_PROGRAM_CODE).first()
        if program is None:
            program, _outcome = program_load(definition=walk_definition())
    return program


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (30, 30, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def outsider_photo(world: Any) -> ScoreItemPhoto:
    """A photo on the walk expert's sheet of the outsider's submission under expert review."""
    user = world.user("outsider_admin")
    with scopes_disabled():  # test setup
        submission = submission_start(program=_program(), enterprise=world.outsider, user=user)
        Submission.objects.filter(pk=submission.pk).update(
            state=SubmissionState.UNDER_EXPERT_REVIEW,
            submitted_at=timezone.now(),
            submitted_by=user,
            title=f"巡检评审申报{submission.pk:06d}号",
        )
        expert, _created = User.objects.get_or_create(
            username="walk_admin10_onsite_expert",
            defaults={
                "role": Role.EXPERT,
                "review_organization": world.user("expert").review_organization,
                "is_staff": True,
            },
        )
        assignment = Assignment.objects.create(submission=submission, expert=expert, is_lead=True)
        sheet = ScoreSheet.objects.create(
            submission=submission, assignment=assignment, checklist="walk_onsite"
        )
        item = ScoreItem.objects.create(
            sheet=sheet, item="walk_meters", verdict="meets", note="巡检核查说明文字"
        )
        photo = ScoreItemPhoto(item=item, original_name="巡检核查照片计量点.png", content_type="image/png")
        photo.file.save(photo.original_name, ContentFile(_png()), save=False)
        photo.save()
    return photo


out_of_reach_model("applications.Submission")(lambda world: outsider_photo(world).item.sheet.submission)
out_of_reach("admin:applications_submission_transition")(
    lambda world: {"object_id": outsider_photo(world).item.sheet.submission_id, "action": "conclude"}
)
out_of_reach("admin:applications_submission_checklist")(
    lambda world: {"object_id": outsider_photo(world).item.sheet.submission_id, "key": "walk_onsite"}
)


@out_of_reach("admin:applications_submission_photo")
def _photo_kwargs(world: Any) -> dict[str, Any]:
    photo = outsider_photo(world)
    return {"object_id": photo.item.sheet.submission_id, "photo_id": photo.pk}
