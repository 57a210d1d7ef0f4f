"""Out-of-reach entries for the document downloads (applications/documents): the outsider's filed
submission's PDF, and the Excel tables of a Shanghai program (the outsider's region), which no
Henan official, enterprise user or expert may download."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from django_scopes import scopes_disabled

from applications.models import Program, Submission, SubmissionState
from applications.services import program_load, submission_start
from tests.applications.document_definitions import shanghai_like_definition
from tests.tenancy_objects import out_of_reach

WALK_PROGRAM_CODE = "walk_pdf9_shanghai"


def _program() -> Program:
    with scopes_disabled():  # test setup
        program = Program.objects.filter(code=WALK_PROGRAM_CODE).first()
        if program is None:
            program, _outcome = program_load(definition=shanghai_like_definition(WALK_PROGRAM_CODE))
    return program


def filed_submission_for(world: Any) -> Submission:
    """A filed submission of the outsider (filed, so the officials in its reach read it too)."""
    user = world.user("outsider_admin")
    with scopes_disabled():  # test setup
        submission = submission_start(program=_program(), enterprise=world.outsider, user=user)
        Submission.objects.filter(pk=submission.pk).update(
            state=SubmissionState.SUBMITTED, submitted_at=timezone.now(), submitted_by=user,
            title=f"巡检申报{submission.pk:06d}号")
    return submission


out_of_reach("applications:submission_pdf")(lambda world: {"submission_id": filed_submission_for(world).pk})
for _name in ("applications:program_summary_table", "applications:program_submission_list"):
    out_of_reach(_name)(lambda world: {"code": _program().code})
