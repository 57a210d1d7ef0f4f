"""Walk entries for notify10's pages (reviews/export_urls.py, reviews/notification_urls.py): the
outsider's filed Shanghai submission, reviewed by an expert of its own (not the walk's `expert`,
who must reach nothing of the outsider), with a submitted sheet; and the results list of that
Shanghai program, which no Henan official may download."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django_scopes import scopes_disabled

from applications.models import Program, Submission, SubmissionState
from applications.services import program_load, submission_start
from portal.models import ReviewOrganization, Role, User
from reviews.models import Assignment, ScoreItem, ScoreSheet
from tests.applications.document_definitions import shanghai_like_definition
from tests.tenancy_objects import no_tenant_writes, out_of_reach

WALK_PROGRAM_CODE = "walk_notify10_shanghai"
CHECKLIST = {"key": "onsite", "title": {"zh": "上海市园区能源管理中心核查表", "en": "On-site check"},
             "items": [{"key": "metering", "label": {"zh": "计量器具配置", "en": "Metering"},
                        "category": {"zh": "基本要求", "en": "Basic"}}]}


def _program() -> Program:
    with scopes_disabled():  # test setup
        program = Program.objects.filter(code=WALK_PROGRAM_CODE).first()
        if program is None:
            definition = {**shanghai_like_definition(WALK_PROGRAM_CODE), "checklists": [CHECKLIST]}
            program, _outcome = program_load(definition=definition)
    return program


def reviewed_submission_for(world: Any) -> tuple[Submission, ScoreSheet]:
    user = world.user("outsider_admin")
    with scopes_disabled():  # test setup
        submission = submission_start(program=_program(), enterprise=world.outsider, user=user)
        Submission.objects.filter(pk=submission.pk).update(
            state=SubmissionState.FIRST_REVIEW_PASSED, submitted_at=timezone.now(), submitted_by=user,
            title=f"核查申报{submission.pk:06d}号")
        organization = ReviewOrganization.objects.order_by("id").first() or ReviewOrganization.objects.create(
            name="上海第三方核查机构")
        expert = User.objects.create(username=f"sh_expert_{submission.pk}", role=Role.EXPERT,
                                     review_organization=organization)
        assignment = Assignment.objects.create(submission=submission, expert=expert, is_lead=True)
        sheet = ScoreSheet.objects.create(submission=submission, assignment=assignment, checklist="onsite",
                                          submitted_at=timezone.now(), conclusion_note="核查通过")
        ScoreItem.objects.create(sheet=sheet, item="metering", verdict="meets")
    return submission, sheet


def _sheet_kwargs(world: Any) -> dict[str, Any]:
    submission, sheet = reviewed_submission_for(world)
    return {"submission_id": submission.pk, "sheet_id": sheet.pk}


def _submission_kwargs(world: Any) -> dict[str, Any]:
    return {"submission_id": reviewed_submission_for(world)[0].pk}


for _name in ("reviews:export_sheet_xlsx", "reviews:export_sheet_pdf"):
    out_of_reach(_name)(_sheet_kwargs)
for _name in ("reviews:export_scores_xlsx", "reviews:export_scores_pdf", "reviews:export_onsite_check_pdf"):
    out_of_reach(_name)(_submission_kwargs)
out_of_reach("reviews:export_results_xlsx")(lambda world: {"code": _program().code})
no_tenant_writes("reviews:notification_preferences",
                 "the user's own mail preference (a row keyed by the user), nothing of any tenant")
