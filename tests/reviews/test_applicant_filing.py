"""The applicant's submit page files through the program's workflow: a return shows its reasons and
deadline above the form, and the resubmission is the workflow's own step."""

from __future__ import annotations

import datetime as dt

from django.urls import reverse
from django.utils import timezone
from django_scopes import scopes_disabled

from applications.models import SubmissionState
from applications.services import program_load, submission_save, submission_start
from reviews.models import Activity
from reviews.services import transition_perform
from tests.applications.core_definition import core_definition, core_workflow
from tests.conftest import login


def test_submit_and_resubmit_go_through_the_workflow(client, world):
    user = world.user("a_admin")
    definition = {**core_definition(code="test_applicant_filing"), "workflow": core_workflow(),
                  "attachments": []}
    with scopes_disabled():
        program, _ = program_load(definition=definition)
        submission = submission_start(program=program, enterprise=world.tenant_a, user=user)
        submission_save(submission=submission, user=user, changes={
            "founded": "2010-05-01", "summary": "十字以内", "investment": "80", "commitment": "yes",
            "economics": [{"assets": "200", "liabilities": "50"}, {"assets": "300", "liabilities": "60"}]})
    login(client, user)
    submit_url = reverse("applications:submission_submit", kwargs={"submission_id": submission.pk})
    assert client.post(submit_url).status_code == 302
    due = timezone.localdate() + dt.timedelta(days=7)
    with scopes_disabled():
        actions = Activity.objects.filter(submission=submission).values_list("action", flat=True)
        assert list(actions) == ["submit"]
        transition_perform(submission=submission, action="return_for_additions",
                           actor=world.user("zhengzhou_reviewer"), reason="请补充近三年审计报告",
                           deadline=due)
    page = client.get(reverse("applications:submission_section",
                              kwargs={"submission_id": submission.pk, "section": "basic"})).content.decode()
    assert "请补充近三年审计报告" in page and 'id="returned-notice"' in page
    assert client.post(submit_url).status_code == 302
    with scopes_disabled():
        submission.refresh_from_db()
        assert submission.state == SubmissionState.SUBMITTED and submission.additions_due is None
        assert list(Activity.objects.filter(submission=submission).values_list("action", flat=True)) == [
            "submit", "return_for_additions", "resubmit"]
        assert submission.filings.count() == 2
