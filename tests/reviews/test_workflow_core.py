"""The workflow engine: every step taken by the role that owns it, refused (changing nothing) for
everyone else, with reasons, deadlines and the activity recorded."""

from __future__ import annotations

import datetime as dt

import pytest
from django_scopes import scopes_disabled

from applications.models import Submission, SubmissionState
from applications.services import program_load, submission_save, submission_start
from portal.models import AuditEntry
from reviews.models import Activity
from reviews.services import TransitionRefused, available_transitions, transition_perform
from tests.applications.core_definition import core_definition, core_workflow

TODAY = dt.date(2026, 6, 1)


@pytest.fixture
def submission(world) -> Submission:
    definition = {**core_definition(), "workflow": core_workflow()}
    user = world.user("a_admin")
    with scopes_disabled():
        program, _ = program_load(definition=definition)
        submission = submission_start(program=program, enterprise=world.tenant_a, user=user, today=TODAY)
        submission_save(submission=submission, user=user, changes={
            "founded": "2010-05-01", "summary": "十字以内", "investment": "80", "commitment": "yes",
            "economics": [{"assets": "200", "liabilities": "50"}, {"assets": "300", "liabilities": "60"}]})
        submission.attachment_files.create(kind="licence", file="attachments/x", original_name="licence.pdf",
                                           content_type="application/pdf", size=10, sha256="0" * 64)
    return submission


def _take(submission, user, action, **kwargs):
    with scopes_disabled():
        return transition_perform(submission=submission, action=action, actor=user, today=TODAY, **kwargs)


def _refused(submission, user, action, **kwargs) -> TransitionRefused:
    with scopes_disabled():
        before = (Submission.objects.get(pk=submission.pk).state, Activity.objects.count())
        with pytest.raises(TransitionRefused) as refused:
            transition_perform(submission=submission, action=action, actor=user, today=TODAY, **kwargs)
        assert (Submission.objects.get(pk=submission.pk).state, Activity.objects.count()) == before
    return refused.value


def test_the_whole_path_by_the_roles_that_own_each_step(world, submission):
    applicant = world.user("a_admin")
    city, province = world.user("zhengzhou_reviewer"), world.user("henan_officer")
    assert _refused(submission, city, "submit").forbidden  # officials do not see drafts at all
    _take(submission, applicant, "submit")
    for outsider in ("b_admin", "luoyang_reviewer", "xuhui_reviewer", "expert", "henan_officer"):
        assert _refused(submission, world.user(outsider), "return_for_additions", reason="缺材料",
                        deadline=TODAY + dt.timedelta(days=10)).forbidden
    assert "请填写理由" in _refused(submission, city, "return_for_additions", deadline=TODAY).problems
    with scopes_disabled():
        assert [t.key for t in available_transitions(city, submission, today=TODAY)] == [
            "return_for_additions", "first_review_pass"]
    due = TODAY + dt.timedelta(days=10)
    _take(submission, city, "return_for_additions", reason="请补充审计报告", deadline=due)
    submission.refresh_from_db()
    assert submission.state == SubmissionState.RETURNED and submission.additions_due == due
    _take(submission, applicant, "resubmit")
    _take(submission, city, "first_review_pass")
    assert _refused(submission, city, "decide_pass", reason="好").forbidden
    _take(submission, province, "decide_pass", reason="符合遴选条件")
    with scopes_disabled():
        steps = list(Activity.objects.filter(submission=submission)
                     .values_list("action", "from_state", "to_state"))
        assert steps == [("submit", "draft", "submitted"), ("return_for_additions", "submitted", "returned"),
                         ("resubmit", "returned", "submitted"),
                         ("first_review_pass", "submitted", "first_review_passed"),
                         ("decide_pass", "first_review_passed", "passed")]
        assert submission.filings.count() == 2  # filed, then filed again after the return
        assert AuditEntry.objects.filter(action="transition:decide_pass",
                                         object_id=str(submission.pk)).exists()


def test_a_resubmission_after_the_deadline_is_refused(world, submission):
    _take(submission, world.user("a_admin"), "submit")
    _take(submission, world.user("zhengzhou_reviewer"), "return_for_additions", reason="补充",
          deadline=TODAY + dt.timedelta(days=3))
    with scopes_disabled():
        with pytest.raises(TransitionRefused, match="补正期限已过"):
            transition_perform(submission=submission, action="resubmit", actor=world.user("a_admin"),
                               today=TODAY + dt.timedelta(days=4))
