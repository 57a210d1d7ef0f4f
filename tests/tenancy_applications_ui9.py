"""Out-of-reach entries and write attempts for the applicant's pages (applications/form_urls.py)."""

from __future__ import annotations

from typing import Any

from django_scopes import scopes_disabled

from applications.models import Program, Submission, SubmissionState
from applications.services import program_load, submission_start
from tests.applications.core_definition import core_definition
from tests.tenancy_objects import Attempt, out_of_reach, write_attempts

WALK_PROGRAM = "walk_ui9_shanghai"


def walk_program() -> Program:
    """A program open only to the outsider (a Shanghai data center): no other world enterprise may
    start one, so a start that went through anywhere but at the outsider shows as a missed refusal."""
    data = core_definition(code=WALK_PROGRAM)
    data.update(name="巡检上海数据中心申报项目", region="310000", enterprise_kinds=["data_center"],
                eligibility=[])
    with scopes_disabled():  # test setup
        program, _outcome = program_load(definition=data)
    return program


def submission_for(enterprise: Any, *, filed: bool = False) -> Submission:
    with scopes_disabled():  # test setup
        submission = submission_start(program=walk_program(), enterprise=enterprise, user=None)
        submission.title = f"巡检申报{submission.pk:06d}号"
        submission.save(update_fields=["title"])
        if filed:
            # Filed, so the outsider's district reviewer reads it (officials never read drafts).
            Submission.objects.filter(pk=submission.pk).update(state=SubmissionState.SUBMITTED)
    return submission


out_of_reach("applications:submission_detail")(
    lambda world: {"submission_id": submission_for(world.outsider, filed=True).pk})
out_of_reach("applications:submission_section")(
    lambda world: {"submission_id": submission_for(world.outsider).pk, "section": "center"})
for _name in ("applications:submission_attachments", "applications:submission_submit"):
    out_of_reach(_name)(lambda world: {"submission_id": submission_for(world.outsider).pk})


@write_attempts("applications:submission_new")
def _submission_start(world: Any, own: Any) -> list[Attempt]:
    program = walk_program()
    return [
        Attempt("a submission in the outsider's enterprise", query={"enterprise": world.outsider.pk},
                data={"program": program.code}),
        Attempt("a submission to the program open only to the outsider", data={"program": program.code}),
    ]
